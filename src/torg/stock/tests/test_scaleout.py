"""Scale-out: two web server processes on one PostgreSQL database, API clients posting transfers through both.

For 30 s, 8 client threads post one-line transfers in random directions between three warehouses
that hold little stock, alternating between the two servers. Every answer must be either
201 (created and posted) or 409 with code "shortage" (a clean refusal); afterwards every
register's totals equal its movements (`manage.py check_registers`), no stock is negative, and
the quantity of each item across the warehouses is what it was.

The test uses its own database (`<configured name>_scaleout`, e.g. `torg_scaleout`), created, migrated
and dropped here, so two runs against differently named databases do not clash; it
talks to the servers over loopback only. Run by `make test-pg`.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[4]
DURATION_S = 30
CLIENTS = 8

SETUP_SCRIPT = r"""
import datetime as dt, json
from decimal import Decimal
from django.contrib.auth.models import Group, User
from django.utils import timezone
from torg.catalogs.models import Item, Organization, Partner, Unit, Warehouse
from torg.core.models import ApiToken
from torg.core.permissions import Role
from torg.stock import services
from torg.stock.models import Purchase, PurchaseLine

unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
org = Organization.objects.create(name="ООО «Ромашка»", prefix="РМ", inn="7707083893", kpp="773601001")
supplier = Partner.objects.create(name="Supplier", is_client=False, is_supplier=True)
warehouses = [Warehouse.objects.create(name=name) for name in ("Central", "North", "South")]
items = [Item.objects.create(name=f"Goods {n}", unit=unit) for n in range(4)]
when = timezone.now() - dt.timedelta(days=1)
for w in warehouses:
    doc = Purchase(organization=org, supplier=supplier, warehouse=w, date=when)
    services.save_stock_document(doc, [PurchaseLine(item=i, quantity=Decimal(3), price=Decimal(10),
                                                    vat_rate=i.vat_rate) for i in items])
    services.post(doc)
user = User.objects.create_user("loadtest", password="loadtest-pass")
user.groups.add(Group.objects.get_or_create(name=Role.STOREKEEPER)[0])
token, key = ApiToken.issue(user, "scale-out test")
print("SETUP " + json.dumps({"organization": org.pk, "warehouses": [w.pk for w in warehouses],
                             "items": [i.pk for i in items], "token": key}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_url() -> str:
    s = connection.settings_dict
    host, port, user = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432, s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url() + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _quantities(url: str) -> dict[int, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT item_id, SUM(quantity) FROM stock_reg_stock_total GROUP BY item_id").fetchall()
    return dict(rows)


def _wait_until_serving(base: str, process: subprocess.Popen[bytes]) -> None:
    import requests

    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server at {base} exited with {process.returncode}")
        try:
            # The first request of a fresh worker loads every area and builds the API schema: on a busy 2-core
            # machine that can take more than a few seconds, which is starting up, not failing.
            requests.get(f"{base}/api/v1/openapi.json", timeout=30)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.3)
    raise AssertionError(f"the server at {base} did not start within 60 s")


def test_two_servers_one_database_transfers_for_30_seconds(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set TORG_TEST_DATABASE_URL (make test-pg)")
    import requests

    db_name = f"{connection.settings_dict['NAME']}_scaleout"
    db_url = f"{_admin_url()}/{db_name}"
    env = {**os.environ, "DATABASE_URL": db_url, "TORG_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "0",
           "PYTHONPATH": str(ROOT / "src"), "TORG_LOG_LEVEL": "WARNING"}
    env.pop("TORG_TEST_DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    _admin(f"DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)")
    _admin(f"CREATE DATABASE \"{db_name}\"")
    servers: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300)
        setup = subprocess.run([*manage, "shell", "-c", SETUP_SCRIPT], env=env, cwd=ROOT, check=True, timeout=120,
                               capture_output=True, text=True)
        data = json.loads(next(ln for ln in setup.stdout.splitlines() if ln.startswith("SETUP "))[6:])
        before = _quantities(db_url)
        assert sorted(before.values()) == [9] * 4

        # Given two server processes (one gunicorn worker each) on the same database:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        bases = []
        for _ in range(2):
            port = _free_port()
            servers.append(subprocess.Popen(
                [gunicorn, "torg.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
                env=env, cwd=ROOT, start_new_session=True))
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, servers, strict=True):
            _wait_until_serving(base, process)

        # When 8 clients post transfers through both servers at once for 30 s:
        outcomes: Counter[str] = Counter()
        per_server: Counter[str] = Counter()
        unexpected: list[str] = []
        lock = threading.Lock()
        stop_at = time.time() + DURATION_S

        def client(n: int) -> None:
            rng = random.Random(n)
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {data['token']}"
            k = 0
            while time.time() < stop_at:
                source, target = rng.sample(data["warehouses"], 2)
                body = {"organization": data["organization"], "warehouse_from": source, "warehouse_to": target,
                        "lines": [{"item": rng.choice(data["items"]), "quantity": str(rng.randint(1, 2))}],
                        "post": True}
                base = bases[(n + k) % 2]
                k += 1
                try:
                    response = session.post(f"{base}/api/v1/stock/transfers", json=body, timeout=60)
                except requests.RequestException as exc:
                    with lock:
                        unexpected.append(f"{base}: {exc!r}")
                    continue
                with lock:
                    per_server[base] += 1
                    if response.status_code == 201 and response.json().get("posted") is True:
                        outcomes["posted"] += 1
                    elif response.status_code == 409 and response.json().get("code") == "shortage":
                        outcomes["shortage"] += 1
                    else:
                        unexpected.append(f"{base}: {response.status_code} {response.text[:500]}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=DURATION_S + 120)
        assert not any(t.is_alive() for t in threads), "a client hung"

        print(f"scale-out: {dict(outcomes)} by server {dict(per_server)}")
        # Then only clean answers came back, from both servers, and both kinds happened:
        assert unexpected == []
        assert outcomes["posted"] > 0 and outcomes["shortage"] > 0, outcomes
        assert all(per_server[b] > 0 for b in bases), per_server
        # ... the registers are exact, nothing is negative, and no goods appeared or vanished.
        check = subprocess.run([*manage, "check_registers"], env=env, cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        assert _quantities(db_url) == before
        import psycopg

        with psycopg.connect(db_url) as conn:
            negative = conn.execute("SELECT count(*) FROM stock_reg_stock_total WHERE quantity < 0").fetchone()[0]
            posted = conn.execute("SELECT count(*) FROM stock_transfer WHERE posted").fetchone()[0]
            unposted = conn.execute("SELECT count(*) FROM stock_transfer WHERE NOT posted").fetchone()[0]
        assert negative == 0
        assert (posted, unposted) == (outcomes["posted"], 0)  # a refused transfer is not created at all
    finally:
        for process in servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        _admin(f"DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)")
