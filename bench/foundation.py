"""The foundation benchmark (`make bench`): posting throughput, balance reads, the stock report, memory.

Prints a table with the machine's description and writes bench/results/foundation.json.

    .venv/bin/python bench/foundation.py            # full run (SQLite and PostgreSQL)
    .venv/bin/python bench/foundation.py --quick    # smaller: 1,000 + 1,000 documents, up to 100k movements
    .venv/bin/python bench/foundation.py --backends sqlite --skip-rss

Each database run happens in a child process of this script with its own database: a
temporary SQLite file (never var/), and on PostgreSQL a dedicated database `torg_bench`
that this script creates and drops. Nothing outside those databases is touched.

What is measured, per database:
  (a) posting through `torg.stock.services`, N purchases and then N transfers of 5 lines
      each (transfers only move goods the source warehouse holds, so none is refused), three ways:
      create + post in one transaction per document, one process; post only, of documents
      saved beforehand, one process; create + post by 4 processes at once, each with its own
      connection and its own quarter of the items (documents/s, ms and statements per document);
  (b) `Stock.balance(warehouse, item)` with 10k, 100k and 1M movements in the register
      (p50 / p95 over 1,000 calls on random keys). The history is generated with bulk SQL
      (INSERT … SELECT) straight into the benchmark database, then the kept and monthly
      totals are rebuilt from it with GROUP BY and checked with `verify_register`;
  (c) `Stock.balances_at(moment, …)` for one key at a random past moment (p50 / p95);
  (d) the stock report (`torg.reports.stock.build_stock_report`, 1,000 items × 5 warehouses):
      balances at a date and turnovers for a period (best and median of several runs);
and once: (e) peak memory (VmHWM) of a gunicorn web worker serving the demo company after
a login and a few pages including the stock report.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
RESULTS = ROOT / "bench" / "results" / "foundation.json"
PG_ADMIN_URL = os.environ.get("TORG_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "torg_bench"
TARGETS = {
    "posting_pg_docs_per_s": 300,
    "balance_p50_ms_at_1m": 2.0,
    "past_balance_p50_ms_at_1m": 50.0,
    "report_ms_at_1m": 500.0,
    "rss_mb": 300.0,
}


# ================================================================== helpers
def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed_ms(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())} UTC] {msg}", flush=True)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def pg_reachable() -> str | None:
    """The server version, or None when PostgreSQL does not answer."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception:  # noqa: BLE001 — any failure means "not available"
        return None


def pg_url(db: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db


ANALYZE_EVERY_S = 5


@contextlib.contextmanager
def fresh_statistics(database_url: str) -> Any:
    """Planner statistics kept fresh while a PostgreSQL run writes, as autovacuum's analyze keeps them on a normal
    server. Where the server runs with autovacuum off (these machines' servers do), a side process runs ANALYZE on
    the benchmark's database every ANALYZE_EVERY_S seconds: without it every plan is made for the tables as they
    were before the run (nearly empty), and scans that the statistics of a live database avoid grow with every
    document. Yields what the results record about it."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
        autovacuum = str(conn.execute("SHOW autovacuum").fetchone()[0])
    if autovacuum == "on":
        yield {"autovacuum": "on", "analyze": "by the server's autovacuum"}
        return
    loop = ("import sys, time, psycopg\n"
            "c = psycopg.connect(sys.argv[1], autocommit=True)\n"
            f"while True:\n    time.sleep({ANALYZE_EVERY_S})\n    c.execute('ANALYZE')\n")
    side = subprocess.Popen([sys.executable, "-c", loop, database_url])
    try:
        yield {"autovacuum": "off", "analyze": f"every {ANALYZE_EVERY_S} s by the benchmark (as autovacuum would)"}
    finally:
        side.terminate()
        side.wait(timeout=30)


def run_in_child(cmd: list[str], env: dict[str, str], out: Path, postgresql_url: str | None) -> dict[str, Any]:
    """Run a benchmark's child process and read the results it wrote to `out`; on PostgreSQL with the planner
    statistics kept fresh (`fresh_statistics`), recorded in the results."""
    with contextlib.ExitStack() as stack:
        kept = stack.enter_context(fresh_statistics(postgresql_url)) if postgresql_url else None
        subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    result = json.loads(out.read_text())
    if kept:
        result["statistics"] = kept
    return result


# ================================================================== machine
def reference_ms() -> float:
    """A fixed piece of pure-Python work (recursion, dicts, Decimal arithmetic), best of 5, in ms: how fast this
    machine runs Python at the moment. Machines of this kind swing by up to two times from hour to hour; the
    benchmarks record this figure when they start and when they end, so that runs from different hours can be
    compared."""
    from decimal import Decimal

    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def work() -> None:
        fib(22)
        rows = [{"line_no": k, "quantity": Decimal(k % 7) + Decimal("0.125"), "key": f"{k}|{k % 13}"}
                for k in range(20_000)]
        total = Decimal(0)
        for row in rows:
            total += (row["quantity"] * Decimal("1.22")).quantize(Decimal("0.01"))

    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


def machine_line(m: dict[str, Any]) -> str:
    """The machine as the benchmarks' tables print it, with the reference work's time at the start and end."""
    line = f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}"
    if m.get("reference_ms") is not None:
        line += f"; reference Python work {m['reference_ms']} ms at the start"
        if m.get("reference_ms_end") is not None:
            line += f", {m['reference_ms_end']} ms at the end"
        line += " (lower is faster)"
    return line


def describe_machine() -> dict[str, Any]:
    import sqlite3

    import django

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        ram_gb = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_reachable(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reference_ms": reference_ms(),
    }


# ========================================================== child: one database
def child(backend: str, out: Path, quick: bool) -> None:
    sys.path.insert(0, str(SRC))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torg.settings")
    os.environ.setdefault("TORG_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from torg.catalogs.models import Item, Organization, Partner, Unit, Warehouse

    assert connection.vendor == backend, (connection.vendor, backend)
    result: dict[str, Any] = {"backend": backend}
    call_command("migrate", verbosity=0)
    unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
    organization = Organization.objects.create(name="ООО «Бенчмарк»", prefix="БН", inn="7707083893")
    supplier = Partner.objects.create(name="Supplier", is_client=False, is_supplier=True)
    warehouses = [Warehouse.objects.create(name=f"Warehouse {n}") for n in range(5)]
    Item.objects.bulk_create([Item(name=f"Item {n:04d}", unit=unit) for n in range(1000)])
    items = list(Item.objects.order_by("pk"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a live database has them

    result["posting"] = bench_posting(organization, supplier, warehouses, items, quick)
    stages = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    result["reads"] = bench_reads(warehouses, items, stages)
    out.write_text(json.dumps(result, indent=2, default=str))


WORKERS = 4


class Holdings:
    """What each warehouse holds of each item, as the benchmark's own postings leave it, so that every
    transfer takes goods that are there (a transfer of goods that are not there is refused, and a refusal
    is not a posting)."""

    def __init__(self) -> None:
        self.quantity: dict[tuple[int, int], int] = {}

    def receive(self, warehouse: int, item: int, quantity: int) -> None:
        self.quantity[(warehouse, item)] = self.quantity.get((warehouse, item), 0) + quantity

    def pick(self, rng: random.Random, warehouse: int, items: list[int], count: int, most: int) -> list[int]:
        """`count` distinct items of `items` of which the warehouse holds at least `most`."""
        held = [i for i in items if self.quantity.get((warehouse, i), 0) >= most]
        assert len(held) >= count, f"warehouse {warehouse} holds too few items to transfer"
        return rng.sample(held, count)


def _plan_all(kinds: list[str], n_docs: int, rng: random.Random, holdings: Holdings, warehouses: list[int],
              items: list[int], year: int) -> list[tuple[str, list[tuple[Any, list[Any]]]]]:
    """The documents of one run, built before the clock starts: n of each kind, dated through the year."""
    start = timezone_aware(dt.datetime(year, 1, 2, 9))
    step = dt.timedelta(days=180) / n_docs
    planned = []
    for kind in kinds:
        offset = dt.timedelta(days=181) if kind == "transfer" else dt.timedelta(0)
        planned.append((kind, [_plan(kind, n, rng, holdings, warehouses, items, start + offset, step)
                               for n in range(n_docs)]))
    return planned


class Counting:
    """Counts the statements a process sends and the time spent in them (an execute wrapper)."""

    def __init__(self) -> None:
        self.queries = 0
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.queries += 1


def _plan(kind: str, n: int, rng: random.Random, holdings: Holdings, warehouses: list[int], items: list[int],
          start: dt.datetime, step: dt.timedelta) -> tuple[Any, list[Any]]:
    """An unsaved purchase or transfer and its 5 lines; the holdings are updated as if it were posted."""
    from torg.catalogs.models import VatRate
    from torg.stock.models import Purchase, PurchaseLine, Transfer, TransferLine

    warehouse = warehouses[n % len(warehouses)]
    if kind == "purchase":
        doc = Purchase(organization_id=_ctx["organization"], supplier_id=_ctx["supplier"], warehouse_id=warehouse,
                       date=start + step * n)
        lines = []
        for item in rng.sample(items, 5):
            lines.append(PurchaseLine(item_id=item, quantity=100, price=rng.choice((10, 55, 120)),
                                      vat_rate=VatRate.VAT_22))
            holdings.receive(warehouse, item, 100)
        return doc, lines
    target = warehouses[(n + 1) % len(warehouses)]
    doc = Transfer(organization_id=_ctx["organization"], warehouse_from_id=warehouse, warehouse_to_id=target,
                   date=start + step * n)
    lines = []
    for item in holdings.pick(rng, warehouse, items, 5, 3):
        quantity = rng.randint(1, 3)
        lines.append(TransferLine(item_id=item, quantity=quantity))
        holdings.receive(warehouse, item, -quantity)
        holdings.receive(target, item, quantity)
    return doc, lines


_ctx: dict[str, Any] = {}


def _create_and_post(planned: list[tuple[str, list[tuple[Any, list[Any]]]]]) -> dict[str, Any]:
    """Create and post the planned documents, kind after kind, each with `save_stock_document(..., post=True)`:
    one transaction per document, as the API and the "Save and post" button do."""
    from django.db import connection

    from torg.core.errors import CoreError
    from torg.stock import services

    counting = Counting()
    out: dict[str, Any] = {"refused": 0}
    with connection.execute_wrapper(counting):
        for kind, documents in planned:
            t0 = time.perf_counter()
            for doc, lines in documents:
                try:
                    services.save_stock_document(doc, lines, post=True)
                except CoreError:
                    out["refused"] += 1  # still a full attempt, counted in the time
            out[f"{kind}_s"] = time.perf_counter() - t0
    out["queries"], out["db_s"] = counting.queries, counting.seconds
    return out


def timezone_aware(value: dt.datetime) -> dt.datetime:
    from django.utils import timezone

    return timezone.make_aware(value)


def _figures(n_docs: int, seconds: dict[str, float], queries: int, db_s: float, refused: int) -> dict[str, Any]:
    total_s = sum(seconds.values())
    docs = n_docs * len(seconds)
    return {
        "documents": docs,
        **{f"{kind}s_per_s": round(n_docs / s, 1) for kind, s in seconds.items()},
        "documents_per_s": round(docs / total_s, 1),
        "seconds": round(total_s, 1),
        "ms_per_document": round(total_s * 1000 / docs, 2),
        "ms_per_document_in_database_calls": round(db_s * 1000 / docs, 2),
        "queries_per_document": round(queries / docs, 1),
        "refused": refused,
    }


def _worker(index: int, n_docs: int, items: list[int], warehouses: list[int], holdings: Holdings, year: int,
            go: Any, results: Any) -> None:
    """One of the concurrent posting processes: its own connection, its own items (disjoint documents)."""
    from django.db import connections

    try:
        planned = _plan_all(["purchase", "transfer"], n_docs, random.Random(100 + index), holdings, warehouses,
                            items, year)
        go.wait()
        t0 = time.perf_counter()
        out = _create_and_post(planned)
        out["elapsed_s"] = time.perf_counter() - t0
        results.put((index, out))
    except BaseException as exc:  # noqa: BLE001 — the parent reports it
        results.put((index, {"error": repr(exc)}))
    finally:
        connections.close_all()


def bench_posting(organization: Any, supplier: Any, warehouses: list[Any], items: list[Any],
                  quick: bool) -> dict[str, Any]:
    import multiprocessing

    from django.db import connection, connections

    from torg.stock import services

    n_docs = 1_000 if quick else 10_000
    _ctx.update(organization=organization.pk, supplier=supplier.pk)
    w_ids, i_ids = [w.pk for w in warehouses], [i.pk for i in items]
    holdings = Holdings()
    result: dict[str, Any] = {
        "documents": 2 * n_docs,
        "lines_per_document": 5,
        "document_kinds": f"{n_docs:,} purchases, then {n_docs:,} transfers of goods the source warehouse holds",
        "target_compared_with": "concurrent.documents_per_s (PostgreSQL): a server posts from several processes",
    }

    # (1) Create and post, one process.
    log(f"  create + post, 1 process: {n_docs:,} purchases, then {n_docs:,} transfers")
    rng = random.Random(1)
    out = _create_and_post(_plan_all(["purchase", "transfer"], n_docs, rng, holdings, w_ids, i_ids, 2021))
    result["create_and_post"] = {
        "what": "save_stock_document(..., post=True) per document: one transaction creates and posts it; "
                "1 process, 1 connection",
        **_figures(n_docs, {"purchase": out["purchase_s"], "transfer": out["transfer_s"]}, out["queries"],
                   out["db_s"], out["refused"]),
    }
    log(f"    {result['create_and_post']['documents_per_s']} documents/s, refused {out['refused']}")

    # (2) Post only: the same kinds of documents, saved beforehand (not timed), then posted.
    log(f"  post only, 1 process: saving {n_docs:,} + {n_docs:,} documents first")
    saved: dict[str, list[Any]] = {}
    for kind, documents in _plan_all(["purchase", "transfer"], n_docs, rng, holdings, w_ids, i_ids, 2022):
        saved[kind] = []
        for doc, lines in documents:
            services.save_stock_document(doc, lines)
            saved[kind].append(type(doc)(pk=doc.pk))  # the caller knows the document by its id only
    counting, seconds, refused = Counting(), {}, 0
    from torg.core.errors import CoreError

    with connection.execute_wrapper(counting):
        for kind, docs in saved.items():
            t0 = time.perf_counter()
            for doc in docs:
                try:
                    services.post(doc)
                except CoreError:
                    refused += 1
            seconds[kind] = time.perf_counter() - t0
    result["post_only"] = {
        "what": "services.post(document) of documents saved before (not timed): one transaction locks the "
                "document, reads its lines and writes the registers; 1 process, 1 connection",
        **_figures(n_docs, seconds, counting.queries, counting.seconds, refused),
    }
    log(f"    {result['post_only']['documents_per_s']} documents/s, refused {refused}")

    # (3) Create and post, several processes at once.
    per_worker = n_docs // WORKERS
    log(f"  create + post, {WORKERS} processes: {per_worker:,} purchases, then {per_worker:,} transfers each")
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    connections.close_all()  # each process opens its own connection
    chunks = [i_ids[k::WORKERS] for k in range(WORKERS)]
    workers = [context.Process(target=_worker, args=(k, per_worker, chunks[k], w_ids, holdings, 2023, go, results))
               for k in range(WORKERS)]
    for w in workers:
        w.start()
    time.sleep(2)  # let every process reach the start line
    t0 = time.perf_counter()
    go.set()
    outs = dict(results.get(timeout=7200) for _ in workers)
    wall_s = time.perf_counter() - t0
    for w in workers:
        w.join(timeout=60)
    errors = [o["error"] for o in outs.values() if "error" in o]
    assert not errors, errors
    docs = 2 * per_worker * WORKERS
    queries = sum(o["queries"] for o in outs.values())
    db_s = sum(o["db_s"] for o in outs.values())
    busy_s = sum(o["elapsed_s"] for o in outs.values())
    result["concurrent"] = {
        "what": f"{WORKERS} processes at once, each its own connection, each creating and posting "
                f"{per_worker:,} purchases then {per_worker:,} transfers (save_stock_document(..., post=True)) "
                f"of its own quarter of the items; all share the organization (one number sequence per "
                f"document type), the warehouses and the tables",
        "workers": WORKERS,
        "documents": docs,
        "documents_per_s": round(docs / wall_s, 1),
        "seconds": round(wall_s, 1),
        "ms_per_document_per_process": round(busy_s * 1000 / docs, 2),
        "ms_per_document_in_database_calls": round(db_s * 1000 / docs, 2),
        "queries_per_document": round(queries / docs, 1),
        "refused": sum(o["refused"] for o in outs.values()),
        "per_process_s": [round(outs[k]["elapsed_s"], 1) for k in sorted(outs)],
    }
    log(f"    {result['concurrent']['documents_per_s']} documents/s, refused {result['concurrent']['refused']}")
    return result


def _local_month_sql(vendor: str) -> str:
    from django.conf import settings

    if vendor == "postgresql":
        return f"(date_trunc('month', period AT TIME ZONE '{settings.TIME_ZONE}'))::date"
    # SQLite keeps UTC text; the project's zone must have one fixed offset over the generated year.
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.TIME_ZONE)
    offsets = {dt.datetime(2025, m, 1, tzinfo=zone).utcoffset() for m in range(1, 13)}
    assert len(offsets) == 1, f"{settings.TIME_ZONE} changes its offset in 2025: extend _local_month_sql"
    minutes = int(next(iter(offsets)).total_seconds() // 60)
    return f"date(period, '{minutes:+d} minutes', 'start of month')"


def generate_history(lo: int, hi: int, warehouses: list[Any], items: list[Any]) -> None:
    """Insert movements lo..hi-1 of a synthetic year (2025) into the Stock register, with bulk SQL.

    Movement n belongs to item n % 1000 at warehouse (n // 1000) % 5; each key gets one movement per
    round of 5,000; rounds 0-2 of every 5 are receipts of 3, the others expenses of 2, so every key
    ends positive. Periods are spread over the year by a fixed permutation of the seconds."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from torg.stock.models import Purchase, StockMovement

    w_ids, i_ids = [w.pk for w in warehouses], [i.pk for i in items]
    assert w_ids == list(range(w_ids[0], w_ids[0] + 5)) and i_ids == list(range(i_ids[0], i_ids[0] + 1000))
    w0, i0 = w_ids[0], i_ids[0]
    ct = ContentType.objects.get_for_model(Purchase).pk
    table = StockMovement._meta.db_table
    cols = "recorder_type_id, recorder_id, line_no, period, record_type, key, warehouse_id, item_id, quantity, free"
    receipt = "((n / 5000) % 5 < 3)"
    if connection.vendor == "postgresql":
        sql = f"""
            INSERT INTO {table} ({cols})
            SELECT {ct}, 1000000000 + n / 5, n % 5 + 1,
                   timestamptz '2025-01-01 00:00:00+00' + ((n::bigint * 7919) % 31536000) * interval '1 second',
                   CASE WHEN {receipt} THEN 1 ELSE -1 END,
                   ({w0} + (n / 1000) % 5)::text || '|' || ({i0} + n % 1000)::text,
                   {w0} + (n / 1000) % 5, {i0} + n % 1000,
                   CASE WHEN {receipt} THEN 3 ELSE 2 END, CASE WHEN {receipt} THEN 3 ELSE 2 END
            FROM generate_series({lo}, {hi - 1}) AS n"""
    else:
        sql = f"""
            WITH RECURSIVE seq(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM seq WHERE n < {hi - 1})
            INSERT INTO {table} ({cols})
            SELECT {ct}, 1000000000 + n / 5, n % 5 + 1,
                   datetime('2025-01-01 00:00:00', '+' || ((n * 7919) % 31536000) || ' seconds'),
                   CASE WHEN {receipt} THEN 1 ELSE -1 END,
                   ({w0} + (n / 1000) % 5) || '|' || ({i0} + n % 1000),
                   {w0} + (n / 1000) % 5, {i0} + n % 1000,
                   CASE WHEN {receipt} THEN 3 ELSE 2 END, CASE WHEN {receipt} THEN 3 ELSE 2 END
            FROM seq"""
    with connection.cursor() as cursor:
        cursor.execute(sql)


def rebuild_totals() -> None:
    """Kept and monthly totals of the Stock register from its movements (GROUP BY), in the bench database."""
    from django.db import connection

    from torg.stock.models import StockMonthlyTotal, StockMovement, StockTotal

    mv, tot, mon = StockMovement._meta.db_table, StockTotal._meta.db_table, StockMonthlyTotal._meta.db_table
    month = _local_month_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {tot}")
        cursor.execute(f"DELETE FROM {mon}")
        cursor.execute(f"""
            INSERT INTO {tot} (key, warehouse_id, item_id, quantity, free)
            SELECT key, warehouse_id, item_id, SUM(quantity * record_type), SUM(free * record_type) FROM {mv}
            GROUP BY key, warehouse_id, item_id""")
        cursor.execute(f"""
            INSERT INTO {mon} (month, key, warehouse_id, item_id, quantity_receipt, quantity_expense,
                               free_receipt, free_expense)
            SELECT {month}, key, warehouse_id, item_id,
                   SUM(CASE WHEN record_type = 1 THEN quantity ELSE 0 END),
                   SUM(CASE WHEN record_type = -1 THEN quantity ELSE 0 END),
                   SUM(CASE WHEN record_type = 1 THEN free ELSE 0 END),
                   SUM(CASE WHEN record_type = -1 THEN free ELSE 0 END)
            FROM {mv} GROUP BY {month}, key, warehouse_id, item_id""")
        cursor.execute("ANALYZE")


def bench_reads(warehouses: list[Any], items: list[Any], stages: list[int]) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from torg.core.posting import verify_register
    from torg.reports.stock import Mode, StockReportParams, build_stock_report
    from torg.stock.models import Stock, StockMonthlyTotal, StockMovement, StockTotal

    # The posting run's history is removed: the stages below have exactly the stated number of movements.
    with connection.cursor() as cursor:
        for model in (StockMovement, StockTotal, StockMonthlyTotal):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")
    rng = random.Random(2)
    out: dict[str, Any] = {"history": "generated with bulk INSERT … SELECT into the benchmark database; "
                                      "totals rebuilt with GROUP BY and checked by verify_register",
                           "stages": []}
    done = 0
    for target in stages:
        log(f"  generating movements {done:,} → {target:,}")
        t0 = time.perf_counter()
        with transaction.atomic():
            generate_history(done, target, warehouses, items)
            rebuild_totals()
        generate_s = time.perf_counter() - t0
        done = target
        assert StockMovement.objects.count() == target
        t0 = time.perf_counter()
        mismatches = verify_register(Stock)
        verify_s = time.perf_counter() - t0
        assert mismatches == [], mismatches[:5]

        keys = [(rng.choice(warehouses).pk, rng.choice(items).pk) for _ in range(1000)]
        for w, i in keys[:50]:  # warm-up
            Stock.balance(warehouse=w, item=i)
        now_ms = []
        for w, i in keys:
            t0 = time.perf_counter()
            Stock.balance(warehouse=w, item=i)
            now_ms.append((time.perf_counter() - t0) * 1000)
        stage: dict[str, Any] = {
            "movements": target,
            "generate_s": round(generate_s, 1),
            "verify_register_s": round(verify_s, 1),
            "balance_p50_ms": round(percentile(now_ms, 50), 3),
            "balance_p95_ms": round(percentile(now_ms, 95), 3),
        }
        log(f"  balance at {target:,}: p50 {stage['balance_p50_ms']} ms")
        if target == stages[-1]:
            past_ms = []
            for _ in range(300):
                w, i = rng.choice(warehouses).pk, rng.choice(items).pk
                moment = timezone.make_aware(dt.datetime(2025, rng.randint(2, 12), rng.randint(2, 27),
                                                         rng.randint(0, 23), rng.randint(0, 59)))
                t0 = time.perf_counter()
                Stock.balances_at(moment, ["warehouse", "item"], warehouse=w, item=i)
                past_ms.append((time.perf_counter() - t0) * 1000)
            stage["past_balance_p50_ms"] = round(percentile(past_ms, 50), 3)
            stage["past_balance_p95_ms"] = round(percentile(past_ms, 95), 3)
            log(f"  past balance at {target:,}: p50 {stage['past_balance_p50_ms']} ms")

            def balance_report() -> Any:
                return build_stock_report(StockReportParams(mode=Mode.BALANCE, date=dt.date(2025, 9, 17)))

            def turnover_report() -> Any:
                return build_stock_report(StockReportParams(mode=Mode.TURNOVER, start=dt.date(2025, 8, 5),
                                                            end=dt.date(2025, 10, 20)))

            rows_b, rows_t = len(balance_report().rows), len(turnover_report().rows)
            b_ms, t_ms = timed_ms(balance_report, 5), timed_ms(turnover_report, 5)
            stage["report"] = {
                "function": "torg.reports.stock.build_stock_report",
                "balance_at_date_rows": rows_b,
                "balance_at_date_ms_median": round(statistics.median(b_ms), 1),
                "balance_at_date_ms_best": round(min(b_ms), 1),
                "turnover_rows": rows_t,
                "turnover_ms_median": round(statistics.median(t_ms), 1),
                "turnover_ms_best": round(min(t_ms), 1),
            }
            log(f"  report at {target:,}: balance {stage['report']['balance_at_date_ms_median']} ms, "
                f"turnover {stage['report']['turnover_ms_median']} ms")
        out["stages"].append(stage)
    return out


# ============================================================ parent: orchestration
def run_child(backend: str, database_url: str, quick: bool, var_dir: Path) -> dict[str, Any]:
    out = var_dir / f"result-{backend}.json"
    env = {**os.environ, "DATABASE_URL": database_url, "TORG_VAR_DIR": str(var_dir),
           "DJANGO_DEBUG": "0", "PYTHONPATH": str(SRC)}
    env.pop("TORG_TEST_DATABASE_URL", None)
    cmd = [sys.executable, __file__, "--child", backend, "--out", str(out)] + (["--quick"] if quick else [])
    return run_in_child(cmd, env, out, database_url if backend == "postgresql" else None)


def measure_rss(var_dir: Path, quick: bool) -> dict[str, Any]:
    """Start gunicorn on a demo database, log in, open a few pages, read the worker's VmHWM."""
    import requests

    db = var_dir / "demo.sqlite3"
    (var_dir / "static").mkdir(exist_ok=True)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "TORG_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "0",
           "PYTHONPATH": str(SRC), "TORG_LOG_LEVEL": "WARNING"}
    env.pop("TORG_TEST_DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    log("  loading the demo company into a temporary SQLite database")
    t0 = time.perf_counter()
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "load_demo"], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    load_s = time.perf_counter() - t0
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = subprocess.Popen([gunicorn, "torg.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning"], env=env, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                requests.get(f"{base}/login/", timeout=5)
                break
            except requests.ConnectionError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.3)
        session = requests.Session()
        login = session.get(f"{base}/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert token, "no CSRF token on the login page"
        response = session.post(f"{base}/login/", data={"username": "admin", "password": "demo",
                                                         "csrfmiddlewaretoken": token.group(1)},
                                headers={"Referer": f"{base}/login/"}, timeout=30)
        assert response.ok and "login" not in response.url, f"login failed: {response.status_code} {response.url}"
        pages = ["/", "/reports/stock/", "/reports/stock/?mode=turnover", "/reports/stock/?mode=cost",
                 "/reports/stock/?format=xlsx", "/catalogs/items/", "/catalogs/partners/", "/stock/purchases/",
                 "/api/v1/openapi.json"]
        statuses = {}
        for _ in range(3):
            for page in pages:
                statuses[page] = session.get(base + page, timeout=120).status_code
        workers = [pid for pid in _children(server.pid)]
        hwm = {pid: _vm_hwm_kb(pid) for pid in [server.pid, *workers]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    worker_mb = max((hwm[p] for p in workers), default=0) / 1024
    return {
        "server": "gunicorn torg.wsgi --workers 1 (SQLite demo database)",
        "demo_load_s": round(load_s, 1),
        "demo": "load_demo (full scale: 1,000 items, 300 partners, 12 months)",
        "pages": statuses,
        "worker_vm_hwm_mb": round(worker_mb, 1),
        "master_vm_hwm_mb": round(hwm[server.pid] / 1024, 1),
    }


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _vm_hwm_kb(pid: int) -> int:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) if m else 0


# ================================================================== the table
def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "torg foundation benchmark" + (" (--quick)" if results["quick"] else ""),
        machine_line(m),
        f"software: Python {m['python']}, Django {m['django']}, SQLite {m['sqlite']}, "
        f"PostgreSQL {m['postgresql'] or 'not available'}",
        "",
    ]
    backends = [b for b in ("sqlite", "postgresql") if b in results["backends"]]
    head = f"{'measure':<58}" + "".join(f"{b:>14}" for b in backends) + f"{'target':>16}"
    lines += [head, "-" * len(head)]

    def row(label: str, getter: Any, target: str = "") -> None:
        cells = []
        for b in backends:
            try:
                value = getter(results["backends"][b])
            except (KeyError, IndexError, TypeError):
                value = None
            cells.append(f"{'—' if value is None else value:>14}")
        lines.append(f"{label:<58}" + "".join(cells) + f"{target:>16}")

    posting = next(iter(results["backends"].values()))["posting"]
    n = posting["documents"] // 2
    workers = posting["concurrent"]["workers"]
    lines.append(f"posting {n:,} purchases + {n:,} transfers × 5 lines, documents/s:")
    for key, label, target in (("create_and_post", "create + post (one transaction each), 1 process", ""),
                               ("post_only", "post only (documents saved before), 1 process", "")):
        row(f"  {label}", lambda r, key=key: r["posting"][key]["documents_per_s"], target)
        row("    purchases/s / transfers/s",
            lambda r, key=key: f"{r['posting'][key]['purchases_per_s']} / {r['posting'][key]['transfers_per_s']}")
        row("    ms per document / of it in database calls",
            lambda r, key=key: f"{r['posting'][key]['ms_per_document']:.2f} / "
                               f"{r['posting'][key]['ms_per_document_in_database_calls']:.2f}")
        row("    statements per document", lambda r, key=key: r["posting"][key]["queries_per_document"])
    row(f"  create + post, {workers} processes at once", lambda r: r["posting"]["concurrent"]["documents_per_s"],
        "≥ 300 (PG)")
    row("    ms per document in each process / in database calls",
        lambda r: f"{r['posting']['concurrent']['ms_per_document_per_process']:.2f} / "
                  f"{r['posting']['concurrent']['ms_per_document_in_database_calls']:.2f}")
    row("  refused postings (transfers short of stock), all runs",
        lambda r: sum(r["posting"][k]["refused"] for k in ("create_and_post", "post_only", "concurrent")))
    stages = next(iter(results["backends"].values()))["reads"]["stages"]
    for i, st in enumerate(stages):
        last = i == len(stages) - 1
        row(f"balance now, p50 / p95 ms, {st['movements']:,} movements",
            lambda r, i=i: f"{r['reads']['stages'][i]['balance_p50_ms']:.2f} / "
                           f"{r['reads']['stages'][i]['balance_p95_ms']:.2f}",
            "p50 < 2 at 1M" if last else "")
    last = len(stages) - 1
    mv = f"{stages[-1]['movements']:,}"
    row(f"balance at a past date, one key, p50 / p95 ms, {mv} mv.",
        lambda r: f"{r['reads']['stages'][last]['past_balance_p50_ms']:.1f} / "
                  f"{r['reads']['stages'][last]['past_balance_p95_ms']:.1f}", "p50 < 50")
    row(f"stock report, balance at a date, ms (median), {mv} mv.",
        lambda r: r["reads"]["stages"][last]["report"]["balance_at_date_ms_median"], "< 500")
    row(f"stock report, turnover for a period, ms (median), {mv} mv.",
        lambda r: r["reads"]["stages"][last]["report"]["turnover_ms_median"], "< 500")
    row("  report rows (warehouse × item)",
        lambda r: r["reads"]["stages"][last]["report"]["balance_at_date_rows"])
    lines.append("-" * len(head))
    rss = results.get("rss")
    if rss:
        lines.append(f"{'peak memory (VmHWM) of the gunicorn worker after the demo, MB':<58}"
                     f"{rss['worker_vm_hwm_mb']:>14}{'':>14}{'< 300':>16}")
    lines.append("")
    lines.append("Posting: every document has 5 lines; purchases bring 100 of 5 random items (of 1,000) to one of 5 "
                 "warehouses, transfers move 1-3 of 5 items the source warehouse holds to the next one. "
                 "Throughput is documents / wall-clock seconds. Statements are those Django sends (on PostgreSQL "
                 "BEGIN and COMMIT come on top). "
                 f"The {workers} processes each use their own connection and their own quarter of the items, "
                 "and share the organization's number sequence, the warehouses and the tables.")
    lines.append("Bulk history: " + next(iter(results["backends"].values()))["reads"]["history"] + ".")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 + 1,000 documents; up to 100k movements")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--skip-rss", action="store_true", help="do not measure the web server's memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.out), args.quick)
        return

    sys.path.insert(0, str(SRC))
    results: dict[str, Any] = {"quick": args.quick, "machine": describe_machine(), "backends": {},
                               "targets": TARGETS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="torg-bench-") as tmp:
        var_dir = Path(tmp)
        for backend in args.backends.split(","):
            backend = backend.strip()
            if backend == "sqlite":
                log("SQLite (temporary file database)")
                results["backends"]["sqlite"] = run_child("sqlite", f"sqlite:///{var_dir / 'bench.sqlite3'}",
                                                          args.quick, var_dir)
            elif backend == "postgresql":
                if results["machine"]["postgresql"] is None:
                    log(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: skipped")
                    continue
                log(f"PostgreSQL (database {PG_BENCH_DB}, created and dropped here)")
                pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
                pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
                try:
                    results["backends"]["postgresql"] = run_child("postgresql", pg_url(PG_BENCH_DB), args.quick,
                                                                  var_dir)
                finally:
                    pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            else:
                parser.error(f"unknown backend {backend!r}: use sqlite and/or postgresql")
        if not args.skip_rss:
            log("web server memory")
            results["rss"] = measure_rss(var_dir, args.quick)
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["reference_ms_end"] = reference_ms()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} in {results['total_s']} s")


if __name__ == "__main__":
    main()
