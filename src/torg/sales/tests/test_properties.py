"""Order-to-cash invariants under random interleavings of operations (hypothesis).

A small company — 2 organizations, 2 clients (one with a credit limit), 2 goods and a service, 2 warehouses with
a little stock, a manager and a sales director — goes through random sequences of: orders (with random lines,
securing and payment schedules) created and posted, submitted, released, reserved, edited, approved or rejected,
closed; shipments from the backlog or made by hand (with order lines, goods beyond the order, or without an order);
payments (allocated automatically, to one order, or kept as an advance; with repeated idempotency keys); refunds;
unposting and re-posting of orders, shipments, payments, refunds and advance offsets. One operation a day, so
payment terms fall due and the overdue-debt stop comes into play.

After every operation:

* every register's kept and monthly totals equal the sum of its movements (`verify_register`);
* per organization and client: ClientSettlements (shipped − paid) − ClientAdvances equals Σ posted shipments
  (with VAT) − Σ posted payments + Σ posted refunds, and each settlement object (order, shipment without order)
  holds exactly what the posted documents say it should;
* no order line is shipped above its ordered quantity;
* no controlled balance is negative (Stock quantity and free, Reserves, OrderBacklog, ClientAdvances, Funds);
  a refund never takes more than the advance;
* stock on hand and free stock equal purchases − posted shipments and on hand − reserves;
* Funds per organization equal Σ payments − Σ refunds;
* each posted document's movements are exactly `movements()` of its current state;
* each order's kept computed state equals a fresh evaluation from the registers;
* a refused operation (or a repeated idempotency key) changes nothing at all.

Each hypothesis example runs inside a savepoint that is rolled back; the catalogs are made once per test.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torg.catalogs.models import (
    BankAccount,
    CashDesk,
    Item,
    ItemKind,
    ItemPrice,
    Organization,
    Partner,
    PriceType,
    Unit,
    Warehouse,
)
from torg.core.documents import unpost_document
from torg.core.errors import CoreError
from torg.core.models import ChangeLogEntry, DocumentLink, Job, NumberSequence, SystemSettings
from torg.core.permissions import Role
from torg.core.posting import verify_register
from torg.core.registers import Register
from torg.payments.models import (
    Funds,
    FundsTotal,
    IncomingPayment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
)
from torg.payments.services import open_items, refund, register_payment
from torg.sales import services
from torg.sales.models import (
    AdvanceOffset,
    AdvanceOffsetLine,
    AgreementKind,
    AgreementStatus,
    ClientAdvances,
    ClientAdvancesTotal,
    ClientSettlements,
    ClientSettlementsTotal,
    GoodsToIssue,
    OrderApproval,
    OrderBacklog,
    OrderBacklogTotal,
    OrderPaymentStage,
    OrderState,
    OrderStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    Reserves,
    ReservesTotal,
    SalesOrder,
    SalesOrderLine,
    SalesTurnover,
    Securing,
    Shipment,
    ShipmentLine,
    StageKind,
    TradeAgreement,
)
from torg.sales.states import collect_figures, evaluate
from torg.stock.models import Purchase, PurchaseLine, Stock, StockCost, StockTotal
from torg.stock.services import save_stock_document

pytestmark = pytest.mark.django_db

D = Decimal
ZERO = D(0)
REGISTERS: tuple[Register, ...] = (Stock, StockCost, Reserves, OrderBacklog, ClientSettlements, ClientAdvances,
                                   SalesTurnover, GoodsToIssue, Funds)
# Registers whose movements do not depend on the moment of posting (the cost of goods does).
EXACT_REGISTERS = (Stock, Reserves, OrderBacklog, ClientSettlements, ClientAdvances, GoodsToIssue, Funds)
LIST_PRICES = [D("100.00"), D("33.33"), D("500.00")]  # two goods and a service
PURCHASED = {0: 8, 1: 4}  # per organization: units of each good bought into each warehouse
BASE = timezone.make_aware(dt.datetime(2026, 3, 2, 10))

# Payment schedules an order may have: none, the agreement's, and others (a deviation for the agreement).
SCHEDULES: list[list[tuple[str, str, int]]] = [
    [],
    [(StageKind.CREDIT, "100", 5)],
    [(StageKind.ADVANCE, "30", 1), (StageKind.PREPAYMENT, "40", 3), (StageKind.CREDIT, "30", 10)],
    [(StageKind.PREPAYMENT, "100", 0)],
    [(StageKind.ADVANCE, "50", 0), (StageKind.CREDIT, "50", 2)],
]


# ================================================================= strategies
users = st.sampled_from(["manager", "director"])
idx = st.integers(0, 30)
# An order to act on: any order made so far, or (more often) one that the operation fits, so that sequences get
# through to shipments and payments instead of being refused at the first step.
order_ref = st.tuples(st.sampled_from(["any", "fit", "fit"]), idx)
line_st = st.tuples(st.integers(0, 2), st.integers(1, 4), st.sampled_from(["list", "lower"]),
                    st.sampled_from([None, 0, 1]), st.sampled_from([Securing.NONE, Securing.RESERVE, Securing.SHIP]))
order_op = st.tuples(st.just("order"), st.integers(0, 1), st.integers(0, 1),
                     st.lists(line_st, min_size=1, max_size=3), st.integers(0, len(SCHEDULES) - 1), users,
                     st.booleans())
submit_op = st.tuples(st.just("submit"), order_ref, users)
release_op = st.tuples(st.just("release"), order_ref, users)
reserve_op = st.tuples(st.just("reserve"), order_ref, users)
edit_op = st.tuples(st.just("edit"), order_ref, idx, st.integers(1, 5), users)
approve_op = st.tuples(st.just("approve"), st.booleans())
close_op = st.tuples(st.just("close"), order_ref, users)
pick_st = st.tuples(order_ref, idx, st.sampled_from([None, None, "1", "2", "20"]))
ship_op = st.tuples(st.just("ship"), st.lists(pick_st, min_size=1, max_size=2), users)
ship_direct_op = st.tuples(st.just("ship_direct"), order_ref,
                           st.lists(st.tuples(idx, st.sampled_from(["1", "2", "9"])), min_size=0, max_size=2),
                           st.sampled_from([False, False, True]), users)
sell_op = st.tuples(st.just("sell"), st.integers(0, 1), st.integers(0, 1),
                    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(0, 1)), min_size=1,
                             max_size=2), st.integers(0, 3), users)
pay_op = st.tuples(st.just("pay"), st.integers(0, 1), st.integers(0, 1),
                   st.sampled_from(["auto", "advance", "order"]), order_ref,
                   st.sampled_from(["all", "rest", "half", "over", "100.00", "333.33"]),
                   st.sampled_from([PaymentMethod.CASH, PaymentMethod.BANK]),
                   st.sampled_from([None, None, "p1", "p2", "p3"]))
refund_op = st.tuples(st.just("refund"), st.integers(0, 1), st.integers(0, 1), st.sampled_from(["all", "over", "10"]),
                      st.sampled_from([PaymentMethod.CASH, PaymentMethod.BANK]), st.sampled_from([None, "r1"]))
unpost_op = st.tuples(st.just("unpost"), st.sampled_from(["shipment", "payment", "refund", "order", "offset"]), idx)
repost_op = st.tuples(st.just("repost"), st.sampled_from(["shipment", "order"]), idx, users)

operations = st.tuples(
    st.lists(order_op, min_size=1, max_size=3),
    st.lists(st.one_of(order_op, submit_op, submit_op, release_op, release_op, reserve_op, edit_op, approve_op,
                       close_op, ship_op, ship_op, ship_op, ship_op, ship_direct_op, sell_op, pay_op, pay_op, pay_op,
                       pay_op, refund_op, unpost_op, unpost_op, repost_op),
             min_size=3, max_size=22),
).map(lambda parts: parts[0] + parts[1])


# ====================================================================== world
@dataclass
class World:
    organizations: list[Organization]
    clients: list[Partner]
    items: list[Item]
    warehouses: list[Warehouse]
    cash_desks: list[CashDesk]
    bank_accounts: list[BankAccount]
    agreement: TradeAgreement
    users: dict[str, Any]


@pytest.fixture
def world(db: Any, role_user: Any) -> World:
    unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
    organizations = [
        Organization.objects.create(name="ООО «Ромашка»", prefix="РМ", inn="7707083893", kpp="773601001"),
        Organization.objects.create(name="ИП Северов", prefix="ИП", inn="500100732259", vat_payer=False),
    ]
    clients = [Partner.objects.create(name="Client A", is_client=True),
               Partner.objects.create(name="Client B", is_client=True, credit_limit=D("600.00"))]
    items = [Item.objects.create(name="Milk", unit=unit), Item.objects.create(name="Bread", unit=unit),
             Item.objects.create(name="Delivery", unit=unit, kind=ItemKind.SERVICE)]
    warehouses = [Warehouse.objects.create(name="Central"), Warehouse.objects.create(name="North")]
    supplier = Partner.objects.create(name="Supplier", is_client=False, is_supplier=True)
    for org in organizations:
        for w in warehouses:
            doc = Purchase(organization=org, warehouse=w, supplier=supplier,
                           date=timezone.make_aware(dt.datetime(2026, 2, 25, 9)))
            save_stock_document(doc, [PurchaseLine(item=i, quantity=D(PURCHASED[organizations.index(org)]),
                                                   price=D(40), vat_rate=i.vat_rate) for i in items[:2]], post=True)
    price_type = PriceType.objects.create(name="Wholesale")
    for item, price in zip(items, LIST_PRICES, strict=True):
        ItemPrice.objects.create(price_type=price_type, item=item, valid_from=dt.date(2026, 1, 1), price=price)
    schedule = PaymentSchedule(name="Credit 5 days")
    services.save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.CREDIT, percent=D(100), days=5)])
    agreement = TradeAgreement.objects.create(
        name="Wholesale", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE, organization=organizations[0],
        price_type=price_type, max_manual_discount=D(5), payment_schedule=schedule, warehouse=warehouses[0])
    return World(
        organizations=organizations, clients=clients, items=items, warehouses=warehouses,
        cash_desks=[CashDesk.objects.create(organization=o, name=f"Till {n}") for n, o in enumerate(organizations)],
        bank_accounts=[BankAccount.objects.create(organization=o, name=f"Account {n}",
                                                  number=f"4070281090000000000{n}", bik="044525225")
                       for n, o in enumerate(organizations)],
        agreement=agreement,
        users={"manager": role_user(Role.SALES_MANAGER, "manager"),
               "director": role_user(Role.SALES_DIRECTOR, "director")},
    )


@dataclass
class Run:
    """What an example has made so far (ids), and the idempotency keys already used."""

    orders: list[int] = field(default_factory=list)
    shipments: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)
    refunds: list[int] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


# ================================================================= snapshots
SNAPSHOT_MODELS: list[type] = [
    SalesOrder, SalesOrderLine, OrderPaymentStage, OrderState, OrderApproval, Shipment, ShipmentLine,
    IncomingPayment, PaymentAllocation, Refund, AdvanceOffset, AdvanceOffsetLine, DocumentLink, NumberSequence, Job,
]
for _register in REGISTERS:
    SNAPSHOT_MODELS += [m for m in (_register.movement_model, _register.total_model, _register.monthly_model) if m]


def _snapshot() -> dict[str, Any]:
    """Every row a sales operation can write, to compare before and after a refusal."""
    state: dict[str, Any] = {}
    for model in SNAPSHOT_MODELS:
        names = [f.attname for f in model._meta.concrete_fields]
        state[model._meta.label] = sorted(model.objects.values_list(*names), key=lambda r: r[0])
    state["change_log"] = ChangeLogEntry.objects.count()
    return state


# ================================================================ operations
def _when(step: int) -> dt.datetime:
    return BASE + dt.timedelta(days=step)


def _pick(ids: list[int], n: int) -> int | None:
    return ids[n % len(ids)] if ids else None


def _with_backlog(order_id: int | None = None) -> dict[int, list[int]]:
    """Orders with lines left to ship: order → line codes."""
    qs = OrderBacklogTotal.objects.filter(quantity__gt=0)
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    result: dict[int, list[int]] = defaultdict(list)
    for order, code in qs.values_list("order_id", "line_code").order_by("order_id", "line_code"):
        if code:
            result[order].append(int(code))
    return result


def _order(ref: tuple[str, int], purpose: str, run: Run) -> SalesOrder | None:
    """The order an operation acts on: any of those made so far, or one the operation fits."""
    aim, n = ref
    ids: list[int] = []
    if aim == "fit":
        orders = SalesOrder.objects.filter(pk__in=run.orders, posted=True).order_by("pk")
        if purpose == "submit":
            ids = list(orders.filter(status=OrderStatus.NOT_AGREED).exclude(approval="pending")
                       .values_list("pk", flat=True))
        elif purpose == "release":
            ids = list(orders.filter(status__in=[OrderStatus.NOT_AGREED, OrderStatus.TO_SECURE])
                       .values_list("pk", flat=True))
        elif purpose in ("reserve", "edit"):
            ids = list(orders.filter(status__in=[OrderStatus.TO_SECURE, OrderStatus.TO_SHIP])
                       .values_list("pk", flat=True))
        elif purpose == "close":
            ids = list(orders.filter(status=OrderStatus.TO_SHIP).values_list("pk", flat=True))
        elif purpose == "ship":
            ids = sorted(_with_backlog())
        elif purpose == "pay":
            ids = sorted({i.order_id for o in SalesOrder.objects.filter(pk__in=run.orders)
                          .values_list("organization_id", "partner_id").distinct()
                          for i in open_items(*o) if i.order_id})
    pk = _pick(ids or run.orders, n)
    return None if pk is None else SalesOrder.objects.get(pk=pk)


def _order_lines(order: SalesOrder) -> list[SalesOrderLine]:
    return list(SalesOrderLine.objects.filter(document=order).order_by("line_no"))


def _live_lines(order: SalesOrder) -> list[SalesOrderLine]:
    return [ln for ln in _order_lines(order) if not ln.cancelled]


def _money_for(world: World, org: int, method: str) -> dict[str, Any]:
    if method == PaymentMethod.CASH:
        return {"method": method, "cash_desk": world.cash_desks[org]}
    return {"method": method, "bank_account": world.bank_accounts[org]}


def _apply(op: tuple[Any, ...], step: int, world: World, run: Run) -> str | None:
    """Perform one operation. Returns None when it had nothing to act on; raises CoreError when refused."""
    name = op[0]
    when = _when(step)
    user = world.users.get(op[-1]) if isinstance(op[-1], str) and op[-1] in world.users else None
    if name == "order":
        _n, client, org, lines, schedule, who, submit = op
        user = world.users[who]
        w = world.warehouses
        order = SalesOrder(organization=world.organizations[org], partner=world.clients[client],
                           agreement=world.agreement if org == 0 else None, warehouse=w[0], date=when)
        order_lines = [
            SalesOrderLine(item=world.items[i], quantity=D(q),
                           price=LIST_PRICES[i] if price == "list" else (LIST_PRICES[i] * D("0.9")).quantize(D("0.01")),
                           warehouse=None if wh is None else w[wh], securing=securing)
            for i, q, price, wh, securing in lines]
        stages = [OrderPaymentStage(kind=k, percent=D(p), days=d) for k, p, d in SCHEDULES[schedule]]
        services.save_order(order, order_lines, stages=stages, user=user, post=True)
        run.orders.append(order.pk)
        if submit:  # a second operation: its refusal is checked on its own
            return "ok, then submit " + _run(("submit", ("any", len(run.orders) - 1), who), step, world, run)
        return "ok"
    if name in ("submit", "release", "reserve", "edit", "close"):
        order = _order(op[1], name, run)
        if order is None:
            return None
        if name == "submit":
            services.submit_order(order, user=user)
        elif name == "release":
            services.release_to_ship(order, user=user)
        elif name == "close":
            services.close_order(order, user=user)
        else:
            lines = _order_lines(order)
            if name == "reserve":
                for line in lines:
                    if not line.cancelled and line.securing == Securing.NONE:
                        line.securing = Securing.RESERVE
            else:
                line = lines[op[2] % len(lines)]
                line.quantity = D(op[3])
            services.save_order(order, lines, user=user, expected_version=order.version)
        return "ok"
    if name == "approve":
        pending = OrderApproval.objects.filter(decision=OrderApproval.Decision.PENDING).order_by("id").first()
        if pending is None:
            return None
        services.decide_approval(pending, approve=op[1], user=world.users["director"], comment="checked")
        return "ok"
    if name == "ship":
        picks = []
        for ref, line_n, quantity in op[1]:
            order = _order(ref, "ship", run)
            if order is None:
                return None
            codes = _with_backlog(order.pk).get(order.pk) if ref[0] == "fit" else None
            codes = codes or [ln.code for ln in _order_lines(order)]
            picks.append(services.Pick(order.pk, codes[line_n % len(codes)],
                                       None if quantity is None else D(quantity)))
        shipments = services.create_shipments_from_backlog(picks, user=user, date=when)
        run.shipments += [s.pk for s in shipments]
        return "ok"
    if name == "ship_direct":
        _n, ref, picked, beyond, _u = op
        order = _order(ref, "ship", run)
        if order is None:
            return None
        lines = _live_lines(order)
        codes = _with_backlog(order.pk).get(order.pk) if ref[0] == "fit" else None
        if codes:
            lines = [ln for ln in lines if ln.code in codes]
        ship_lines = []
        for line_n, quantity in picked:
            if not lines:
                break
            ln = lines[line_n % len(lines)]
            ship_lines.append(ShipmentLine(order=order, order_line_code=ln.code, item_id=ln.item_id,
                                           warehouse_id=ln.warehouse_id or order.warehouse_id, quantity=D(quantity),
                                           price=ln.price, discount_percent=ln.discount_percent,
                                           vat_rate=ln.vat_rate))
        if beyond or not ship_lines:  # goods the order does not have: needs the right to ship beyond an order
            ship_lines.append(ShipmentLine(order=order, order_line_code=0, item=world.items[1],
                                           warehouse=world.warehouses[1], quantity=D(1), price=D("10.00")))
        shipment = Shipment(organization_id=order.organization_id, partner_id=order.partner_id,
                            warehouse_id=order.warehouse_id, date=when)
        services.save_shipment(shipment, ship_lines, user=user, post=True)
        run.shipments.append(shipment.pk)
        return "ok"
    if name == "sell":
        _n, client, org, lines, due_days, _u = op
        due = timezone.localtime(when).date() + dt.timedelta(days=due_days)
        shipment = Shipment(organization=world.organizations[org], partner=world.clients[client],
                            warehouse=world.warehouses[0], date=when, due_date=due)
        services.save_shipment(shipment, [ShipmentLine(item=world.items[i], quantity=D(q), price=LIST_PRICES[i],
                                                       warehouse=world.warehouses[w]) for i, q, w in lines],
                               user=user, post=True)
        run.shipments.append(shipment.pk)
        return "ok"
    if name == "pay":
        _n, client, org, mode, ref, amount_choice, method, key = op
        lines: list[PaymentAllocation] | None = None
        auto = True
        if mode == "order":
            order = _order(ref, "pay", run)
            if order is None:
                return None
            pk = order.pk
            org = world.organizations.index(order.organization)
            client = world.clients.index(order.partner)
            open_ = {i.order_id: i.remaining for i in open_items(order.organization_id, order.partner_id)}
            rest = open_.get(pk, D("100.00"))
            allocated = {"all": rest, "rest": rest, "half": max((rest / 2).quantize(D("0.01")), D("0.01")),
                         "over": rest + D(10)}.get(amount_choice) or D(amount_choice)
            lines = [PaymentAllocation(order=order, amount=allocated)]
            amount = allocated + (D(50) if amount_choice == "all" else ZERO)  # "all": and some advance on top
        else:
            auto = mode == "auto"
            open_total = sum((i.remaining for i in open_items(world.organizations[org].pk, world.clients[client].pk)),
                             ZERO)
            amount = {"all": open_total or D("1.00"), "rest": open_total + D(25), "half": D("50.00"),
                      "over": open_total + D(1000)}.get(amount_choice) or D(amount_choice)
        payment = IncomingPayment(organization=world.organizations[org], partner=world.clients[client],
                                  amount=amount, date=when, **_money_for(world, org, method))
        repeated = key is not None and key in run.keys
        before = _snapshot() if repeated else None
        result = register_payment(payment, lines, user=user, idempotency_key=key, auto_allocate=auto)
        if repeated:
            assert _snapshot() == before, "a repeated idempotency key registered something"
            return "repeated key"
        if key:
            run.keys.add(key)
        run.payments.append(result.pk)
        return "ok"
    if name == "refund":
        _n, client, org, amount_choice, method, key = op
        held = ClientAdvances.balance(organization=world.organizations[org], partner=world.clients[client])["amount"]
        amount = {"all": held, "over": held + D("0.01"), "10": D("10.00")}[amount_choice]
        doc = Refund(organization=world.organizations[org], partner=world.clients[client], amount=amount, date=when,
                     **_money_for(world, org, method))
        repeated = key is not None and key in run.keys
        before = _snapshot() if repeated else None
        result = refund(doc, idempotency_key=key)
        if repeated:
            assert _snapshot() == before, "a repeated idempotency key refunded again"
            return "repeated key"
        if key:
            run.keys.add(key)
        run.refunds.append(result.pk)
        return "ok"
    if name in ("unpost", "repost"):
        kind = op[1]
        if kind == "offset":
            offsets = list(AdvanceOffset.objects.filter(posted=True).order_by("pk").values_list("pk", flat=True))
            pk = _pick(offsets, op[2])
            if pk is None:
                return None
            unpost_document(AdvanceOffset.objects.get(pk=pk))
            return "ok"
        ids = {"shipment": run.shipments, "payment": run.payments, "refund": run.refunds, "order": run.orders}[kind]
        pk = _pick(ids, op[2])
        if pk is None:
            return None
        model = {"shipment": Shipment, "payment": IncomingPayment, "refund": Refund, "order": SalesOrder}[kind]
        doc = model.objects.get(pk=pk)
        if name == "unpost":
            if not doc.posted:
                return None
            unpost_document(doc)
        elif kind == "shipment":
            services.post_shipment(doc, user=user)
        else:
            services.save_order(doc, _order_lines(doc), user=user, expected_version=doc.version, post=True)
        return "ok"
    raise AssertionError(f"unknown operation {op!r}")


def _run(op: tuple[Any, ...], step: int, world: World, run: Run) -> str:
    before = _snapshot()
    try:
        done = _apply(op, step, world, run)
    except CoreError as exc:
        assert str(exc), "a refusal must say why"
        assert _snapshot() == before, f"refused {op[0]} changed something: {exc}"
        return f"refused ({exc.code})"
    return done or "nothing to act on"


# ================================================================ invariants
def _with_vat(line: Any, document: Any) -> Decimal:
    return line.amount if document.prices_include_vat else line.amount + line.vat_amount


def _by_client(qs: Any, *names: str) -> dict[tuple[int, int], list[Decimal]]:
    """Sums of money fields per (organization, client), exact to the kopeck."""
    result: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO] * len(names))
    rows = qs.values("organization_id", "partner_id").annotate(**{f"s_{n}": Sum(n) for n in names}).order_by()
    for row in rows:
        result[(row["organization_id"], row["partner_id"])] = [D(str(row[f"s_{n}"] or 0)).quantize(D("0.01"))
                                                               for n in names]
    return result


def _check_movements_are_current() -> None:
    """A posted document's stored movements are exactly movements() of its current state."""
    for model in (SalesOrder, Shipment, IncomingPayment, Refund, AdvanceOffset):
        for doc in model.objects.filter(posted=True):
            wanted = sorted((m.register.label, m.line_no, m.period, m.record_type, m.key, m.resources)
                            for m in doc.movements() if m.register in EXACT_REGISTERS)
            stored = []
            for register in EXACT_REGISTERS:
                if register not in doc.registers:
                    continue
                for row in register.movements_of(doc):
                    resources = tuple(D(str(getattr(row, r.name))).quantize(r.quantum) for r in register.resources)
                    stored.append((register.label, row.line_no, row.period, row.record_type, row.key, resources))
            assert sorted(stored) == wanted, f"{doc}: stored movements differ from movements()"
    for model in (SalesOrder, Shipment, IncomingPayment, Refund, AdvanceOffset):
        for doc in model.objects.filter(posted=False):
            for register in doc.registers:
                assert register.movements_of(doc) == [], f"unposted {doc} keeps movements in {register.label}"


def _check_invariants(world: World) -> None:
    for register in REGISTERS:
        assert verify_register(register) == [], register.label

    # Nothing controlled is negative; no refund took more than the advance.
    assert list(StockTotal.objects.filter(quantity__lt=0).values_list("key", "quantity")) == []
    assert list(StockTotal.objects.filter(free__lt=0).values_list("key", "free")) == []
    assert list(ReservesTotal.objects.filter(quantity__lt=0).values_list("key", "quantity")) == []
    assert list(OrderBacklogTotal.objects.filter(quantity__lt=0).values_list("key", "quantity")) == []
    assert list(ClientAdvancesTotal.objects.filter(amount__lt=0).values_list("key", "amount")) == []
    assert list(FundsTotal.objects.filter(amount__lt=0).values_list("key", "amount")) == []

    # Settlements per organization and client: shipments − payments + refunds.
    kept = _by_client(ClientSettlementsTotal.objects.all(), "shipped", "paid")
    advances = _by_client(ClientAdvancesTotal.objects.all(), "amount")
    shipped_docs = _by_client(Shipment.objects.filter(posted=True), "amount")
    paid_docs = _by_client(IncomingPayment.objects.filter(posted=True), "amount")
    refunded = _by_client(Refund.objects.filter(posted=True), "amount")
    for org in world.organizations:
        for client in world.clients:
            k = (org.pk, client.pk)
            (shipped, paid), (advance,) = kept[k], advances[k]
            assert shipped - paid - advance == shipped_docs[k][0] - paid_docs[k][0] + refunded[k][0], (org, client)
            assert shipped == shipped_docs[k][0]
            assert paid + advance == paid_docs[k][0] - refunded[k][0]
    funds = {org: amount for (org,), amount in (
        (k, v["amount"]) for k, v in Funds.balances(["organization"]).items())}
    for org in world.organizations:
        money = sum((paid_docs[(org.pk, c.pk)][0] - refunded[(org.pk, c.pk)][0] for c in world.clients), ZERO)
        assert funds.get(org.pk, ZERO) == money

    # Each settlement object holds what the posted documents put on it.
    expected: dict[tuple[int | None, int | None], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for line in ShipmentLine.objects.filter(document__posted=True).select_related("document"):
        obj = (line.order_id, None) if line.order_id else (None, line.document_id)
        expected[obj][0] += _with_vat(line, line.document)
    for alloc in PaymentAllocation.objects.filter(document__posted=True):
        expected[(alloc.order_id, alloc.shipment_id)][1] += alloc.amount
    for off in AdvanceOffsetLine.objects.filter(document__posted=True):
        expected[(off.order_id, off.shipment_id)][1] += off.amount
    kept_objects = {(r["order_id"], r["shipment_id"]): [D(str(r["shipped"])).quantize(D("0.01")),
                                                          D(str(r["paid"])).quantize(D("0.01"))]
                    for r in ClientSettlementsTotal.objects.values("order_id", "shipment_id", "shipped", "paid")}
    assert {k: v for k, v in kept_objects.items() if any(v)} == {k: v for k, v in expected.items() if any(v)}

    # No order line ships above its ordered quantity.
    ordered = {(ln.document_id, ln.code): ln.quantity for ln in SalesOrderLine.objects.all()}
    for row in (ShipmentLine.objects.filter(document__posted=True, order__isnull=False, order_line_code__gt=0)
                .values("order_id", "order_line_code").annotate(q=Sum("quantity")).order_by()):
        key = (row["order_id"], row["order_line_code"])
        assert D(str(row["q"])) <= ordered[key], f"order line {key} shipped {row['q']} of {ordered[key]}"

    # Stock on hand = purchases − posted shipments; free = on hand − reserves.
    shipped_goods: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for line in ShipmentLine.objects.filter(document__posted=True, item__kind=ItemKind.GOODS).select_related(
            "document"):
        shipped_goods[(line.warehouse_id or line.document.warehouse_id, line.item_id)] += line.quantity
    reserved = defaultdict(lambda: ZERO)
    for r in ReservesTotal.objects.values("warehouse_id", "item_id", "quantity"):
        reserved[(r["warehouse_id"], r["item_id"])] += D(str(r["quantity"]))
    for w in world.warehouses:
        for item in world.items[:2]:
            on_hand = D(sum(PURCHASED.values())) - shipped_goods[(w.pk, item.pk)]
            assert Stock.balance(warehouse=w, item=item) == {"quantity": on_hand,
                                                             "free": on_hand - reserved[(w.pk, item.pk)]}

    # Reserves: what the live reserving lines of agreed orders still have to ship.
    expected_reserves: dict[tuple[int, int, int], Decimal] = defaultdict(lambda: ZERO)
    shipped_lines = defaultdict(lambda: ZERO)
    for row in (ShipmentLine.objects.filter(document__posted=True, order__isnull=False, order_line_code__gt=0)
                .values("order_id", "order_line_code").annotate(q=Sum("quantity")).order_by()):
        shipped_lines[(row["order_id"], row["order_line_code"])] = D(str(row["q"]))
    for line in SalesOrderLine.objects.filter(document__posted=True, cancelled=False, securing=Securing.RESERVE,
                                              item_kind=ItemKind.GOODS).exclude(
            document__status=OrderStatus.NOT_AGREED).select_related("document"):
        key = (line.warehouse_id or line.document.warehouse_id, line.item_id, line.document_id)
        expected_reserves[key] += line.quantity - shipped_lines[(line.document_id, line.code)]
    kept_reserves = {(r["warehouse_id"], r["item_id"], r["order_id"]): D(str(r["quantity"])).quantize(D("0.001"))
                     for r in ReservesTotal.objects.values("warehouse_id", "item_id", "order_id", "quantity")}
    assert {k: v for k, v in kept_reserves.items() if v} == {k: v for k, v in expected_reserves.items() if v}

    # The kept computed state of every order is what the registers say now.
    orders = list(SalesOrder.objects.prefetch_related("lines", "stages"))
    figures = collect_figures([o.pk for o in orders])
    auto_close = SystemSettings.get().close_orders_automatically
    kept_states = {s.order_id: s for s in OrderState.objects.all()}
    for order in orders:
        ev = evaluate(order, list(order.lines.all()), figures[order.pk], auto_close=auto_close)
        kept = kept_states[order.pk]
        assert (kept.state, kept.event_date, kept.paid_amount, kept.shipped_amount, kept.debt) == (
            ev.state, ev.event_date, ev.paid_amount, ev.shipped_amount, ev.debt), f"stale state of {order}"
        if ev.state == "closed":
            assert order.status == OrderStatus.CLOSED

    _check_movements_are_current()


# ======================================================================= test
@settings(max_examples=35, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_random_order_to_cash_keeps_settlements_stock_and_states_consistent(world: World,
                                                                             ops: list[tuple[Any, ...]]) -> None:
    savepoint = transaction.savepoint()
    try:
        run = Run()
        for step, op in enumerate(ops):
            event(f"{op[0]}: {_run(op, step, world, run)}")
            _check_invariants(world)
    finally:
        transaction.savepoint_rollback(savepoint)
