"""The courier benchmark (`make bench`): confirmations at the door through the REST API of a real server.

Prints a table with the machine's description and writes bench/results/delivery.json.

    .venv/bin/python bench/delivery.py                   # 50 couriers × 4 stops, gunicorn, a worker per core
    .venv/bin/python bench/delivery.py --quick           # 10 couriers × 2 stops
    .venv/bin/python bench/delivery.py --database torg_bench_delivery_2 --workers 2

Needs PostgreSQL (TORG_BENCH_PG_URL, default the local server): the script creates the database `--database`
(default `torg_bench_delivery`), migrates it, and drops it at the end.

What is prepared (through the services, as the office would): one organization with a cash register on the built-in
emulator, stock, a trade agreement "100 % credit in 7 days"; per courier (a user in the courier role with their own
API token, and a van) a trip on route with N stops, each stop a client of its own with a delivery address and one
shipment of an order of 3 lines (about 700.00) prepaid in part (150.00 in cash at the office). So one confirmation
is what a courier's phone makes of a paid delivery: the shipment handed over, the rest paid in cash registered on the
courier's cash desk and allocated to the order, and one receipt (handover + payment) queued for the office register.

What is measured:
  (a) queries: one confirmation and one stop read through the Django test client in this process, with
      CaptureQueriesContext: how many statements, of which kind, on which tables, and which statements repeat;
  (b) concurrency levels: 1, 2, 4 and 8 clients at once share the trips of 8 couriers (32 stops with 4 per trip),
      each client working through its couriers' stops in route order — GET the stop, then POST its confirmation
      with a fresh Idempotency-Key and the cash due — without pause (a closed loop); 1 client is a courier alone on
      the server;
  (c) the load: 50 clients (threads, one per courier, each with its own token) start together and each confirms
      its stops the same way; then (c') 50 other couriers, 4 stops each, with a pause of 4 to 8 s before each stop
      (about 8 stops a second offered, well below what this machine serves; a real courier's stops are minutes apart);
      for (b) and (c): latency of the confirmations and of the stop reads (p50 / p95 / max), confirmations per
      second, CPU time of the server's workers per stop (read + confirmation), how busy the machine's cores were,
      the load average before (other work on the machine), and sessions waiting for a lock (sampled);
  (d) retries afterwards: every 5th confirmation sent again with its key (must answer 200, `replay: true`, the same
      result) and every 10th with a new key, as a second phone would (must answer 409 `delivery_stop_closed`);
  (e) checks in the database: every stop done exactly once, door payments = confirmations, each allocated in full to
      its order, one receipt queued per confirmation, and `check_registers` (kept totals = movements);
  (f) the courier's phone pages (/courier/…), fetched by a logged-in courier: bytes of each page's HTML as sent,
      gzip-compressed size for reference, and the stylesheets and scripts it links (once per visit, then cached).

The server is what production runs: gunicorn (sync workers, `--workers`) serving torg.wsgi with DJANGO_DEBUG=0 on
127.0.0.1, on the benchmark's PostgreSQL database. Clients and server share the machine's cores.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import foundation as fb  # noqa: E402 — the shared helpers: machine description, PostgreSQL admin

ROOT = fb.ROOT
SRC = fb.SRC
RESULTS = ROOT / "bench" / "results" / "delivery.json"
PG_BENCH_DB = os.environ.get("TORG_BENCH_DELIVERY_DB", "torg_bench_delivery")
TARGETS = {"confirm_p95_ms": 50, "page_kb": 30}
LEVELS = (1, 2, 4, 8)  # before the load: this many clients at once share the trips of LEVEL_COURIERS couriers
LEVEL_COURIERS = 8
PACED_STOPS, PACED_PAUSE_S = 4, (4.0, 8.0)  # the paced run: every courier 4 stops, 4 to 8 s apart
PROFILE_COURIER = "bench_profile"
log = fb.log
D = Decimal


def sizes(quick: bool, couriers: int | None, stops: int | None) -> dict[str, int]:
    return {"couriers": couriers or (10 if quick else 50), "stops": stops or (2 if quick else 4)}


# ================================================================ child: prepare the data
def setup(couriers: int, stops: int) -> dict[str, Any]:
    """The company, the couriers with tokens and their trips on route; returns what the clients need."""
    import datetime as dt

    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from torg.catalogs.models import (
        BankAccount,
        CashDesk,
        DeliveryAddress,
        Item,
        ItemPrice,
        Organization,
        Partner,
        PriceType,
        Unit,
        Warehouse,
    )
    from torg.core.models import ApiToken
    from torg.core.permissions import Role
    from torg.delivery import courier as door
    from torg.delivery import services as delivery
    from torg.delivery.models import TripStop, Vehicle
    from torg.fiscal.models import CashRegister, Driver
    from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod
    from torg.payments.services import register_payment
    from torg.sales import services as sales
    from torg.sales.models import (
        AgreementKind,
        AgreementStatus,
        PaymentSchedule,
        PaymentScheduleStage,
        SalesOrder,
        SalesOrderLine,
        StageKind,
        TradeAgreement,
    )
    from torg.stock.tests.helpers import purchase

    admin = User.objects.create_user("bench_admin")
    admin.groups.add(Group.objects.get_or_create(name=Role.ADMINISTRATOR)[0])
    courier_group = Group.objects.get_or_create(name=Role.COURIER)[0]
    unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
    org = Organization.objects.create(name="ООО «Доставка»", prefix="ДС", inn="7707083893", kpp="773601001")
    warehouse = Warehouse.objects.create(name="Central")
    office = CashDesk.objects.create(organization=org, name="Office till")
    BankAccount.objects.create(organization=org, name="Settlement account", number="40702810900000000001",
                               bik="044525225")
    CashRegister.objects.create(organization=org, name="Office register", model="АТОЛ 30Ф (emulated)",
                                driver=Driver.EMULATOR, payments_address="г. Москва, ул. Лесная, д. 5",
                                payments_place="Офис продаж", cash_desk=office, is_default=True,
                                cashier_name="Кассир Петрова А.А.")
    supplier = Partner.objects.create(name="Molokozavod", is_client=False, is_supplier=True)
    goods = [("Milk 1L", 100, 3), ("Bread", 50, 4), ("Butter 200g", 150, 2)]  # name, price, quantity per order
    items = [Item.objects.create(name=name, unit=unit, weight_kg=D("1.000")) for name, _p, _q in goods]
    orders_total = (couriers + LEVEL_COURIERS * len(LEVELS) + 1) * stops + couriers * PACED_STOPS
    purchase(org, warehouse, supplier, timezone.now() - dt.timedelta(days=2),
             [(item, q * orders_total + 10, p // 2) for item, (_n, p, q) in zip(items, goods, strict=True)])
    price_type = PriceType.objects.create(name="Retail")
    for item, (_n, price, _q) in zip(items, goods, strict=True):
        ItemPrice.objects.create(price_type=price_type, item=item, valid_from=dt.date(2020, 1, 1), price=D(price))
    schedule = PaymentSchedule(name="Credit 7 days")
    sales.save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.CREDIT, percent=D(100), days=7)])
    agreement = TradeAgreement.objects.create(
        name="Retail on credit", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE, organization=org,
        price_type=price_type, payment_schedule=schedule, warehouse=warehouse, max_manual_discount=D(5))

    def trip_for(username: str, password: str | None, stops: int = stops) -> dict[str, Any]:
        user = User.objects.create_user(username, first_name="Courier", last_name=username)
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(courier_group)
        _token, key = ApiToken.issue(user, "phone")
        orders = []
        for s in range(stops):
            client = Partner.objects.create(name=f"Shop {username}-{s + 1}", is_client=True, phone="+7 900 000-00-00")
            address = DeliveryAddress.objects.create(partner=client, address=f"Lesnaya {s + 1}, {username}",
                                                     comment="Back door")
            order = SalesOrder(organization=org, partner=client, agreement=agreement, warehouse=warehouse,
                               delivery_address=address)
            sales.save_order(order, [SalesOrderLine(item=item, quantity=D(q))
                                     for item, (_n, _p, q) in zip(items, goods, strict=True)], user=admin, post=True)
            sales.submit_order(order, user=admin)
            sales.release_to_ship(order, user=admin)
            prepayment = IncomingPayment(organization=org, partner=client, method=PaymentMethod.CASH,
                                         cash_desk=office, amount=D("150.00"))
            register_payment(prepayment, [PaymentAllocation(order=order, amount=D("150.00"))], user=admin,
                             idempotency_key=f"bench-prepay-{order.pk}")
            orders.append(order)
        picks = [sales.Pick(o.pk, line.code) for o in orders for line in o.lines.all()]
        shipments = sales.create_shipments_from_backlog(picks, user=admin)
        van = Vehicle.objects.create(name=f"Van {username}", plate="А000АА77", default_courier=user)
        trip = delivery.create_trip(timezone.localdate(), van, user=admin)
        delivery.add_shipments(trip, shipments, admin)
        delivery.start_loading(trip, admin)
        delivery.send_on_route(trip, admin)
        plan = []
        for stop in TripStop.objects.filter(trip=trip).order_by("sequence"):
            plan.append({"id": stop.pk, "cash": str(door.stop_due(stop).due)})
        return {"username": username, "token": key, "trip": trip.pk, "stops": plan}

    started = time.perf_counter()
    load = [trip_for(f"courier{n:02d}", "bench-courier" if n == 0 else None) for n in range(couriers)]
    levels = {str(level): [trip_for(f"level{level}_{n:02d}", None) for n in range(LEVEL_COURIERS)]
              for level in LEVELS}
    paced = [trip_for(f"paced{n:02d}", None, PACED_STOPS) for n in range(couriers)]
    profile = trip_for(PROFILE_COURIER, None)
    return {"load": load, "levels": levels, "paced": paced, "profile": profile, "organization": org.pk,
            "setup_s": round(time.perf_counter() - started, 1), "password": "bench-courier",
            "order_amount": str(sum((D(p * q) for _n, p, q in goods), D(0))), "prepaid": "150.00"}


# ================================================================ child: queries of one confirmation
def _normalized(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(?:\.\d+)?\b", "?", sql)
    return re.sub(r"\((?:\?, )+\?\)", "(…)", sql)


def _table(sql: str) -> str:
    m = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([a-z0-9_]+)"?', sql, re.I)
    return m.group(1) if m else "-"


def _verb(sql: str) -> str:
    word = sql.lstrip().split(" ", 1)[0].upper()
    if word == "SELECT" and "FOR UPDATE" in sql.upper():
        return "SELECT … FOR UPDATE"
    return word


# What one confirmation does, step by step (cumulative time of each function; nested steps are part of their
# parent's): the API around the service, the service's own steps, and the services it calls.
BREAKDOWN = {
    "token and capability check (api/auth.py)": ("torg/api/auth.py", "authenticate"),
    "API handler, all of it (api/delivery.py confirm)": ("torg/api/delivery.py", "confirm"),
    "  the stop, own courier's (load_stop)": ("torg/api/delivery.py", "load_stop"),
    "  key not used on another stop": ("torg/api/delivery.py", "_refuse_key_of_another_stop"),
    "  confirm_stop, all of it": ("torg/delivery/courier.py", "confirm_stop"),
    "    lock the stop (_lock_pending)": ("torg/delivery/courier.py", "_lock_pending"),
    "    read shipments, lines, items (_shipments)": ("torg/delivery/courier.py", "_shipments"),
    "    what is owed (stop_due)": ("torg/delivery/courier.py", "stop_due"),
    "      the client's advance (advance_held)": ("torg/payments/services.py", "advance_held"),
    "    split the money (_plan)": ("torg/delivery/courier.py", "_plan"),
    "    finalize shipments (nothing refused)": ("torg/delivery/courier.py", "_finalize_shipments"),
    "    hand over: receipt part of the goods": ("torg/fiscal/services.py", "hand_over"),
    "    register the payment (_register)": ("torg/delivery/courier.py", "_register"),
    "      courier's cash desk": ("torg/payments/services.py", "courier_cash_desk"),
    "      register_payment (payments)": ("torg/payments/services.py", "register_payment"),
    "        save and post the document": ("torg/core/documents.py", "save_document"),
    "        order states refreshed (sales)": ("torg/sales/states.py", "refresh_order_states"),
    "        receipt part of the payment (fiscal)": ("torg/fiscal/services.py", "on_payment_registered"),
    "    build and queue the one receipt (fiscal)": ("torg/fiscal/services.py", "_receipts_of_parts"),
    "    the stop's row updated and read back": ("django/db/models/base.py", "refresh_from_db"),
    "    commit": ("django/db/backends/base/base.py", "commit"),
}


def _cumulative(stats: Any, path: str, func: str) -> float:
    """Cumulative seconds of a function (the outermost, where a file has several of that name)."""
    return max((v[3] for (filename, _line, name), v in stats.stats.items()
                if name == func and filename.endswith(path)), default=0.0)


def profile_queries(plan: dict[str, Any]) -> dict[str, Any]:
    """Statements of one stop read and of one confirmation, through the Django test client (no network)."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {plan['token']}")
    stops = plan["stops"]
    out: dict[str, Any] = {}

    def run(method: str, url: str, body: Any = None, key: str | None = None) -> tuple[int, float, list[dict]]:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            if method == "GET":
                response = client.get(url, **headers)
            else:
                response = client.post(url, json.dumps(body), content_type="application/json", **headers)
            elapsed = time.perf_counter() - t0
        assert response.status_code == 200, response.content[:500]
        return len(ctx.captured_queries), elapsed, ctx.captured_queries

    # A first request warms up the process (URLs, schema, translations): not counted.
    client.get("/api/v1/courier/trips")
    for name, method, url, body in (
            ("read_stop", "GET", f"/api/v1/courier/stops/{stops[0]['id']}", None),
            ("confirm", "POST", f"/api/v1/courier/stops/{stops[0]['id']}/confirm", {"cash": stops[0]["cash"]})):
        n, elapsed, queries = run(method, url, body, key=f"profile-{uuid.uuid4()}" if method == "POST" else None)
        by_kind = Counter(_verb(q["sql"]) for q in queries)
        by_table = Counter(f"{_verb(q['sql'])} {_table(q['sql'])}" for q in queries)
        repeated = Counter(_normalized(q["sql"]) for q in queries)
        db_ms = sum(float(q.get("time") or 0) for q in queries) * 1000
        out[name] = {
            "queries": n, "ms_in_process": round(elapsed * 1000, 1), "ms_in_database": round(db_ms, 1),
            "by_kind": dict(by_kind.most_common()), "by_table": dict(by_table.most_common()),
            "repeated": [{"times": k, "sql": s[:300]} for s, k in repeated.most_common(15) if k > 1],
            "statements": [f"{float(q.get('time') or 0) * 1000:.2f} ms  {_verb(q['sql'])} {_table(q['sql'])}"
                           for q in queries],
        }
    # Where the time of the other confirmations goes, by function (cumulative), in this process.
    profiler = cProfile.Profile()
    profiler.enable()
    for stop in stops[1:]:
        client.post(f"/api/v1/courier/stops/{stop['id']}/confirm", json.dumps({"cash": stop["cash"]}),
                    content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"profile-{uuid.uuid4()}")
    profiler.disable()
    if stops[1:]:
        stats = pstats.Stats(profiler)
        rows = []
        for (filename, line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if "/torg/" in filename and "/tests/" not in filename:
                rows.append((ct, f"{filename.split('/torg/', 1)[1]}:{line} {func}"))
        rows.sort(reverse=True)
        n = len(stops) - 1
        steps = {}
        whole = _cumulative(stats, "django/test/client.py", "post") or 1.0
        for label, (path, func) in BREAKDOWN.items():
            ct = _cumulative(stats, path, func)
            steps[label] = {"ms": round(ct * 1000 / n, 1), "percent": round(ct * 100 / whole)}
        out["profile"] = {"confirmations": n, "ms_per_confirmation_under_profiler": round(whole * 1000 / n, 1),
                          "breakdown": steps, "functions_ms_per_confirmation": [
                              {"ms": round(ct * 1000 / n, 1), "function": name} for ct, name in rows[:30]]}
    return out


# ================================================================ child: the checks afterwards
def check(plan: dict[str, Any], confirmed: int) -> dict[str, Any]:
    import io

    from django.core.management import call_command
    from django.db.models import Count, Sum

    from torg.delivery.models import StopStatus, TripStop
    from torg.fiscal.models import FiscalReceipt
    from torg.payments.models import IncomingPayment, PaymentAllocation

    couriers = plan["load"] + plan["paced"] + [c for level in plan["levels"].values() for c in level]
    stop_ids = [s["id"] for c in couriers for s in c["stops"]]
    stops = TripStop.objects.filter(pk__in=stop_ids)
    statuses = dict(stops.values_list("status").annotate(n=Count("pk")).order_by())
    expected = {s["id"]: D(s["cash"]) for c in couriers for s in c["stops"]}
    door = IncomingPayment.objects.filter(cash_desk__holder__isnull=False, cash_desk__holder__username__in=[
        c["username"] for c in couriers])
    per_stop_payments: dict[int, list[int]] = {}
    paid_by_stop: dict[int, Decimal] = {}
    for stop_id, result in stops.values_list("pk", "result"):
        ids = [p["id"] for p in (result or {}).get("payments", [])]
        per_stop_payments[stop_id] = ids
        paid_by_stop[stop_id] = sum((D(p["amount"]) for p in (result or {}).get("payments", [])), D(0))
    payment_ids = [i for ids in per_stop_payments.values() for i in ids]
    allocated = {r["document_id"]: r["s"] for r in PaymentAllocation.objects.filter(document_id__in=payment_ids)
                 .values("document_id").annotate(s=Sum("amount")).order_by()}
    amounts = dict(door.values_list("pk", "amount"))
    receipts = FiscalReceipt.objects.filter(payment_id__in=payment_ids)
    registers = io.StringIO()
    try:
        call_command("check_registers", stdout=registers, stderr=registers)
        registers_ok = True
    except SystemExit as exc:
        registers_ok = exc.code in (0, None)
    except Exception as exc:  # noqa: BLE001 — reported, not raised
        registers.write(repr(exc))
        registers_ok = False
    return {
        "stops": len(stop_ids), "statuses": statuses,
        "every_stop_done": statuses.get(StopStatus.DONE, 0) == len(stop_ids),
        "confirmations_answered_200": confirmed,
        "door_payments": door.count(),
        "door_payments_equal_confirmations": door.count() == confirmed == len(stop_ids),
        "one_payment_per_stop": all(len(ids) == 1 for ids in per_stop_payments.values()),
        "paid_as_due": all(paid_by_stop[k] == v for k, v in expected.items()),
        "allocated_in_full": all(allocated.get(pk) == amount for pk, amount in amounts.items()),
        "receipts_queued": receipts.count(),
        "one_receipt_per_confirmation": receipts.count() == len(stop_ids),
        "check_registers_ok": registers_ok,
        "check_registers_output": registers.getvalue()[-500:],
    }


def child_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    import django

    django.setup()
    from django.db import connection
    from django.utils import translation

    assert connection.vendor == "postgresql", connection.vendor
    translation.activate("en")
    out = Path(args.out)
    if args.child == "setup":
        size = json.loads(args.size)
        out.write_text(json.dumps(setup(size["couriers"], size["stops"]), indent=1))
    elif args.child == "profile":
        plan = json.loads(Path(args.plan).read_text())
        out.write_text(json.dumps(profile_queries(plan["profile"]), indent=1))
    elif args.child == "check":
        plan = json.loads(Path(args.plan).read_text())
        out.write_text(json.dumps(check(plan, int(args.size)), indent=1, default=str))


def run_child(kind: str, env: dict[str, str], var_dir: Path, *, plan: Path | None = None, size: str = "") -> Any:
    out = var_dir / f"{kind}.json"
    cmd = [sys.executable, __file__, "--child", kind, "--out", str(out), "--size", size]
    if plan is not None:
        cmd += ["--plan", str(plan)]
    subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    return json.loads(out.read_text())


# ================================================================ the clients
def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered) + 0.5) - 1))]

    return {"n": len(values), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(at(0.95) * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}


class Courier:
    """One phone: its own token and session; confirms its stops in route order."""

    def __init__(self, base: str, plan: dict[str, Any]):
        import requests

        self.base = base
        self.plan = plan
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {plan['token']}", "Accept-Language": "en"})
        self.reads: list[float] = []
        self.confirms: list[float] = []
        self.sent: list[tuple[dict[str, Any], str, dict[str, Any]]] = []  # (stop, key, answer)
        self.errors: list[str] = []

    def work(self, pause: tuple[float, float] | None = None) -> None:
        """Each stop: GET it, then POST its confirmation; with `pause`, a random wait (s) before each stop."""
        rng = random.Random(self.plan["trip"])
        for stop in self.plan["stops"]:
            if pause is not None:
                time.sleep(rng.uniform(*pause))
            try:
                t0 = time.perf_counter()
                read = self.session.get(f"{self.base}/api/v1/courier/stops/{stop['id']}", timeout=120)
                self.reads.append(time.perf_counter() - t0)
                if read.status_code != 200 or read.json()["due"]["due"] != str(D(stop["cash"]).quantize(D("0.01"))):
                    self.errors.append(f"read {stop['id']}: {read.status_code} {read.text[:300]}")
                key = str(uuid.uuid4())
                t0 = time.perf_counter()
                answer = self.session.post(f"{self.base}/api/v1/courier/stops/{stop['id']}/confirm",
                                           json={"cash": stop["cash"]}, headers={"Idempotency-Key": key},
                                           timeout=120)
                self.confirms.append(time.perf_counter() - t0)
                if answer.status_code == 200 and answer.json()["replay"] is False:
                    self.sent.append((stop, key, answer.json()))
                else:
                    self.errors.append(f"confirm {stop['id']}: {answer.status_code} {answer.text[:300]}")
            except Exception as exc:  # noqa: BLE001 — a client error is reported, not raised
                self.errors.append(f"stop {stop['id']}: {exc!r}")


class Meter:
    """What a phase cost the machine: CPU time of the server's workers, how busy the cores were, the load average,
    and how many of the benchmark database's sessions waited for a lock (sampled every 20 ms)."""

    def __init__(self, server_pid: int, database: str):
        self.server_pid = server_pid
        self.database = database
        self.samples: list[int] = []
        self._stop = threading.Event()

    @staticmethod
    def _cpu_ticks(pids: list[int]) -> int:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    @staticmethod
    def _machine() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(fb.PG_ADMIN_URL, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = "
                                   "'Lock'", [self.database]).fetchone()
                self.samples.append(int(row[0]) if row else 0)
                time.sleep(0.02)

    def __enter__(self) -> Meter:
        self.workers = fb._children(self.server_pid)  # the gunicorn workers
        self.load_before = os.getloadavg()[0]
        self.cpu0 = self._cpu_ticks(self.workers)
        self.machine0 = self._machine()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.sampler.join(timeout=5)
        self.server_cpu_s = (self._cpu_ticks(self.workers) - self.cpu0) / os.sysconf("SC_CLK_TCK")
        total, idle = self._machine()
        dt_total = total - self.machine0[0]
        self.machine_busy = 1 - (idle - self.machine0[1]) / dt_total if dt_total else 0.0

    def figures(self, confirmations: int) -> dict[str, Any]:
        per = round(self.server_cpu_s * 1000 / confirmations, 1) if confirmations else None
        return {"load_average_before": round(self.load_before, 2),
                "server_cpu_s": round(self.server_cpu_s, 2),
                "server_cpu_ms_per_confirmation": per,  # with the stop read before it
                "machine_cpu_busy_percent": round(self.machine_busy * 100),
                "sessions_waiting_for_a_lock": {"max": max(self.samples, default=0),
                                                "mean": round(statistics.fmean(self.samples), 2)
                                                if self.samples else 0}}


def run_phase(base: str, groups: list[list[dict[str, Any]]], server_pid: int, database: str,
              pause: tuple[float, float] | None = None) -> dict[str, Any]:
    """One client thread per group of couriers, all started together; each works through its couriers' stops in
    route order (GET the stop, POST the confirmation), without pause unless `pause` is given."""
    clients = [[Courier(base, p) for p in group] for group in groups]

    def work(phones: list[Courier], start: threading.Barrier) -> None:
        start.wait()
        for phone in phones:
            phone.work(pause)

    start = threading.Barrier(len(clients) + 1)
    threads = [threading.Thread(target=work, args=(c, start)) for c in clients]
    for t in threads:
        t.start()
    with Meter(server_pid, database) as meter:
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join(timeout=900)
        wall = time.perf_counter() - t0
    phones = [p for c in clients for p in c]
    confirms = [x for p in phones for x in p.confirms]
    reads = [x for p in phones for x in p.reads]
    ok = sum(len(p.sent) for p in phones)
    return {"clients": len(clients), "seconds": round(wall, 2), "confirmations_ok": ok,
            "confirmations_per_s": round(ok / wall, 1),
            "requests_per_s": round((len(confirms) + len(reads)) / wall, 1),
            "confirm": percentiles(confirms), "read_stop": percentiles(reads), **meter.figures(len(confirms)),
            "errors": [e for p in phones for e in p.errors][:20], "hung": sum(t.is_alive() for t in threads),
            "_phones": phones}


def run_retries(clients: list[Courier]) -> dict[str, Any]:
    """Every 5th confirmation again with its key (same answer, replay) and every 10th with a new key (409)."""
    sent = [(c, s) for c in clients for s in c.sent]
    same, other, problems = [], [], []
    for n, (c, (stop, key, first)) in enumerate(sent):
        if n % 5 == 0:
            t0 = time.perf_counter()
            again = c.session.post(f"{c.base}/api/v1/courier/stops/{stop['id']}/confirm", json={"cash": stop["cash"]},
                                   headers={"Idempotency-Key": key}, timeout=60)
            same.append(time.perf_counter() - t0)
            if again.status_code != 200 or again.json() != {**first, "replay": True}:
                problems.append(f"retry {stop['id']}: {again.status_code} {again.text[:200]}")
        if n % 10 == 0:
            t0 = time.perf_counter()
            phone = c.session.post(f"{c.base}/api/v1/courier/stops/{stop['id']}/confirm", json={"cash": stop["cash"]},
                                   headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=60)
            other.append(time.perf_counter() - t0)
            body = phone.json() if phone.headers.get("content-type", "").startswith("application/json") else {}
            if phone.status_code != 409 or body.get("code") != "delivery_stop_closed" or \
                    body.get("result") != first["result"]:
                problems.append(f"second phone {stop['id']}: {phone.status_code} {phone.text[:200]}")
    return {"same_key": percentiles(same), "second_phone": percentiles(other), "problems": problems[:20],
            "all_as_expected": not problems}


# ================================================================ the phone pages
def measure_pages(base: str, plan: dict[str, Any], password: str, when: str) -> dict[str, Any]:
    """Log in as a courier and fetch the courier's pages: bytes as sent, gzip size, linked assets."""
    import requests

    session = requests.Session()
    session.headers["Accept-Language"] = "ru"
    session.headers["Accept-Encoding"] = "identity"
    login = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
    if not token:
        return {"available": False, "why": f"no login form at /login/ ({login.status_code})"}
    session.post(f"{base}/login/", data={"username": plan["username"], "password": password,
                                         "csrfmiddlewaretoken": token.group(1)},
                 headers={"Referer": f"{base}/login/"}, timeout=30)
    probe = session.get(f"{base}/courier/", timeout=30, allow_redirects=False)
    if probe.status_code == 404:
        return {"available": False, "why": "/courier/ answers 404: the phone pages are not installed"}
    trip, stop = plan["trip"], plan["stops"][0]["id"]
    if when == "before":
        paths = ["/courier/", f"/courier/trips/{trip}/", f"/courier/stops/{stop}/", f"/courier/stops/{stop}/goods/",
                 f"/courier/stops/{stop}/quantities/", f"/courier/stops/{stop}/due/", f"/courier/stops/{stop}/pay/",
                 f"/courier/stops/{stop}/pay/cash/", f"/courier/stops/{stop}/receipt-contact/",
                 f"/courier/stops/{stop}/confirm/", f"/courier/stops/{stop}/not-delivered/",
                 f"/courier/trips/{trip}/end/"]
    else:
        paths = [f"/courier/trips/{trip}/", f"/courier/stops/{stop}/result/", f"/courier/trips/{trip}/end/"]
    pages, assets = [], {}
    for path in paths:
        response = session.get(base + path, timeout=60)
        body = response.content
        hops = [len(r.content) for r in response.history]
        linked = re.findall(r'<(?:link[^>]+href|script[^>]+src|img[^>]+src)="([^"]+)"', response.text)
        for url in linked:
            if url.startswith("/") and url not in assets:
                asset = session.get(base + url, timeout=60)
                assets[url] = {"status": asset.status_code, "bytes": len(asset.content),
                               "gzip_bytes": len(gzip.compress(asset.content, 6))}
        pages.append({"path": path, "status": response.status_code,
                      "final": response.url.replace(base, "") if response.history else path,
                      "bytes": len(body) + sum(hops), "gzip_bytes": len(gzip.compress(body, 6)),
                      "assets": [u for u in linked if u.startswith("/")],
                      "with_assets_bytes": len(body) + sum(hops) + sum(assets[u]["bytes"] for u in set(linked)
                                                                        if u in assets)})
    return {"available": True, "pages": pages, "assets": assets,
            "largest_bytes": max((p["bytes"] for p in pages), default=0),
            "all_under_target": all(p["with_assets_bytes"] < TARGETS["page_kb"] * 1024 for p in pages)}


# ================================================================ the server
def start_server(env: dict[str, str], workers: int, log_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn on a free port; what it and Django log (a 4xx is logged as a warning) goes to `log_file`."""
    import requests

    port = fb.free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with log_file.open("ab") as out:
        server = subprocess.Popen([gunicorn, "torg.wsgi", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                                   "--log-level", "warning", "--timeout", "120"], env=env, cwd=ROOT,
                                  start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            requests.get(f"{base}/api/v1/openapi.json", timeout=30)
            break
        except (requests.ConnectionError, requests.Timeout):
            if time.time() > deadline:
                raise RuntimeError("gunicorn did not start within 90 s") from None
            time.sleep(0.3)
    return server, base


def warm_up(base: str, plans: list[dict[str, Any]], workers: int) -> None:
    """Every worker loads the URLs and builds the API schema on its first request: not part of the figures."""
    import requests

    def hit(plan: dict[str, Any]) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {plan['token']}"
        for _ in range(3):
            session.get(f"{base}/api/v1/courier/trips", timeout=120)

    threads = [threading.Thread(target=hit, args=(p,)) for p in plans[: max(workers * 3, 1)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ================================================================ the table
def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["sizes"]
    lines = [
        "torg courier benchmark" + (" (--quick)" if results["quick"] else ""),
        fb.machine_line(m),
        f"software: Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}",
        f"server: {results['server']}",
        f"data: {s['couriers']} couriers × {s['stops']} stops (+ {LEVEL_COURIERS * len(LEVELS)} couriers for the "
        f"concurrency levels {', '.join(map(str, LEVELS))}), "
        f"each stop an order of {results['order_amount']} prepaid {results['prepaid']}; prepared in "
        f"{results['setup_s']} s", "",
    ]
    q = results.get("queries")
    if q:
        lines.append(f"(a) queries, in process: confirmation {q['confirm']['queries']} statements "
                     f"({q['confirm']['ms_in_process']} ms, {q['confirm']['ms_in_database']} ms of it in the "
                     f"database); stop read {q['read_stop']['queries']} ({q['read_stop']['ms_in_process']} ms)")
        lines.append(f"    by kind: {q['confirm']['by_kind']}")
    lines.append(f"(b) clients at once, each working through {LEVEL_COURIERS} couriers' trips between them "
                 "(GET the stop, POST the confirmation, no pause):")
    phases = [(f"{n} client(s)", r) for n, r in results["levels"].items()]
    phases.append((f"(c) {s['couriers']} clients, 1 courier each", results["load"]))
    phases.append((f"(c') {s['couriers']} paced {PACED_PAUSE_S[0]:g}-{PACED_PAUSE_S[1]:g} s", results["paced"]))
    for label, r in phases:
        c, g = r["confirm"], r["read_stop"]
        lines.append(f"    {label:<30} {r['confirmations_ok']:>4} confirmations in {r['seconds']:>6} s = "
                     f"{r['confirmations_per_s']:>5}/s; confirm p50 {c['p50_ms']} / p95 {c['p95_ms']} / max "
                     f"{c['max_ms']} ms; stop read p50 {g['p50_ms']} / p95 {g['p95_ms']} ms; server CPU "
                     f"{r['server_cpu_ms_per_confirmation']} ms per stop, machine busy "
                     f"{r['machine_cpu_busy_percent']} %, "
                     f"load avg before {r['load_average_before']}, lock waits max "
                     f"{r['sessions_waiting_for_a_lock']['max']}; errors {len(r['errors'])}")
    v = results["verdict"]
    lines.append(f"    target confirm p95 < {v['confirm_p95_ms_target']} ms: met with 1 client "
                 f"{v['met_with_1_client']}, paced {v['met_paced']}, {s['couriers']} clients in a closed loop "
                 f"{v['met_with_50_clients_closed_loop']}. Clients that always wait for an answer make each request "
                 f"wait for the others: ≈ clients / requests per second = {v['closed_loop_latency_expected_ms']} ms; "
                 f"p95 < {v['confirm_p95_ms_target']} ms for {s['couriers']} such clients needs "
                 f"{v['throughput_needed_for_target_per_s']} requests/s")
    r = results["retries"]
    lines.append(f"(d) retries: same key {r['same_key']['n']} (p50 {r['same_key'].get('p50_ms')} ms) → 200 replay; "
                 f"second phone {r['second_phone']['n']} → 409; as expected: {r['all_as_expected']}")
    e = results.get("server_log", {})
    lines.append(f"    server log: {e.get('internal_errors')} internal errors, {e.get('tracebacks')} tracebacks, "
                 f"{e.get('conflicts_409')} answers 409 (the second phones)")
    k = results["check"]
    lines.append(f"(e) checks: every stop done {k['every_stop_done']} ({k['statuses']}); door payments "
                 f"{k['door_payments']} = confirmations {k['confirmations_answered_200']}: "
                 f"{k['door_payments_equal_confirmations']}; paid as due {k['paid_as_due']}; allocated in full "
                 f"{k['allocated_in_full']}; receipts queued {k['receipts_queued']}; registers exact "
                 f"{k['check_registers_ok']}")
    pages = results["pages"]
    if not pages["before"].get("available"):
        lines.append(f"(f) phone pages: not measured — {pages['before'].get('why')}")
    else:
        lines.append(f"(f) phone pages (HTML as sent / gzip / with linked assets, target < {TARGETS['page_kb']} KB):")
        for when in ("before", "after"):
            for p in pages[when].get("pages", []):
                lines.append(f"    {p['status']} {p['path']:<40} {p['bytes'] / 1024:6.1f} KB / "
                             f"{p['gzip_bytes'] / 1024:5.1f} KB / {p['with_assets_bytes'] / 1024:6.1f} KB"
                             + (f"  → {p['final']}" if p["final"] != p["path"] else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 couriers × 2 stops")
    parser.add_argument("--couriers", type=int, help="concurrent clients, one courier each (default 50)")
    parser.add_argument("--stops", type=int, help="stops per courier's trip (default 4)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="gunicorn sync workers (default one per core: the work is CPU-bound and PostgreSQL "
                             "shares the cores)")
    parser.add_argument("--database", default=PG_BENCH_DB, help="the PostgreSQL database to create and drop")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        parser.error("--database: lower-case letters, digits and _")
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    import django

    django.setup()
    size = sizes(args.quick, args.couriers, args.stops)
    machine = fb.describe_machine()
    if machine["postgresql"] is None:
        log(f"PostgreSQL is not reachable at {fb.PG_ADMIN_URL}: the courier benchmark needs it; skipped")
        return
    results: dict[str, Any] = {"quick": args.quick, "machine": machine, "targets": TARGETS, "sizes": size,
                               "server": f"gunicorn torg.wsgi --workers {args.workers} (sync), DJANGO_DEBUG=0, "
                                         f"PostgreSQL database {args.database} on 127.0.0.1"}
    started = time.perf_counter()
    db = args.database
    with tempfile.TemporaryDirectory(prefix="torg-bench-delivery-") as tmp:
        var_dir = Path(tmp)
        env = {**os.environ, "DATABASE_URL": fb.pg_url(db), "TORG_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "0",
               "PYTHONPATH": str(SRC), "TORG_LOG_LEVEL": "ERROR"}
        env.pop("TORG_TEST_DATABASE_URL", None)
        fb.pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        fb.pg_admin(f"CREATE DATABASE {db}")
        server = None
        statistics_ = contextlib.ExitStack()
        try:
            results["statistics"] = statistics_.enter_context(fb.fresh_statistics(fb.pg_url(db)))
            log(f"migrating {db}")
            subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env,
                           check=True, cwd=ROOT)
            log(f"preparing {size['couriers']} couriers × {size['stops']} stops on route")
            plan = run_child("setup", env, var_dir, size=json.dumps(size))
            plan_file = var_dir / "setup.json"
            results.update({k: plan[k] for k in ("setup_s", "order_amount", "prepaid")})
            log("queries of one confirmation (in process)")
            results["queries"] = run_child("profile", env, var_dir, plan=plan_file)
            log(f"starting gunicorn with {args.workers} workers")
            server_log = var_dir / "server.log"
            server, base = start_server(env, args.workers, server_log)
            warm_up(base, plan["load"], args.workers)
            log("phone pages")
            results["pages"] = {"before": measure_pages(base, plan["load"][0], plan["password"], "before")}
            phones: list[Courier] = []
            results["levels"] = {}
            for level in LEVELS:
                plans = plan["levels"][str(level)]
                log(f"{level} client(s) at once over {len(plans)} couriers' trips: {len(plans) * size['stops']} "
                    "confirmations")
                groups = [plans[i::level] for i in range(level)]
                phase = run_phase(base, groups, server.pid, db)
                phones += phase.pop("_phones")
                results["levels"][str(level)] = phase
            log(f"{size['couriers']} clients at once, one courier each: {size['couriers'] * size['stops']} "
                "confirmations")
            load = run_phase(base, [[p] for p in plan["load"]], server.pid, db)
            phones += load.pop("_phones")
            results["load"] = load
            log(f"{size['couriers']} clients, one courier each, {PACED_STOPS} stops each {PACED_PAUSE_S[0]:g} to "
                f"{PACED_PAUSE_S[1]:g} s apart")
            paced = run_phase(base, [[p] for p in plan["paced"]], server.pid, db, PACED_PAUSE_S)
            phones += paced.pop("_phones")
            results["paced"] = paced
            log("retries: the same key, and a second phone")
            results["retries"] = run_retries(phones)
            if results["pages"]["before"].get("available"):
                results["pages"]["after"] = measure_pages(base, plan["load"][0], plan["password"], "after")
            confirmed = sum(len(p.sent) for p in phones)
        finally:
            statistics_.close()
            if server is not None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
                logged = server_log.read_text(errors="replace")
                results["server_log"] = {"internal_errors": logged.count("Internal Server Error"),
                                         "tracebacks": logged.count("Traceback"),
                                         "conflicts_409": logged.count("Conflict:"), "tail": logged[-1500:]}
        try:
            log("checking the database")
            results["check"] = run_child("check", env, var_dir, plan=plan_file, size=str(confirmed))
        finally:
            fb.pg_admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    results.setdefault("pages", {}).setdefault("after", {})
    load = results.get("load", {})
    results["verdict"] = {
        "confirm_p95_ms_target": TARGETS["confirm_p95_ms"],
        "met_with_50_clients_closed_loop": load.get("confirm", {}).get("p95_ms", 1e9) < TARGETS["confirm_p95_ms"],
        "met_with_1_client": results.get("levels", {}).get("1", {}).get("confirm", {}).get("p95_ms", 1e9)
        < TARGETS["confirm_p95_ms"],
        "met_paced": results.get("paced", {}).get("confirm", {}).get("p95_ms", 1e9) < TARGETS["confirm_p95_ms"],
        # Little's law: with N clients always waiting for an answer, an answer takes about N / throughput.
        "closed_loop_latency_expected_ms": round(load["clients"] / load["requests_per_s"] * 1000)
        if load.get("requests_per_s") else None,
        "throughput_needed_for_target_per_s": round(load.get("clients", 0) / (TARGETS["confirm_p95_ms"] / 1000)),
        "pages_under_target": bool(results.get("pages", {}).get("before", {}).get("all_under_target")),
    }
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["reference_ms_end"] = fb.reference_ms()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} in {results['total_s']} s")


if __name__ == "__main__":
    main()
