"""The fiscal benchmark (`make bench`): building receipts, and draining the fiscal queue to the emulator.

Prints a table with the machine's description and writes bench/results/fiscal.json.

    .venv/bin/python bench/fiscal.py            # SQLite and PostgreSQL
    .venv/bin/python bench/fiscal.py --quick    # fewer receipts

What is measured:
  (a) the receipt builder (`torg.fiscal.builder.build`, pure, one process): the settlement scenarios of the
      builder's table test — 100 % prepayment with goods named, partial prepayment split by VAT rate, advance,
      handover with offset, payment at handover in cash and card, handover on credit, payment of the credit, part
      prepaid + cash + credit, overpayment kept as advance, one payment for two orders, refusal at the door and the
      return of its prepayment, a goods return — over orders of 1 to 20 lines; receipts built per second (best of
      3 runs of 20,000 events). No database.
  (b) the fiscal queue, per database: 1,000 receipts (2 to 6 lines) stored through `queue_receipts` as a payment
      would, then `drain()` sends them to the built-in emulator (its fiscal drive and drawer in the same database)
      until every one is registered; seconds and receipts/s, and that each is registered exactly once and in order.

Each database run happens in a child process with its own database: a temporary SQLite file, and on PostgreSQL a
database `torg_bench_fiscal` that this script creates and drops.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import foundation as fb  # noqa: E402 — the shared helpers: machine description, PostgreSQL admin

ROOT = fb.ROOT
SRC = fb.SRC
RESULTS = ROOT / "bench" / "results" / "fiscal.json"
PG_BENCH_DB = "torg_bench_fiscal"
TARGETS = {"receipts_built_per_s": 10_000, "drain_1000_s": 10}
log = fb.log
D = Decimal


def sizes(quick: bool) -> dict[str, int]:
    return {"events": 5_000 if quick else 20_000, "queue": 300 if quick else 1_000}


# ================================================================ (a) the builder
def make_events(n: int, seed: int = 5) -> list[Any]:
    from torg.fiscal.builder import Goods, GoodsReturn, PrepaymentReturn, Settlement, SettlementObject, build
    from torg.fiscal.receipts import Method

    rng = random.Random(seed)

    def goods(ref: str, k: int) -> tuple[Goods, ...]:
        out = []
        for i in range(k):
            q = D(rng.randint(1, 12))
            price = D(rng.choice(["19.90", "45.00", "99.99", "120.50", "250.00", "33.33"]))
            out.append(Goods(f"Товар {i} заказа {ref}", q, (q * price).quantize(D("0.01")),
                             rng.choice([22, 22, 22, 10]), ref, item_id=i + 1))
        return tuple(out)

    events: list[Any] = []
    while len(events) < n:
        ref, ref2 = f"order:{len(events)}", f"order:{len(events) + 1}"
        lines = goods(ref, rng.randint(1, 20))
        total = sum((g.amount for g in lines), D(0))
        half = (total / 2).quantize(D("0.01"))
        obj = SettlementObject(ref, f"заказу № {len(events)} от 10.02.2026", lines)
        kind = len(events) % 12
        if kind == 0:
            event: Any = Settlement(objects=(obj,), allocations=((ref, total),), electronic=total)
        elif kind == 1:
            event = Settlement(objects=(obj,), allocations=((ref, half),), cash=half)
        elif kind == 2:
            event = Settlement(cash=D(rng.randint(100, 90_000)))
        elif kind == 3:
            event = Settlement(objects=(SettlementObject(ref, obj.title, lines, D(0), total),), handed_over=lines)
        elif kind == 4:
            event = Settlement(objects=(obj,), handed_over=lines, allocations=((ref, total),), cash=half,
                               electronic=total - half)
        elif kind == 5:
            event = Settlement(objects=(obj,), handed_over=lines)
        elif kind == 6:
            event = Settlement(objects=(SettlementObject(ref, obj.title, (), total, D(0)),),
                               allocations=((ref, total),), cash=total)
        elif kind == 7:
            event = Settlement(objects=(SettlementObject(ref, obj.title, lines, D(0), half),), handed_over=lines,
                               allocations=((ref, (half / 2).quantize(D("0.01"))),),
                               cash=(half / 2).quantize(D("0.01")))
        elif kind == 8:
            event = Settlement(objects=(obj,), handed_over=lines, allocations=((ref, total),), cash=total + 500)
        elif kind == 9:
            other = goods(ref2, rng.randint(1, 5))
            o2 = SettlementObject(ref2, "заказу № 2", other)
            paid = sum((g.amount for g in other), D(0))
            event = Settlement(objects=(SettlementObject(ref, obj.title, (), total, D(0)), o2),
                               allocations=((ref, total), (ref2, paid)), electronic=total + paid)
        elif kind == 10:
            accepted, refused = lines[:-1] or lines, lines[-1:]
            event = (Settlement(objects=(SettlementObject(ref, obj.title, lines, D(0), total),),
                                handed_over=accepted) if len(lines) > 1 else
                     PrepaymentReturn(amount=refused[0].amount, method=Method.FULL_PREPAYMENT, title=obj.title,
                                      goods=refused, electronic=refused[0].amount))
        else:
            (sale,) = build(Settlement(objects=(obj,), handed_over=lines, allocations=((ref, total),), cash=total))
            event = GoodsReturn(original=sale, quantities=((0, sale.lines[0].quantity),))
        events.append(event)
    return events


def bench_builder(quick: bool) -> dict[str, Any]:
    from torg.fiscal.builder import build

    events = make_events(sizes(quick)["events"])
    runs = []
    receipts = lines = 0
    for _ in range(3):
        receipts = lines = 0
        t0 = time.perf_counter()
        for event in events:
            for receipt in build(event):
                receipts += 1
                lines += len(receipt.lines)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    return {"events": len(events), "receipts": receipts, "lines": lines, "seconds_best": round(best, 3),
            "seconds_runs": [round(r, 3) for r in runs], "receipts_per_s": round(receipts / best),
            "lines_per_receipt": round(lines / receipts, 1)}


# ================================================================ (b) the queue
def bench_queue(quick: bool) -> dict[str, Any]:
    from django.db import connection, transaction

    from torg.catalogs.models import Organization
    from torg.fiscal.builder import build
    from torg.fiscal.models import CashRegister, EmulatorDocument, FiscalReceipt, ReceiptStatus
    from torg.fiscal.queue import drain, queue_receipts

    n = sizes(quick)["queue"]
    org = Organization.objects.create(name="ООО «Бенчмарк»", prefix="БН", inn="7707083893", kpp="773601001")
    register = CashRegister.objects.create(organization=org, name="Bench register", payments_address="Москва",
                                           is_default=True)
    # Receipts as payments make them: one event per payment, a few lines each.
    events = [e for e in make_events(4 * n, seed=9) if not hasattr(e, "original")]
    drafts = []
    for event in events:
        for draft in build(event):
            if 2 <= len(draft.lines) <= 6 and len(drafts) < n:
                drafts.append(draft)
    for k in range(len(drafts), n):  # (a small run may need more)
        drafts.append(drafts[k % max(len(drafts), 1)])
    # references to orders and items that do not exist here: keep the lines, drop the links
    from dataclasses import replace

    drafts = [replace(d, lines=tuple(ln._replace(reference="", item_id=None) for ln in d.lines)) for d in drafts]
    t0 = time.perf_counter()
    with transaction.atomic():
        for draft in drafts:
            queue_receipts([draft], organization_id=org.pk, cash_register=register)
    stored_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    outcome = drain(register.pk, force=True)
    drain_s = time.perf_counter() - t1
    statuses = dict(FiscalReceipt.objects.values_list("status").annotate(n=models_count()).order_by())
    numbers = list(FiscalReceipt.objects.order_by("pk").values_list("fiscal_document_number", flat=True))
    in_order = numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    documents = EmulatorDocument.objects.filter(kind="sell").count() + EmulatorDocument.objects.filter(
        kind="sell_return").count()
    again = drain(register.pk, force=True)
    return {"receipts": n, "store_seconds": round(stored_s, 2), "stored_per_s": round(n / stored_s),
            "drain_seconds": round(drain_s, 2), "drained_per_s": round(n / drain_s),
            "registered": outcome.registered, "failed": outcome.failed,
            "all_registered": statuses.get(ReceiptStatus.REGISTERED, 0) == n,
            "in_order_once": in_order and documents == n and again.registered == 0,
            "backend": connection.vendor}


def models_count() -> Any:
    from django.db.models import Count

    return Count("pk")


# ========================================================== child: one database
def child(backend: str, out: Path, quick: bool) -> None:
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    os.environ.setdefault("TORG_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == backend, (connection.vendor, backend)
    call_command("migrate", verbosity=0)
    out.write_text(json.dumps({"backend": backend, "queue": bench_queue(quick)}, indent=2, default=str))


def run_child(backend: str, database_url: str, quick: bool, var_dir: Path) -> dict[str, Any]:
    out = var_dir / f"result-{backend}.json"
    env = {**os.environ, "DATABASE_URL": database_url, "TORG_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "0",
           "PYTHONPATH": str(SRC)}
    env.pop("TORG_TEST_DATABASE_URL", None)
    cmd = [sys.executable, __file__, "--child", backend, "--out", str(out)] + (["--quick"] if quick else [])
    return fb.run_in_child(cmd, env, out, database_url if backend == "postgresql" else None)


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    b = results["builder"]
    lines = [
        "torg fiscal benchmark" + (" (--quick)" if results["quick"] else ""),
        fb.machine_line(m),
        f"software: Python {m['python']}, Django {m['django']}, SQLite {m['sqlite']}, "
        f"PostgreSQL {m['postgresql'] or 'not available'}", "",
        f"receipt builder, 1 process: {b['receipts']:,} receipts ({b['lines_per_receipt']} lines each on average) "
        f"from {b['events']:,} events in {b['seconds_best']} s: {b['receipts_per_s']:,} receipts/s "
        f"(target ≥ {TARGETS['receipts_built_per_s']:,})",
    ]
    for backend, r in results["backends"].items():
        q = r["queue"]
        lines.append(f"fiscal queue on {backend}: {q['receipts']:,} receipts stored in {q['store_seconds']} s; "
                     f"drained to the emulator in {q['drain_seconds']} s ({q['drained_per_s']:,}/s, target "
                     f"< {TARGETS['drain_1000_s']} s for 1,000); all registered: {q['all_registered']}, "
                     f"once and in order: {q['in_order_once']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 events, 300 receipts in the queue")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.out), args.quick)
        return
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    import django

    django.setup()
    results: dict[str, Any] = {"quick": args.quick, "machine": fb.describe_machine(), "targets": TARGETS,
                               "sizes": sizes(args.quick), "backends": {}}
    started = time.perf_counter()
    log("receipt builder")
    results["builder"] = bench_builder(args.quick)
    with tempfile.TemporaryDirectory(prefix="torg-bench-fiscal-") as tmp:
        var_dir = Path(tmp)
        for backend in args.backends.split(","):
            backend = backend.strip()
            if backend == "sqlite":
                log("SQLite (temporary file database)")
                results["backends"]["sqlite"] = run_child("sqlite", f"sqlite:///{var_dir / 'bench.sqlite3'}",
                                                          args.quick, var_dir)
            elif backend == "postgresql":
                if results["machine"]["postgresql"] is None:
                    log(f"PostgreSQL is not reachable at {fb.PG_ADMIN_URL}: skipped")
                    continue
                log(f"PostgreSQL (database {PG_BENCH_DB}, created and dropped here)")
                fb.pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
                fb.pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
                try:
                    results["backends"]["postgresql"] = run_child("postgresql", fb.pg_url(PG_BENCH_DB), args.quick,
                                                                  var_dir)
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
