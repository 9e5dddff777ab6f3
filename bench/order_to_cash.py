"""The order-to-cash benchmark (`make bench`, after the foundation one): complete cycles per second, the orders list
page, the receivables report.

Prints a table with the machine's description and writes bench/results/order_to_cash.json.

    .venv/bin/python bench/order_to_cash.py            # full run (SQLite and PostgreSQL)
    .venv/bin/python bench/order_to_cash.py --quick    # smaller: 200 + 200 cycles, 2,000 orders, 20,000 movements
    .venv/bin/python bench/order_to_cash.py --backends postgresql --profile

Each database run happens in a child process of this script with its own database: a temporary SQLite file
(never var/), and on PostgreSQL a dedicated database `torg_bench_otc` that this script creates and drops.

What is measured, per database:
  (a) complete order-to-cash cycles through the services, as the pages and the API run them: an order of 5 lines
      under a trade agreement (prices from its price type, payment schedule "100 % credit in 10 days") created and
      posted, agreed (submit_order), released (release_to_ship), shipped whole from the backlog
      (create_shipments_from_backlog), paid in full by bank transfer allocated to the order with an idempotency
      key (register_payment) — after which it closes itself. 2,000 cycles in 1 process, then 2,000 more by as many
      processes at once as the machine has cores, and 2,000 by twice as many (each its own connection, clients and
      items); cycles/s, documents/s (order, shipment and payment: 3 per cycle), ms per cycle and per step,
      statements per cycle; then, with as many cycles (the issue's 2,000 orders → shipment → payment), the same
      order saved released to ship at once (save_order(status="to_ship"), the page's «Save and release to
      ship»), shipped and paid: 3 transactions a cycle instead of 5;
  (b) the orders list page (`sales:orders_list`) over at least 10,000 orders with computed states — the cycles'
      orders (all closed) and more created and posted through `save_order` in every status, a quarter of the
      target at least (12,000 + 2,500 in a full run) — rendered through the Django test client as a
      logged-in manager: first page, sorted, filtered by state, a deep page; ms (median of 20) and query count;
  (c) the receivables report (`torg.reports.settlements.build_receivables`) over 100,000 client settlement
      movements: the benchmark's own, and the rest inserted straight into the movement table (shipments and
      payments on the orders, dated over 18 months, 70 % of the orders settled) with the kept and monthly totals
      rebuilt from the movements (GROUP BY), then checked by `verify_register`; ms (best and median of 5).

`--profile` also runs 200 cycles (50 with --quick) under cProfile and stores where their time goes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import foundation as fb  # noqa: E402 — the shared helpers: machine description, PostgreSQL admin, timing

ROOT = fb.ROOT
SRC = fb.SRC
RESULTS = ROOT / "bench" / "results" / "order_to_cash.json"
PG_BENCH_DB = "torg_bench_otc"
CORES = os.cpu_count() or 2
WORKERS = (CORES, 2 * CORES)  # processes at once: one per core (as gunicorn runs here), and twice as many
LINES = 5
TARGETS = {
    "cycles_per_s_pg": 100,  # complete order-to-cash cycles per second on PostgreSQL, this 2-core machine
    "order_list_ms": 150,
    "receivables_ms": 1000,
}
STEPS = ("order", "agree", "release", "ship", "pay")
log = fb.log


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"cycles": 200, "concurrent_cycles": 200, "orders": 2_000, "movements": 20_000}
    return {"cycles": 2_000, "concurrent_cycles": 2_000, "orders": 10_000, "movements": 100_000}


# ================================================================ the company
_ctx: dict[str, Any] = {}


def make_company(n_items: int = 400, n_clients: int = 200) -> None:
    """Catalogs, an agreement, money places, a manager and plenty of stock in two warehouses."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from torg.catalogs.models import BankAccount, Item, ItemPrice, Organization, Partner, PriceType, Unit, Warehouse
    from torg.core.permissions import Role
    from torg.sales.models import (
        AgreementKind,
        AgreementStatus,
        PaymentSchedule,
        PaymentScheduleStage,
        StageKind,
        TradeAgreement,
    )
    from torg.sales.services import save_payment_schedule
    from torg.stock.models import Purchase, PurchaseLine
    from torg.stock.services import save_stock_document

    rng = random.Random(7)
    unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
    organization = Organization.objects.create(name="ООО «Бенчмарк»", prefix="БН", inn="7707083893", kpp="773601001")
    bank = BankAccount.objects.create(organization=organization, name="Settlement account",
                                      number="40702810900000000001", bik="044525225")
    supplier = Partner.objects.create(name="Supplier", is_client=False, is_supplier=True)
    warehouses = [Warehouse.objects.create(name=f"Warehouse {n}") for n in range(2)]
    Item.objects.bulk_create([Item(name=f"Goods {n:04d}", unit=unit) for n in range(n_items)])
    items = list(Item.objects.order_by("pk").values_list("pk", flat=True))
    Partner.objects.bulk_create([Partner(name=f"Client {n:04d}", is_client=True) for n in range(n_clients)])
    clients = list(Partner.objects.filter(is_client=True).order_by("pk").values_list("pk", flat=True))
    price_type = PriceType.objects.create(name="Wholesale")
    ItemPrice.objects.bulk_create([ItemPrice(price_type=price_type, item_id=i, valid_from=dt.date(2020, 1, 1),
                                             price=rng.choice([19, 45, 99, 120, 250]) + rng.choice([0, 0.5]))
                                   for i in items])
    schedule = PaymentSchedule(name="Credit 10 days")
    save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.CREDIT, percent=100, days=10)])
    agreements = [TradeAgreement.objects.create(
        name=f"Wholesale from {w.name}, credit 10 days", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE,
        organization=organization, price_type=price_type, payment_schedule=schedule, warehouse=w)
        for w in warehouses]
    manager = User.objects.create_user("manager", password="bench12345")
    manager.groups.add(Group.objects.get_or_create(name=Role.SALES_MANAGER)[0])
    for w in warehouses:
        doc = Purchase(organization=organization, warehouse=w, supplier=supplier,
                       date=fb.timezone_aware(dt.datetime(2020, 1, 2, 9)))
        save_stock_document(doc, [PurchaseLine(item_id=i, quantity=10_000_000, price=50, vat_rate=22) for i in items],
                            post=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    _ctx.update(organization=organization.pk, bank=bank.pk, warehouses=[w.pk for w in warehouses], items=items,
                clients=clients, agreements=[a.pk for a in agreements], manager=manager.pk)


# ================================================================== cycles
def _run_cycles(tag: str, n: int, clients: list[int], items: list[int], year: int,
                seed: int, direct: bool = False) -> dict[str, Any]:
    """n complete cycles, one after another; seconds per step, statements and time in database calls.
    `direct`: the order is saved released to ship at once (save_order(status="to_ship")): no agree and release
    steps, 3 transactions a cycle."""
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.db import connection

    from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod
    from torg.payments.services import register_payment
    from torg.sales import services
    from torg.sales.models import OrderStatus, SalesOrder, SalesOrderLine

    manager = User.objects.get(pk=_ctx["manager"])
    rng = random.Random(seed)
    start = fb.timezone_aware(dt.datetime(year, 1, 2, 9))
    step = dt.timedelta(days=300) / max(n, 1)
    plan = [(clients[k % len(clients)], rng.sample(items, LINES), [rng.randint(1, 12) for _ in range(LINES)])
            for k in range(n)]
    seconds = dict.fromkeys(STEPS, 0.0)
    orders: list[int] = []
    counting = fb.Counting()
    t_start = time.perf_counter()
    with connection.execute_wrapper(counting):
        for k, (client, picked, quantities) in enumerate(plan):
            when = start + step * k
            order = SalesOrder(organization_id=_ctx["organization"], partner_id=client,
                               agreement_id=_ctx["agreements"][k % 2], warehouse_id=_ctx["warehouses"][k % 2],
                               date=when)
            lines = [SalesOrderLine(item_id=i, quantity=Decimal(q)) for i, q in zip(picked, quantities, strict=True)]
            t0 = time.perf_counter()
            if direct:
                services.save_order(order, lines, user=manager, status=OrderStatus.TO_SHIP)
                t1 = t2 = t3 = time.perf_counter()
            else:
                services.save_order(order, lines, user=manager, post=True)
                t1 = time.perf_counter()
                services.submit_order(order, user=manager)
                t2 = time.perf_counter()
                services.release_to_ship(order, user=manager)
                t3 = time.perf_counter()
            services.create_shipments_from_backlog([services.Pick(order.pk, ln.code) for ln in lines], user=manager,
                                                   date=when + dt.timedelta(hours=1))
            t4 = time.perf_counter()
            payment = IncomingPayment(organization_id=_ctx["organization"], partner_id=client,
                                      method=PaymentMethod.BANK, bank_account_id=_ctx["bank"], amount=order.amount,
                                      date=when + dt.timedelta(hours=2))
            register_payment(payment, [PaymentAllocation(order_id=order.pk, amount=order.amount)], user=manager,
                             idempotency_key=f"{tag}-{k}")
            t5 = time.perf_counter()
            for name, a, b in zip(STEPS, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5), strict=True):
                seconds[name] += b - a
            orders.append(order.pk)
    return {"cycles": n, "seconds": time.perf_counter() - t_start, "steps": seconds, "queries": counting.queries,
            "db_s": counting.seconds, "orders": orders}


def _cycle_figures(n: int, wall_s: float, steps: dict[str, float], queries: int, db_s: float,
                   busy_s: float) -> dict[str, Any]:
    return {
        "cycles": n,
        "documents": 3 * n,
        "seconds": round(wall_s, 1),
        "cycles_per_s": round(n / wall_s, 1),
        "documents_per_s": round(3 * n / wall_s, 1),
        "ms_per_cycle": round(busy_s * 1000 / n, 2),
        "ms_per_step": {name: round(s * 1000 / n, 2) for name, s in steps.items()},
        "ms_per_cycle_in_database_calls": round(db_s * 1000 / n, 2),
        "queries_per_cycle": round(queries / n, 1),
    }


def _check_closed(order_ids: list[int]) -> int:
    """Every cycle's order closed itself (shipped and paid); returns how many did not."""
    from torg.sales.models import OrderState, OrderStateCode

    closed = OrderState.objects.filter(order_id__in=order_ids, state=OrderStateCode.CLOSED).count()
    return len(order_ids) - closed


def _worker(index: int, n: int, clients: list[int], items: list[int], go: Any, results: Any, direct: bool,
            year: int) -> None:
    from django.db import connections

    try:
        go.wait()
        out = _run_cycles(f"w{year}-{index}", n, clients, items, year, 100 + index, direct=direct)
        results.put((index, out))
    except BaseException as exc:  # noqa: BLE001 — the parent reports it
        results.put((index, {"error": repr(exc)}))
    finally:
        connections.close_all()


def _concurrent(total: int, clients: list[int], items: list[int], direct: bool, n_workers: int,
                year: int) -> dict[str, Any]:
    """`total` cycles by n_workers processes at once, each with its own connection, clients and items."""
    import multiprocessing

    from django.db import connections

    per_worker = total // n_workers
    log(f"  {n_workers} processes at once: {per_worker:,} cycles each" + (" (saved to ship at once)" if direct else ""))
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    connections.close_all()
    workers = [context.Process(target=_worker, args=(k, per_worker, clients[k::n_workers], items[k::n_workers], go,
                                                     results, direct, year)) for k in range(n_workers)]
    for w in workers:
        w.start()
    time.sleep(2)
    t0 = time.perf_counter()
    go.set()
    outs = dict(results.get(timeout=7200) for _ in workers)
    wall_s = time.perf_counter() - t0
    for w in workers:
        w.join(timeout=60)
    errors = [o["error"] for o in outs.values() if "error" in o]
    assert not errors, errors
    steps = {name: sum(o["steps"][name] for o in outs.values()) for name in STEPS}
    busy = sum(o["seconds"] for o in outs.values())
    out = _cycle_figures(per_worker * n_workers, wall_s, steps, sum(o["queries"] for o in outs.values()),
                         sum(o["db_s"] for o in outs.values()), busy)
    out["workers"] = n_workers
    out["per_process_s"] = [round(outs[k]["seconds"], 1) for k in sorted(outs)]
    out["not_closed"] = _check_closed([pk for o in outs.values() for pk in o["orders"]])
    log(f"    {out['cycles_per_s']} cycles/s")
    return out


# Each phase is dated in its own year, after the ones before it (bench_cycles): a shipment dated before
# earlier-posted issues of its items would be back-dated, which queues a cost recalculation — not the day's work
# the benchmark measures.
def _single(n: int, clients: list[int], items: list[int], direct: bool, year: int) -> dict[str, Any]:
    log(f"  1 process: {n:,} cycles" + (" (saved to ship at once)" if direct else ""))
    out = _run_cycles(f"single-{year}", n, clients, items, year, 1, direct=direct)
    figures = _cycle_figures(n, out["seconds"], out["steps"], out["queries"], out["db_s"], out["seconds"])
    figures["not_closed"] = _check_closed(out["orders"])
    log(f"    {figures['cycles_per_s']} cycles/s, {figures['ms_per_cycle']} ms per cycle")
    return figures


def bench_cycles(quick: bool, profile: bool) -> dict[str, Any]:
    n = sizes(quick)["cycles"]
    total = sizes(quick)["concurrent_cycles"]
    clients, items = _ctx["clients"], _ctx["items"]
    result: dict[str, Any] = {
        "cycle": "order of 5 lines under an agreement created and posted → agreed → released → shipped whole "
                 "from the backlog → paid in full by bank (allocated, idempotency key) → closes itself",
        "documents_per_cycle": "3 (order, shipment, payment); the order is re-posted by each status change",
        "direct_cycle": "the same order saved released to ship at once (save_order(status='to_ship'), as "
                        "«Save and release to ship» does) → shipped → paid: 3 transactions; as many cycles",
    }
    result["single"] = _single(n, clients, items, False, 2021)
    result["concurrent"] = _concurrent(total, clients, items, False, WORKERS[0], 2022)
    result["concurrent_more"] = _concurrent(total, clients, items, False, WORKERS[1], 2023)
    result["direct_single"] = _single(n, clients, items, True, 2024)
    result["direct_concurrent"] = _concurrent(total, clients, items, True, WORKERS[0], 2025)
    result["direct_concurrent_more"] = _concurrent(total, clients, items, True, WORKERS[1], 2026)
    if profile:
        result["profile"] = profile_cycles(50 if quick else 200, clients, items)
    return result


def profile_cycles(n: int, clients: list[int], items: list[int]) -> dict[str, Any]:
    """Where the time of n cycles goes: the functions with the most cumulative and own time."""
    import cProfile
    import pstats

    log(f"  profiling {n} cycles")
    profiler = cProfile.Profile()
    profiler.enable()
    _run_cycles("profile", n, clients, items, 2027, 3)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]

    def top(key: str, count: int, only_torg: bool) -> list[dict[str, Any]]:
        rows = []
        for (file, line, name), (_cc, calls, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if only_torg and "/torg/" not in file:
                continue
            rows.append({"function": f"{Path(file).name}:{line}({name})", "calls": calls,
                         "cumulative_ms_per_cycle": round(ct * 1000 / n, 2),
                         "own_ms_per_cycle": round(tt * 1000 / n, 2)})
        rows.sort(key=lambda r: -r[key])
        return rows[:count]

    selected = {}
    for (file, _line, name), (_cc, calls, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "/torg/" in file and name in PROFILED and name not in selected:
            selected[name] = {"function": f"{Path(file).parent.name}/{Path(file).name}:{name}",
                              "calls_per_cycle": round(calls / n, 1),
                              "cumulative_ms_per_cycle": round(ct * 1000 / n, 2),
                              "share_percent": round(ct * 100 / total, 1)}
    return {"cycles": n, "ms_per_cycle_profiled": round(total * 1000 / n, 2),
            "selected": sorted(selected.values(), key=lambda r: -r["cumulative_ms_per_cycle"]),
            "torg_by_cumulative": top("cumulative_ms_per_cycle", 30, True),
            "all_by_own_time": top("own_ms_per_cycle", 25, False)}


# The parts of a cycle worth naming in the table (each measured with everything it calls).
PROFILED = ("refresh_order_states", "collect_figures", "set_order_status", "write_movements", "agreement_deviations",
            "validate_order", "_prepare_order", "_check_credit", "open_items", "_check_allocations", "snapshot",
            "_replace_lines", "clean_document", "_check_over_shipment", "_check_shipment_lines", "issue_costs",
            "_log_changes", "_number_new_document", "offset_advances", "_refuse_paid_twice", "_lock_document")


# ================================================================ orders list
def top_up_orders(target: int) -> dict[str, Any]:
    """More orders through save_order (posted, in every status) until there are `target`, and a quarter of it at
    least (the cycles leave their orders closed); their states computed."""
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.db import connection

    from torg.sales import services
    from torg.sales.models import OrderStatus, SalesOrder, SalesOrderLine

    have = SalesOrder.objects.count()
    missing = max(target - have, target // 4)  # the cycles' orders are all closed: a quarter at least still open
    log(f"  {have:,} orders from the cycles; creating {missing:,} more through save_order")
    manager = User.objects.get(pk=_ctx["manager"])
    rng = random.Random(11)
    start = fb.timezone_aware(dt.datetime(2025, 1, 2, 9))
    statuses = [OrderStatus.NOT_AGREED, OrderStatus.TO_SECURE, OrderStatus.TO_SHIP]
    t0 = time.perf_counter()
    for k in range(missing):
        order = SalesOrder(organization_id=_ctx["organization"], partner_id=rng.choice(_ctx["clients"]),
                           agreement_id=_ctx["agreements"][k % 2], warehouse_id=_ctx["warehouses"][k % 2],
                           date=start + dt.timedelta(minutes=53 * k), status=statuses[k % 3],
                           shipment_date=(start + dt.timedelta(minutes=53 * k, days=rng.randint(1, 20))).date())
        lines = [SalesOrderLine(item_id=i, quantity=Decimal(rng.randint(1, 12)))
                 for i in rng.sample(_ctx["items"], rng.randint(1, LINES))]
        services.save_order(order, lines, user=manager, post=True)
    seconds = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"created": missing, "seconds": round(seconds, 1),
            "orders_per_s": round(missing / seconds, 1) if missing else None}


def bench_order_list(quick: bool) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from torg.sales.models import OrderState, SalesOrder

    target = sizes(quick)["orders"]
    created = top_up_orders(target)
    orders = SalesOrder.objects.count()
    states = dict(OrderState.objects.values_list("state").annotate(n=Count("pk")).order_by())
    web = Client()
    web.force_login(User.objects.get(pk=_ctx["manager"]))
    url = reverse("sales:orders_list")
    last_page = (orders + 49) // 50
    pages = {
        "first page": url,
        "sorted by debt, descending": f"{url}?sort=-state__debt",
        "filtered: state shipping": f"{url}?state__state=shipping",
        f"page {last_page // 2} of {last_page}": f"{url}?page={last_page // 2}",
    }
    out: dict[str, Any] = {"orders": orders, "states": states, "top_up": created, "view": "sales:orders_list",
                           "pages": {}}
    for label, address in pages.items():
        response = web.get(address)
        assert response.status_code == 200, (address, response.status_code)
        counting = fb.Counting()
        with connection.execute_wrapper(counting):
            web.get(address)
        ms = fb.timed_ms(lambda address=address: web.get(address), 20)
        out["pages"][label] = {"url": address, "queries": counting.queries,
                               "ms_median": round(statistics.median(ms), 1), "ms_p95": round(fb.percentile(ms, 95), 1),
                               "bytes": len(response.content)}
        log(f"  orders list, {label}: {out['pages'][label]['ms_median']} ms, {counting.queries} queries")
    return out


# ================================================================ receivables
def generate_settlements(total: int) -> dict[str, Any]:
    """Client settlement movements on the benchmark's orders up to `total`, inserted straight into the movement
    table; then the kept and monthly totals rebuilt from all the movements. Per order: shipments (receipts of
    `shipped`) and payments (receipts of `paid`), dated over 18 months; 70 % of the orders end settled, the rest
    owe part of what shipped."""
    from decimal import Decimal

    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from torg.payments.models import IncomingPayment
    from torg.sales.models import (
        ClientSettlementsMonthlyTotal,
        ClientSettlementsMovement,
        ClientSettlementsTotal,
        SalesOrder,
        Shipment,
    )

    have = ClientSettlementsMovement.objects.count()
    missing = max(total - have, 0)
    orders = list(SalesOrder.objects.values_list("pk", "organization_id", "partner_id").order_by("pk"))
    ship_ct = ContentType.objects.get_for_model(Shipment).pk
    pay_ct = ContentType.objects.get_for_model(IncomingPayment).pk
    rng = random.Random(5)
    start = fb.timezone_aware(dt.datetime(2025, 1, 1))
    db = connection
    adapt = db.ops.adapt_datetimefield_value
    rows: list[tuple[Any, ...]] = []
    recorder = 2_000_000_000
    k = 0
    while len(rows) < missing:
        pk, org, partner = orders[k % len(orders)]
        k += 1
        key = f"{org}|{partner}|{pk}|"
        moves = min(rng.randint(4, 16), missing - len(rows))
        owed = Decimal(0)
        moments = sorted(start + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 540)) for _ in range(moves))
        for m, when in enumerate(moments):
            recorder += 1
            if m % 2 == 0:  # a shipment
                amount = Decimal(f"{rng.uniform(100, 5000):.2f}")
                owed += amount
                rows.append((ship_ct, recorder, 0, adapt(when), 1, key, org, partner, pk, None, amount, 0))
            else:  # a payment: in full, except that 30 % of the orders leave part of their last shipment unpaid
                last = m >= moves - 2
                paid = owed if not last or rng.random() < 0.7 else (owed * Decimal("0.6")).quantize(Decimal("0.01"))
                owed -= paid
                rows.append((pay_ct, recorder, 0, adapt(when), 1, key, org, partner, pk, None, 0, paid))
    mv = ClientSettlementsMovement._meta.db_table
    tot = ClientSettlementsTotal._meta.db_table
    mon = ClientSettlementsMonthlyTotal._meta.db_table
    month = fb._local_month_sql(db.vendor)
    cols = ("recorder_type_id, recorder_id, line_no, period, record_type, key, organization_id, partner_id, "
            "order_id, shipment_id, shipped, paid")
    t0 = time.perf_counter()
    with transaction.atomic(), db.cursor() as cursor:
        for lo in range(0, len(rows), 5000):
            cursor.executemany(f"INSERT INTO {mv} ({cols}) VALUES ({', '.join(['%s'] * 12)})", rows[lo:lo + 5000])
        cursor.execute(f"DELETE FROM {tot}")
        cursor.execute(f"DELETE FROM {mon}")
        cursor.execute(f"""
            INSERT INTO {tot} (key, organization_id, partner_id, order_id, shipment_id, shipped, paid)
            SELECT key, organization_id, partner_id, order_id, shipment_id, SUM(shipped * record_type),
                   SUM(paid * record_type)
            FROM {mv} GROUP BY key, organization_id, partner_id, order_id, shipment_id""")
        cursor.execute(f"""
            INSERT INTO {mon} (month, key, organization_id, partner_id, order_id, shipment_id, shipped_receipt,
                               paid_receipt, shipped_expense, paid_expense)
            SELECT {month}, key, organization_id, partner_id, order_id, shipment_id,
                   SUM(CASE WHEN record_type = 1 THEN shipped ELSE 0 END),
                   SUM(CASE WHEN record_type = 1 THEN paid ELSE 0 END),
                   SUM(CASE WHEN record_type = -1 THEN shipped ELSE 0 END),
                   SUM(CASE WHEN record_type = -1 THEN paid ELSE 0 END)
            FROM {mv} GROUP BY {month}, key, organization_id, partner_id, order_id, shipment_id""")
        cursor.execute("ANALYZE")
    return {"movements_before": have, "inserted": len(rows), "movements": have + len(rows),
            "objects": ClientSettlementsTotal.objects.count(), "generate_s": round(time.perf_counter() - t0, 1)}


def bench_receivables(quick: bool) -> dict[str, Any]:
    from torg.core.posting import verify_register
    from torg.sales.models import ClientSettlements

    target = sizes(quick)["movements"]
    log(f"  generating client settlement movements up to {target:,}")
    out = generate_settlements(target)
    t0 = time.perf_counter()
    mismatches = verify_register(ClientSettlements)
    out["verify_register_s"] = round(time.perf_counter() - t0, 1)
    assert mismatches == [], mismatches[:5]
    try:
        from torg.reports.settlements import ReceivablesParams, build_receivables

        def build() -> Any:
            return build_receivables(ReceivablesParams(today=dt.date(2026, 7, 1)))

        out["function"] = "torg.reports.settlements.build_receivables"
        report = build()
        out["rows"] = report.line_count
        out["clients"] = len(report.groups)
    except ImportError:  # the report framework's builder is not there: the service it reads
        from torg.sales.settlements import receivables

        def build() -> Any:
            return receivables(today=dt.date(2026, 7, 1))

        out["function"] = "torg.sales.settlements.receivables"
        out["rows"] = len(build())
    ms = fb.timed_ms(build, 5)
    out["ms_best"] = round(min(ms), 1)
    out["ms_median"] = round(statistics.median(ms), 1)
    log(f"  receivables over {out['movements']:,} movements ({out['rows']:,} rows): {out['ms_median']} ms")
    return out


# ========================================================== child: one database
def child(backend: str, out: Path, quick: bool, profile: bool) -> None:
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    os.environ.setdefault("TORG_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == backend, (connection.vendor, backend)
    call_command("migrate", verbosity=0)
    make_company()
    result: dict[str, Any] = {"backend": backend}
    result["cycles"] = bench_cycles(quick, profile)
    result["order_list"] = bench_order_list(quick)
    result["receivables"] = bench_receivables(quick)
    out.write_text(json.dumps(result, indent=2, default=str))


def run_child(backend: str, database_url: str, quick: bool, profile: bool, var_dir: Path) -> dict[str, Any]:
    out = var_dir / f"result-{backend}.json"
    env = {**os.environ, "DATABASE_URL": database_url, "TORG_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "0",
           "PYTHONPATH": str(SRC)}
    env.pop("TORG_TEST_DATABASE_URL", None)
    cmd = [sys.executable, __file__, "--child", backend, "--out", str(out)]
    cmd += (["--quick"] if quick else []) + (["--profile"] if profile else [])
    return fb.run_in_child(cmd, env, out, database_url if backend == "postgresql" else None)


# ================================================================== the table
def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "torg order-to-cash benchmark" + (" (--quick)" if results["quick"] else ""),
        fb.machine_line(m),
        f"software: Python {m['python']}, Django {m['django']}, SQLite {m['sqlite']}, "
        f"PostgreSQL {m['postgresql'] or 'not available'}",
        "",
    ]
    backends = [b for b in ("sqlite", "postgresql") if b in results["backends"]]
    head = f"{'measure':<60}" + "".join(f"{b:>14}" for b in backends) + f"{'target':>16}"
    lines += [head, "-" * len(head)]

    def row(label: str, getter: Any, target: str = "") -> None:
        cells = []
        for b in backends:
            try:
                value = getter(results["backends"][b])
            except (KeyError, IndexError, TypeError):
                value = None
            cells.append(f"{'—' if value is None else value:>14}")
        lines.append(f"{label:<60}" + "".join(cells) + f"{target:>16}")

    first = next(iter(results["backends"].values()))
    single, concurrent = first["cycles"]["single"], first["cycles"]["concurrent"]
    lines.append(f"order to cash: order (5 lines) → agree → release → ship → pay, {single['cycles']:,} + "
                 f"{concurrent['cycles']:,} cycles")
    runs = (("single", "1 process", ""), ("concurrent", f"{WORKERS[0]} processes at once", "≥ 100 (PG)"),
            ("concurrent_more", f"{WORKERS[1]} processes at once", "≥ 100 (PG)"))
    for key, label, target in runs:
        row(f"  {label}: complete cycles/s", lambda r, key=key: r["cycles"][key]["cycles_per_s"], target)
        row("    documents/s (order, shipment, payment)", lambda r, key=key: r["cycles"][key]["documents_per_s"])
        row("    ms per cycle / of it in database calls",
            lambda r, key=key: f"{r['cycles'][key]['ms_per_cycle']:.1f} / "
                               f"{r['cycles'][key]['ms_per_cycle_in_database_calls']:.1f}")
        row("    statements per cycle", lambda r, key=key: r["cycles"][key]["queries_per_cycle"])
    for step in STEPS:
        row(f"    ms per step (1 process): {step}", lambda r, step=step: r["cycles"]["single"]["ms_per_step"][step])
    direct = first["cycles"].get("direct_single")
    if direct:
        lines.append(f"order saved released to ship at once → ship → pay, {direct['cycles']:,} + "
                     f"{first['cycles']['direct_concurrent']['cycles']:,} cycles")
        for key, label, target in (("direct_single", "1 process", ""),
                                   ("direct_concurrent", f"{WORKERS[0]} processes at once", "≥ 100 (PG)"),
                                   ("direct_concurrent_more", f"{WORKERS[1]} processes at once", "≥ 100 (PG)")):
            row(f"  {label}: complete cycles/s", lambda r, key=key: r["cycles"][key]["cycles_per_s"], target)
            row("    ms per cycle / statements per cycle",
                lambda r, key=key: f"{r['cycles'][key]['ms_per_cycle']:.1f} / "
                                   f"{r['cycles'][key]['queries_per_cycle']}")
    row("  orders that did not close themselves",
        lambda r: sum(r["cycles"][k]["not_closed"] for k in ("single", "concurrent", "concurrent_more",
                                                              "direct_single", "direct_concurrent",
                                                              "direct_concurrent_more") if k in r["cycles"]), "0")
    n_orders = first["order_list"]["orders"]
    lines.append(f"orders list page (sales:orders_list, 50 rows) over {n_orders:,} orders, ms median / queries:")
    for label in first["order_list"]["pages"]:
        row(f"  {label}", lambda r, label=label: f"{r['order_list']['pages'][label]['ms_median']} / "
                                                 f"{r['order_list']['pages'][label]['queries']}", "< 150 ms")
    rv = first["receivables"]
    row(f"receivables report, {rv['movements']:,} settlement movements, ms median",
        lambda r: r["receivables"]["ms_median"], "< 1000")
    row("  report rows (open orders and advances)", lambda r: r["receivables"]["rows"])
    lines.append("-" * len(head))
    lines.append("A cycle is 5 transactions through the services (save_order with post, submit_order, "
                 "release_to_ship, create_shipments_from_backlog, register_payment); saved to ship at once, 3 "
                 "(save_order(status='to_ship'), create_shipments_from_backlog, register_payment). "
                 f"The {WORKERS[0]} or {WORKERS[1]} processes each use their own connection, their own clients and "
                 "items, and share the organization (its number sequences), the warehouses, the agreement and the "
                 "tables.")
    if any("profile" in results["backends"][b]["cycles"] for b in backends):
        lines.append("")
        for b in backends:
            prof = results["backends"][b]["cycles"].get("profile")
            if not prof:
                continue
            lines.append(f"where a cycle's time goes on {b} (cProfile, {prof['cycles']} cycles, "
                         f"{prof['ms_per_cycle_profiled']} ms per cycle under the profiler); each part with "
                         "what it calls, so parts overlap:")
            for r in prof.get("selected", []):
                lines.append(f"  {r['share_percent']:>5.1f} %  {r['calls_per_cycle']:>4} × {r['function']}")
            lines.append("  most own time (any code): " + ", ".join(
                f"{r['function']} {r['own_ms_per_cycle']} ms" for r in prof["all_by_own_time"][:6]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 + 200 cycles, 2,000 orders, 20,000 movements")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="also profile 200 cycles (50 with --quick)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.out), args.quick, args.profile)
        return

    sys.path.insert(0, str(SRC))
    results: dict[str, Any] = {"quick": args.quick, "machine": fb.describe_machine(), "backends": {},
                               "targets": TARGETS, "sizes": sizes(args.quick)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="torg-bench-otc-") as tmp:
        var_dir = Path(tmp)
        for backend in args.backends.split(","):
            backend = backend.strip()
            if backend == "sqlite":
                log("SQLite (temporary file database)")
                results["backends"]["sqlite"] = run_child("sqlite", f"sqlite:///{var_dir / 'bench.sqlite3'}",
                                                          args.quick, args.profile, var_dir)
            elif backend == "postgresql":
                if results["machine"]["postgresql"] is None:
                    log(f"PostgreSQL is not reachable at {fb.PG_ADMIN_URL}: skipped")
                    continue
                log(f"PostgreSQL (database {PG_BENCH_DB}, created and dropped here)")
                fb.pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
                fb.pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
                try:
                    results["backends"]["postgresql"] = run_child("postgresql", fb.pg_url(PG_BENCH_DB), args.quick,
                                                                  args.profile, var_dir)
                finally:
                    fb.pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            else:
                parser.error(f"unknown backend {backend!r}: use sqlite and/or postgresql")
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["reference_ms_end"] = fb.reference_ms()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} in {results['total_s']} s")


if __name__ == "__main__":
    main()
