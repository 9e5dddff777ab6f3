# torg — the two commands a newcomer needs: `make run` and `make test`.
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
ASSETS_STAMP := src/torg/web/static/vendor/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/torg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-unit test-pg test-browser bench setup assets db demo worker lint messages clean help

run: setup db ## set up, load the demo company and start the web server and the background worker
	@PORT=$(PORT) bash scripts/run.sh

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed -E 's/:.*## /\t/'

setup: $(STAMP) $(ASSETS_STAMP) ## the virtualenv with the requirements, and the front-end assets

$(STAMP): requirements.txt
	@PYTHON=$(PYTHON) bash scripts/ensure_system.sh python
	@test -x $(PIP) || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

$(ASSETS_STAMP): package.json package-lock.json scripts/copy_assets.py | $(STAMP)
	@bash scripts/ensure_system.sh npm
	npm ci --no-audit --no-fund --silent
	$(PY) scripts/copy_assets.py
	@touch $(ASSETS_STAMP)

assets: $(ASSETS_STAMP)

messages: $(STAMP) ## compile the translations (GNU msgfmt when present, pure Python otherwise)
	@$(PY) scripts/compile_messages.py

db: setup messages ## migrate the SQLite database in var/ and load the demo company if it is empty
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo --if-empty

demo: setup messages ## rebuild the demo database from scratch
	rm -f var/torg.sqlite3 var/torg.sqlite3-wal var/torg.sqlite3-shm
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo

worker: setup messages ## only the background worker (e.g. a second one)
	$(PY) manage.py run_worker

test: setup messages ## the whole suite on SQLite, then the browser tests (Debian's Chromium)
	@bash scripts/ensure_chromium.sh
	@bash scripts/pytest_step.sh "suite on SQLite" -q -n 2 --dist loadfile -m "not browser and not postgres"
	@bash scripts/pytest_step.sh "browser tests" -q -m browser

test-unit: setup messages ## the suite on SQLite without the browser tests
	@bash scripts/pytest_step.sh "suite on SQLite" -q -n 2 --dist loadfile -m "not browser and not postgres"

test-pg: setup messages ## the suite on PostgreSQL (TORG_TEST_DATABASE_URL, default the local server)
	@url="$${TORG_TEST_DATABASE_URL:-$(PG_TEST_URL)}"; \
	$(PY) -c "import psycopg, sys; psycopg.connect(sys.argv[1].rsplit('/', 1)[0] + '/postgres').close()" "$$url" \
		|| { echo "PostgreSQL is not reachable at $$url: start it or set TORG_TEST_DATABASE_URL." >&2; exit 1; }; \
	TORG_TEST_DATABASE_URL="$$url" bash scripts/pytest_step.sh "suite on PostgreSQL" -q -m "not browser"

test-browser: setup messages
	@bash scripts/ensure_chromium.sh
	@bash scripts/pytest_step.sh "browser tests" -q -m browser

bench: setup messages ## benchmarks; figures into bench/results/ and a table on the screen
	$(PY) bench/foundation.py
	$(PY) bench/order_to_cash.py --profile
	$(PY) bench/fiscal.py
	$(PY) bench/delivery.py

lint: setup
	$(VENV)/bin/ruff check src bench scripts

clean:
	rm -rf var node_modules src/torg/web/static/vendor
