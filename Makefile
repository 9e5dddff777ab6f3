# torg — the two commands a newcomer needs: `make run` and `make test`.
PORT ?= 8000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
ASSETS_STAMP := src/torg/web/static/vendor/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-unit test-pg test-browser bench setup assets db demo worker lint messages clean

run: setup db ## set up, load the demo company and start the web server and the background worker
	@PORT=$(PORT) bash scripts/run.sh

setup: $(STAMP) $(ASSETS_STAMP)

$(STAMP): requirements.txt
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

$(ASSETS_STAMP): package.json package-lock.json scripts/copy_assets.py
	npm ci --no-audit --no-fund --silent
	$(PY) scripts/copy_assets.py
	@touch $(ASSETS_STAMP)

assets: $(ASSETS_STAMP)

messages: $(STAMP)
	cd src/torg && ../../$(PY) ../../manage.py compilemessages -l ru -l en >/dev/null

db: setup messages
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo --if-empty

demo: setup messages ## rebuild the demo database from scratch
	rm -f var/torg.sqlite3 var/torg.sqlite3-wal var/torg.sqlite3-shm
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo

test: setup messages ## the whole suite on SQLite, browser tests included
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not browser and not postgres"
	$(PY) -m pytest -q -m browser

test-pg: setup messages ## the suite on PostgreSQL (TORG_TEST_DATABASE_URL, default the local server)
	TORG_TEST_DATABASE_URL=$${TORG_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/torg} \
		$(PY) -m pytest -q -m "not browser"

test-browser: setup messages
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q -m browser

bench: setup messages ## benchmarks; figures into bench/results/ and a table on the screen
	$(PY) bench/foundation.py

lint: setup
	$(VENV)/bin/ruff check src bench scripts

clean:
	rm -rf var node_modules src/torg/web/static/vendor
