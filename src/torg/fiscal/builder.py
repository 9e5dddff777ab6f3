"""The receipt builder: one pure function from a settlement event to the receipts it needs.

`build(event)` takes plain data — what happened now (goods handed over, money taken, money paid back, goods
returned, a correction) and what happened before on the same orders (their goods, amounts already shipped and
paid) — and returns the receipts, each balanced: sum of lines = total = sum of payment sums. No database, no
clock, no device: the same event always gives the same receipts, which is what the table-driven tests check.

The rules (integrations.md §1.4 and 1C:УТ's choice of 1214, ut11-spec §7.5):
- Money before handover, goods known: 100 % prepayment (1214 = 1) with the goods named when one payment pays
  everything still to hand over of an order and nothing was prepaid on it before; otherwise a partial prepayment
  (1214 = 2) as one line per VAT rate of the goods still to hand over, the money split pro rata. Calculated VAT
  rate (22/122, 10/110…), subject 1212 = 1 for named goods, 10 (платёж) for the per-rate lines.
- Money with no goods to name (nothing left to hand over, or beyond what is left): advance (1214 = 3, 1212 = 10),
  the calculated rate of the organization's main VAT rate.
- Money for goods handed over before (the client's debt): «Оплата долга» (1214 = 7, 1212 = 10, 1199 = 6).
- Handover: one line per goods line at the full VAT rate; 1214 = 4 when nothing is left on credit, 6 when
  nothing at all was paid, 5 otherwise. Money received before for these goods (and the client's advance offset
  now) goes to 1215, money taken now to 1031/1081, the unpaid rest to 1216.
- One settlement = one receipt: a payment covering several orders, or goods handed over with money taken at the
  door, is one receipt whose lines mix 1214 values.
- Money taken now goes first to the goods handed over now, then to the debt for goods handed over before, then to
  the goods still to hand over; what is left is an advance.
- Returns mirror what they return (same 1214, 1212 and VAT as the receipt being returned), paid back in the
  same split of cash and card as the original when possible.
- An organization that pays no VAT prints «НДС не облагается» (1199 = 6) on every line.

The texts printed on the receipt («Предоплата по заказу…») are in Russian on purpose: a receipt is a document of
Russian tax law read by the tax office and the buyer, whatever language the user's screen is in.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal

from torg.core.money import ZERO, allocate, round_money
from torg.fiscal.receipts import (
    CALCULATED_RATE,
    FULL_RATE,
    Correction,
    Method,
    Operation,
    PaymentSums,
    ReceiptDraft,
    ReceiptLine,
    Subject,
    Unit,
    Vat,
)

CENT = Decimal("0.01")
NAME_LENGTH = 128  # tag 1030


class BuildError(ValueError):
    """The event cannot be a receipt (money that does not add up, a return of more than was sold…)."""


# ================================================================ the event
@dataclass(frozen=True)
class Goods:
    """A line of goods or a service: handed over now, or still to hand over on an order."""

    name: str
    quantity: Decimal
    amount: Decimal  # VAT included
    vat_rate: int  # torg's rate in percent (22, 10, 5, 7, 0) or −1 for «без НДС»
    reference: str = ""  # the settlement object it belongs to ("order:12", "shipment:7")
    service: bool = False
    unit: Unit = Unit.PIECE
    item_id: int | None = None


@dataclass(frozen=True)
class SettlementObject:
    """An order (or a shipment made without an order) as settlements see it just before the event."""

    reference: str  # "order:12"
    title: str  # how a receipt names it: "заказу № ЗК-000012 от 02.02.2026"
    goods_to_hand_over: tuple[Goods, ...] = ()  # its goods not handed over before the event
    shipped_before: Decimal = ZERO  # value of its goods handed over before the event
    paid_before: Decimal = ZERO  # money received for it before the event (incl. advances offset to it)

    @property
    def prepaid(self) -> Decimal:
        """Money received for goods not yet handed over."""
        return max(self.paid_before - self.shipped_before, ZERO)

    @property
    def debt(self) -> Decimal:
        """Goods handed over and not paid for."""
        return max(self.shipped_before - self.paid_before, ZERO)


@dataclass(frozen=True)
class Settlement:
    """A sale-side settlement now: goods handed over, money taken, or both."""

    objects: tuple[SettlementObject, ...] = ()
    handed_over: tuple[Goods, ...] = ()  # goods handed over now; each .reference names one of `objects`
    allocations: tuple[tuple[str, Decimal], ...] = ()  # money taken now, per object reference
    cash: Decimal = ZERO  # money taken now in cash
    electronic: Decimal = ZERO  # … by card or another electronic means
    advance_offset: Decimal = ZERO  # the client's advance (money with no order) applied now to the goods
    vat_payer: bool = True
    advance_vat_rate: int = 22  # the rate an advance's calculated VAT is taken at
    buyer_contact: str = ""
    buyer_name: str = ""
    buyer_inn: str = ""


@dataclass(frozen=True)
class PrepaymentReturn:
    """Money received before handover paid back (a refused order, an advance refunded).

    `goods`: the goods whose prepayment returns, when the original receipt named them (1214 = 1); `method`: what
    the original receipt said (FULL_PREPAYMENT, PREPAYMENT or ADVANCE)."""

    amount: Decimal
    method: Method
    title: str = ""  # "заказу № …" (empty for an advance)
    goods: tuple[Goods, ...] = ()
    vat_rates: tuple[int, ...] = (22,)  # for PREPAYMENT/ADVANCE lines: the rates, money split in this order
    cash: Decimal = ZERO
    electronic: Decimal = ZERO
    vat_payer: bool = True
    buyer_contact: str = ""


@dataclass(frozen=True)
class GoodsReturn:
    """Goods handed over before come back; the money goes back (or the client's debt goes down)."""

    original: ReceiptDraft  # the receipt that handed the goods over
    quantities: tuple[tuple[int, Decimal], ...]  # (index of the original's line, quantity returned)
    cash: Decimal | None = None  # money paid back in cash now; None: mirror the original's split
    electronic: Decimal | None = None
    buyer_contact: str = ""


@dataclass(frozen=True)
class CorrectionEvent:
    """A correction receipt a person makes for a settlement that had no (or a wrong) receipt."""

    operation: Operation  # one of the *_CORRECTION operations
    correction: Correction
    lines: tuple[ReceiptLine, ...]
    payments: PaymentSums
    buyer_contact: str = ""


@dataclass(frozen=True)
class Reversal:
    """A settlement registered by `original` is taken back whole (a payment entered by mistake and unposted):
    a return receipt with the same lines and the same payment sums."""

    original: ReceiptDraft


Event = Settlement | PrepaymentReturn | GoodsReturn | CorrectionEvent | Reversal


@dataclass
class _Plan:
    """What the settlement of one object comes to."""

    obj: SettlementObject
    handed: list[Goods] = field(default_factory=list)
    handed_amount: Decimal = ZERO
    offset: Decimal = ZERO  # from its own earlier prepayment
    advance: Decimal = ZERO  # from the client's advance
    money_handover: Decimal = ZERO
    money_debt: Decimal = ZERO
    money_prepay: Decimal = ZERO
    money_excess: Decimal = ZERO

    @property
    def credit(self) -> Decimal:
        return self.handed_amount - self.offset - self.advance - self.money_handover


# ================================================================ the function
def build(event: Event) -> list[ReceiptDraft]:
    """The receipts an event needs (empty when it needs none), each balanced."""
    if isinstance(event, Settlement):
        receipts = _settlement(event)
    elif isinstance(event, PrepaymentReturn):
        receipts = _prepayment_return(event)
    elif isinstance(event, GoodsReturn):
        receipts = _goods_return(event)
    elif isinstance(event, Reversal):
        receipts = _reversal(event.original)
    elif isinstance(event, CorrectionEvent):
        receipts = [ReceiptDraft(operation=event.operation, lines=event.lines, payments=event.payments,
                                 buyer_contact=event.buyer_contact, correction=event.correction)]
    else:  # pragma: no cover — the type says it cannot be
        raise TypeError(f"not a settlement event: {event!r}")
    check_balanced(receipts)
    return receipts


# ---------------------------------------------------------------- sale
def _settlement(event: Settlement) -> list[ReceiptDraft]:
    objects = {obj.reference: obj for obj in event.objects}
    plans: dict[str, _Plan] = {}

    def plan_of(reference: str) -> _Plan:
        if reference not in plans:
            if reference not in objects:
                raise BuildError(f"goods or money for {reference!r}, which is not among the event's objects")
            plans[reference] = _Plan(objects[reference])
        return plans[reference]

    for goods in event.handed_over:
        plan = plan_of(goods.reference)
        plan.handed.append(goods)
        plan.handed_amount += goods.amount
    for reference, amount in event.allocations:
        if amount < 0:
            raise BuildError(f"a negative amount for {reference}")
        plan_of(reference)

    money = event.cash + event.electronic
    allocated = sum((amount for _, amount in event.allocations), ZERO)
    if event.cash < 0 or event.electronic < 0:
        raise BuildError("money taken cannot be negative")
    if allocated > money:
        raise BuildError(f"{allocated} allocated to orders but only {money} taken")

    # Earlier prepayment of each object first, then the client's advance, then money taken now.
    advance_left = event.advance_offset
    for plan in plans.values():
        plan.offset = min(plan.handed_amount, plan.obj.prepaid)
        use = min(plan.handed_amount - plan.offset, advance_left)
        plan.advance, advance_left = use, advance_left - use
    if advance_left > 0:
        raise BuildError(f"an advance of {event.advance_offset} applied to goods worth less")
    for reference, amount in event.allocations:
        plan = plans[reference]
        take = min(amount, plan.handed_amount - plan.offset - plan.advance - plan.money_handover)
        plan.money_handover += take
        amount -= take
        take = min(amount, plan.obj.debt - plan.money_debt)
        plan.money_debt += take
        amount -= take
        plan.money_prepay += amount

    handed_total = sum((p.handed_amount for p in plans.values()), ZERO)
    credit = sum((p.credit for p in plans.values()), ZERO)
    if handed_total and credit == 0:
        handover_method = Method.FULL_PAYMENT
    elif handed_total and credit == handed_total:
        handover_method = Method.CREDIT
    else:
        handover_method = Method.PARTIAL_PAYMENT

    lines: list[ReceiptLine] = []
    for plan in plans.values():
        for goods in plan.handed:
            lines.extend(_goods_lines(goods, handover_method, _full_vat(goods.vat_rate, event.vat_payer)))
    for plan in plans.values():
        if plan.money_debt:
            lines.append(_payment_line(f"Оплата долга по {plan.obj.title}", plan.money_debt, Method.CREDIT_PAYMENT,
                                       Vat.NONE, plan.obj.reference))
    advance = money - allocated
    for plan in plans.values():
        if plan.money_prepay:
            prepayment_lines, excess = _prepayment_lines(plan, event.vat_payer)
            lines.extend(prepayment_lines)
            advance += excess
    if advance:
        lines.append(_payment_line("Аванс", advance, Method.ADVANCE,
                                   _calculated_vat(event.advance_vat_rate, event.vat_payer), ""))
    if not lines:
        return []
    payments = PaymentSums(cash=event.cash, electronic=event.electronic,
                           prepaid=sum((p.offset + p.advance for p in plans.values()), ZERO), credit=credit)
    return [ReceiptDraft(operation=Operation.SELL, lines=tuple(lines), payments=payments,
                         buyer_contact=event.buyer_contact, buyer_name=event.buyer_name, buyer_inn=event.buyer_inn)]


def _prepayment_lines(plan: _Plan, vat_payer: bool) -> tuple[list[ReceiptLine], Decimal]:
    """Lines for money paid now for goods of an object still to hand over; and the excess (an advance)."""
    obj = plan.obj
    handed_now: dict[tuple[str, int | None], Decimal] = {}
    for goods in plan.handed:
        key = (goods.name, goods.item_id)
        handed_now[key] = handed_now.get(key, ZERO) + goods.quantity
    remaining = _minus_handed(obj.goods_to_hand_over, handed_now)
    left_value = sum((g.amount for g in remaining), ZERO)
    # Money received before that is not used by the goods handed now still prepays the rest.
    still_prepaid = obj.prepaid - plan.offset
    room = max(left_value - still_prepaid, ZERO)
    prepay = min(plan.money_prepay, room)
    excess = plan.money_prepay - prepay
    if not prepay:
        return [], excess
    if still_prepaid == 0 and prepay == left_value:
        lines: list[ReceiptLine] = []
        for goods in remaining:
            lines.extend(_goods_lines(goods, Method.FULL_PREPAYMENT, _calculated_vat(goods.vat_rate, vat_payer)))
        return lines, excess
    by_rate: dict[int, Decimal] = {}
    for goods in remaining:
        by_rate[goods.vat_rate] = by_rate.get(goods.vat_rate, ZERO) + goods.amount
    rates = sorted(by_rate, reverse=True)
    shares = allocate(prepay, [by_rate[r] for r in rates])
    return [_payment_line(f"Предоплата по {obj.title}", share, Method.PREPAYMENT, _calculated_vat(rate, vat_payer),
                          obj.reference)
            for rate, share in zip(rates, shares, strict=True) if share], excess


def _minus_handed(goods: Iterable[Goods], handed: dict[tuple[str, int | None], Decimal]) -> list[Goods]:
    """The goods still to hand over once `handed` (quantities by name and item) are handed over."""
    handed = dict(handed)
    left = []
    for g in goods:
        key = (g.name, g.item_id)
        take = min(handed.get(key, ZERO), g.quantity)
        if take:
            handed[key] -= take
        rest = g.quantity - take
        if rest > 0:
            amount = g.amount if take == 0 else round_money(g.amount * rest / g.quantity)
            left.append(Goods(name=g.name, quantity=rest, amount=amount, vat_rate=g.vat_rate,
                              reference=g.reference, service=g.service, unit=g.unit, item_id=g.item_id))
    return left


# ---------------------------------------------------------------- returns
def _prepayment_return(event: PrepaymentReturn) -> list[ReceiptDraft]:
    if event.amount <= 0:
        raise BuildError("nothing to pay back")
    if event.cash + event.electronic != event.amount:
        raise BuildError(f"{event.cash + event.electronic} paid back for a return of {event.amount}")
    lines: list[ReceiptLine] = []
    if event.method == Method.FULL_PREPAYMENT and event.goods:
        if sum((g.amount for g in event.goods), ZERO) != event.amount:
            raise BuildError("the goods of a full prepayment returned must add up to the amount")
        for goods in event.goods:
            lines.extend(_goods_lines(goods, Method.FULL_PREPAYMENT, _calculated_vat(goods.vat_rate, event.vat_payer)))
    else:
        name = f"Предоплата по {event.title}" if event.method != Method.ADVANCE and event.title else "Аванс"
        rates = event.vat_rates or (22,)
        weights = [Decimal(1)] + [ZERO] * (len(rates) - 1)  # all on the first rate unless goods say otherwise
        if event.goods:
            by_rate: dict[int, Decimal] = {}
            for goods in event.goods:
                by_rate[goods.vat_rate] = by_rate.get(goods.vat_rate, ZERO) + goods.amount
            rates = tuple(sorted(by_rate, reverse=True))
            weights = [by_rate[r] for r in rates]
        method = event.method if event.method in (Method.PREPAYMENT, Method.ADVANCE) else Method.PREPAYMENT
        for rate, share in zip(rates, allocate(event.amount, weights), strict=True):
            if share:
                lines.append(_payment_line(name, share, method, _calculated_vat(rate, event.vat_payer), ""))
    return [ReceiptDraft(operation=Operation.SELL_RETURN, lines=tuple(lines),
                         payments=PaymentSums(cash=event.cash, electronic=event.electronic),
                         buyer_contact=event.buyer_contact)]


def _goods_return(event: GoodsReturn) -> list[ReceiptDraft]:
    original = event.original
    if original.operation != Operation.SELL:
        raise BuildError("only goods sold by a sale receipt can be returned with a return receipt")
    lines: list[ReceiptLine] = []
    for index, quantity in event.quantities:
        if not 0 <= index < len(original.lines):
            raise BuildError(f"the original receipt has no line {index + 1}")
        line = original.lines[index]
        if not line.method.is_handover:
            raise BuildError(f"line {index + 1} did not hand goods over; return its money as a prepayment")
        if quantity <= 0 or quantity > line.quantity:
            raise BuildError(f"line {index + 1}: {quantity} returned, {line.quantity} sold")
        amount = line.amount if quantity == line.quantity else round_money(line.price * quantity)
        lines.extend(_split_price(ReceiptLine(name=line.name, quantity=quantity, price=line.price, amount=amount,
                                              method=line.method, subject=line.subject, vat=line.vat, unit=line.unit,
                                              item_id=line.item_id, reference=line.reference)))
    total = sum((ln.amount for ln in lines), ZERO)
    payments = _mirror_payments(original.payments, total, event.cash, event.electronic)
    return [ReceiptDraft(operation=Operation.SELL_RETURN, lines=tuple(lines), payments=payments,
                         buyer_contact=event.buyer_contact or original.buyer_contact)]


def _reversal(original: ReceiptDraft) -> list[ReceiptDraft]:
    mirror = {Operation.SELL: Operation.SELL_RETURN, Operation.BUY: Operation.BUY_RETURN}
    if original.operation not in mirror:
        raise BuildError("only a sale or purchase receipt can be taken back whole")
    return [replace(original, operation=mirror[original.operation], notes=())]


def _mirror_payments(original: PaymentSums, total: Decimal, cash: Decimal | None,
                     electronic: Decimal | None) -> PaymentSums:
    """How a return of `total` is settled: as told, or in the original receipt's proportions."""
    if cash is not None or electronic is not None:
        cash, electronic = cash or ZERO, electronic or ZERO
        rest = total - cash - electronic
        if rest < 0:
            raise BuildError(f"{cash + electronic} paid back for goods worth {total}")
        # What is not paid back lowers what the client owed (credit) or their prepayment.
        return PaymentSums(cash=cash, electronic=electronic,
                           **({"credit": rest} if original.credit else {"prepaid": rest}))
    weights = [original.cash, original.electronic, original.prepaid, original.credit, original.other]
    parts = allocate(total, weights)
    return PaymentSums(cash=parts[0], electronic=parts[1], prepaid=parts[2], credit=parts[3], other=parts[4])


# ---------------------------------------------------------------- lines and rounding
def _full_vat(rate: int, vat_payer: bool) -> Vat:
    return FULL_RATE[rate] if vat_payer else Vat.NONE


def _calculated_vat(rate: int, vat_payer: bool) -> Vat:
    return CALCULATED_RATE[rate] if vat_payer else Vat.NONE


def _payment_line(name: str, amount: Decimal, method: Method, vat: Vat, reference: str) -> ReceiptLine:
    return ReceiptLine(name=name[:NAME_LENGTH], quantity=Decimal(1), price=amount, amount=amount, method=method,
                       subject=Subject.PAYMENT, vat=vat, reference=reference)


def _goods_lines(goods: Goods, method: Method, vat: Vat) -> list[ReceiptLine]:
    if goods.amount <= 0 or goods.quantity <= 0:
        raise BuildError(f"{goods.name}: quantity and amount must be positive")
    subject = Subject.SERVICE if goods.service else Subject.COMMODITY
    line = ReceiptLine(name=goods.name[:NAME_LENGTH], quantity=goods.quantity,
                       price=(goods.amount / goods.quantity).quantize(CENT, rounding=ROUND_DOWN),
                       amount=goods.amount, method=method, subject=subject, vat=vat, unit=goods.unit,
                       item_id=goods.item_id, reference=goods.reference)
    return _split_price(line)


def _split_price(line: ReceiptLine) -> list[ReceiptLine]:
    """Make price × quantity = amount: a line whose amount does not divide into kopecks becomes two lines —
    all units but one at the price rounded down, and one unit carrying the rest (whole quantities); a fractional
    quantity keeps its amount with the price rounded half-up (within a kopeck)."""
    if line.price * line.quantity == line.amount:
        return [line]
    whole = line.quantity == line.quantity.to_integral_value()
    if not whole or line.quantity == 1:
        price = round_money(line.amount / line.quantity)
        return [_replace(line, price=price)]
    price = (line.amount / line.quantity).quantize(CENT, rounding=ROUND_DOWN)
    first = _replace(line, quantity=line.quantity - 1, price=price, amount=price * (line.quantity - 1))
    last_amount = line.amount - first.amount
    return [first, _replace(line, quantity=Decimal(1), price=last_amount, amount=last_amount)]


def _replace(line: ReceiptLine, **changes: object) -> ReceiptLine:
    return line._replace(**changes)  # type: ignore[arg-type]


def settlement_title(kind: str, number: str, date: dt.date) -> str:
    """How a receipt names the object of a payment: «заказу № ЗК-000012 от 02.02.2026»."""
    noun = {"order": "заказу", "shipment": "реализации"}.get(kind, "документу")
    return f"{noun} № {number} от {date:%d.%m.%Y}"


def check_balanced(receipts: Sequence[ReceiptDraft]) -> None:
    """Raise BuildError for a receipt whose lines, total and payments do not agree (used by the queue too)."""
    for receipt in receipts:
        problems = receipt.problems()
        if problems:
            raise BuildError("; ".join(problems))
