"""The receipt builder, table-driven: for each settlement scenario of integrations.md §1.4 (and the worked
examples of §2.4), the receipts, their lines with 1214/1212/1199 and their payment sums, exactly.

The order used throughout is the reference's: an electric kettle 3,000.00 and two mugs 500.00 at 22 %, two packs
of tea 300.00 at 10 % — 3,800.00 in all."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from torg.fiscal.builder import (
    BuildError,
    CorrectionEvent,
    Goods,
    GoodsReturn,
    PrepaymentReturn,
    Settlement,
    SettlementObject,
    build,
)
from torg.fiscal.receipts import (
    Correction,
    CorrectionType,
    Method,
    Operation,
    PaymentSums,
    ReceiptLine,
    Subject,
    Vat,
)

ORDER = "order:1"
TITLE = "заказу № ТД-000001 от 10.02.2026"
KETTLE = Goods("Чайник электрический", D(1), D("3000.00"), 22, ORDER, item_id=1)
MUGS = Goods("Кружка керамическая", D(2), D("500.00"), 22, ORDER, item_id=2)
TEA = Goods("Чай черный 100 г", D(2), D("300.00"), 10, ORDER, item_id=3)
ALL = (KETTLE, MUGS, TEA)


def order(shipped: str = "0", paid: str = "0", goods: tuple[Goods, ...] = ALL, ref: str = ORDER,
          title: str = TITLE) -> SettlementObject:
    return SettlementObject(ref, title, goods, D(shipped), D(paid))


def rows(receipt):  # (name, quantity, price, amount, 1214, 1212, 1199)
    return [(ln.name, ln.quantity, ln.price, ln.amount, int(ln.method), int(ln.subject), int(ln.vat))
            for ln in receipt.lines]


def sums(receipt):  # (1031, 1081, 1215, 1216)
    p = receipt.payments
    return (p.cash, p.electronic, p.prepaid, p.credit)


GOODS_ROWS_PREPAID = [("Чайник электрический", D(1), D("3000.00"), D("3000.00"), 1, 1, 12),
                      ("Кружка керамическая", D(2), D("250.00"), D("500.00"), 1, 1, 12),
                      ("Чай черный 100 г", D(2), D("150.00"), D("300.00"), 1, 1, 4)]
GOODS_ROWS_HANDED = [("Чайник электрический", D(1), D("3000.00"), D("3000.00"), 4, 1, 11),
                     ("Кружка керамическая", D(2), D("250.00"), D("500.00"), 4, 1, 11),
                     ("Чай черный 100 г", D(2), D("150.00"), D("300.00"), 4, 1, 2)]

SCENARIOS = {
    # (a) receipt 1: the whole order paid online before delivery → 100 % prepayment, goods named, 22/122 and 10/110
    "full prepayment, goods named": (
        Settlement(objects=(order(),), allocations=((ORDER, D("3800.00")),), electronic=D("3800.00"),
                   buyer_contact="+79161234567"),
        [(Operation.SELL, GOODS_ROWS_PREPAID, (0, D("3800.00"), 0, 0))]),
    # (a) receipt 2: the courier hands the prepaid order over → full payment, full rates, 1215
    "handover with offset of prepayment": (
        Settlement(objects=(order(paid="3800.00"),), handed_over=ALL),
        [(Operation.SELL, GOODS_ROWS_HANDED, (0, 0, D("3800.00"), 0))]),
    # part of the order paid before delivery → «Предоплата» per VAT rate, pro rata: 1000 × 3500/3800 and the rest
    "partial prepayment": (
        Settlement(objects=(order(),), allocations=((ORDER, D("1000.00")),), cash=D("1000.00")),
        [(Operation.SELL, [(f"Предоплата по {TITLE}", D(1), D("921.05"), D("921.05"), 2, 10, 12),
                           (f"Предоплата по {TITLE}", D(1), D("78.95"), D("78.95"), 2, 10, 4)],
          (D("1000.00"), 0, 0, 0))]),
    # money with no order → advance, 22/122
    "advance, goods unknown": (
        Settlement(cash=D("5000.00")),
        [(Operation.SELL, [("Аванс", D(1), D("5000.00"), D("5000.00"), 3, 10, 12)], (D("5000.00"), 0, 0, 0))]),
    # (d) paid at the door, cash and card
    "payment at handover, mixed": (
        Settlement(objects=(order(),), handed_over=ALL, allocations=((ORDER, D("3800.00")),), cash=D("800.00"),
                   electronic=D("3000.00")),
        [(Operation.SELL, GOODS_ROWS_HANDED, (D("800.00"), D("3000.00"), 0, 0))]),
    "payment at handover, cash": (
        Settlement(objects=(order(),), handed_over=ALL, allocations=((ORDER, D("3800.00")),), cash=D("3800.00")),
        [(Operation.SELL, GOODS_ROWS_HANDED, (D("3800.00"), 0, 0, 0))]),
    # nothing paid: transfer on credit, 1216
    "handover on credit": (
        Settlement(objects=(order(),), handed_over=ALL),
        [(Operation.SELL, [r[:4] + (6,) + r[5:] for r in GOODS_ROWS_HANDED], (0, 0, 0, D("3800.00")))]),
    # the credit paid later: one line, 1214 = 7, 1212 = 10, «без НДС»
    "payment of the credit": (
        Settlement(objects=(order(shipped="3800.00", goods=()),), allocations=((ORDER, D("3800.00")),),
                   cash=D("3800.00")),
        [(Operation.SELL, [(f"Оплата долга по {TITLE}", D(1), D("3800.00"), D("3800.00"), 7, 10, 6)],
          (D("3800.00"), 0, 0, 0))]),
    # 1000 prepaid before, 2000 in cash at the door, the rest on credit → partial payment and credit (5)
    "handover, part prepaid, part cash, rest on credit": (
        Settlement(objects=(order(paid="1000.00"),), handed_over=ALL, allocations=((ORDER, D("2000.00")),),
                   cash=D("2000.00")),
        [(Operation.SELL, [r[:4] + (5,) + r[5:] for r in GOODS_ROWS_HANDED],
          (D("2000.00"), 0, D("1000.00"), D("800.00")))]),
    # the client pays 4000 in cash for 3800 of goods and leaves the change as an advance
    "overpayment kept as an advance": (
        Settlement(objects=(order(),), handed_over=ALL, allocations=((ORDER, D("3800.00")),), cash=D("4000.00")),
        [(Operation.SELL, GOODS_ROWS_HANDED + [("Аванс", D(1), D("200.00"), D("200.00"), 3, 10, 12)],
          (D("4000.00"), 0, 0, 0))]),
    # money allocated to an order beyond what is left of it becomes an advance line in the same receipt
    "prepayment above the order": (
        Settlement(objects=(order(),), allocations=((ORDER, D("4000.00")),), electronic=D("4000.00")),
        [(Operation.SELL, GOODS_ROWS_PREPAID + [("Аванс", D(1), D("200.00"), D("200.00"), 3, 10, 12)],
          (0, D("4000.00"), 0, 0))]),
    # the client's advance (money with no order) offset against goods handed over, the rest in cash
    "handover with the client's advance offset": (
        Settlement(objects=(order(),), handed_over=ALL, advance_offset=D("1000.00"),
                   allocations=((ORDER, D("2800.00")),), cash=D("2800.00")),
        [(Operation.SELL, GOODS_ROWS_HANDED, (D("2800.00"), 0, D("1000.00"), 0))]),
    # 100 % prepaid, the client refuses the tea at the door: full payment only for what was accepted …
    "refusal of part at the door after prepayment": (
        Settlement(objects=(order(paid="3800.00"),), handed_over=(KETTLE, MUGS)),
        [(Operation.SELL, GOODS_ROWS_HANDED[:2], (0, 0, D("3500.00"), 0))]),
    # … and the unused prepayment of the tea paid back: «возврат прихода» mirroring the prepayment (1214 = 1, 10/110)
    "return of the refused goods' prepayment": (
        PrepaymentReturn(amount=D("300.00"), method=Method.FULL_PREPAYMENT, title=TITLE, goods=(TEA,),
                         electronic=D("300.00")),
        [(Operation.SELL_RETURN, [GOODS_ROWS_PREPAID[2]], (0, D("300.00"), 0, 0))]),
    "refund of an advance": (
        PrepaymentReturn(amount=D("700.00"), method=Method.ADVANCE, cash=D("700.00")),
        [(Operation.SELL_RETURN, [("Аванс", D(1), D("700.00"), D("700.00"), 3, 10, 12)], (D("700.00"), 0, 0, 0))]),
    "refund of a partial prepayment": (
        PrepaymentReturn(amount=D("500.00"), method=Method.PREPAYMENT, title=TITLE, goods=ALL, cash=D("500.00")),
        [(Operation.SELL_RETURN, [(f"Предоплата по {TITLE}", D(1), D("460.53"), D("460.53"), 2, 10, 12),
                                  (f"Предоплата по {TITLE}", D(1), D("39.47"), D("39.47"), 2, 10, 4)],
          (D("500.00"), 0, 0, 0))]),
    # one card payment for two orders: order 1 was shipped on credit, order 2 is not shipped yet → one receipt,
    # «оплата кредита» for the first and 100 % prepayment of the second
    "one payment covering two orders": (
        Settlement(objects=(order(shipped="3800.00", goods=()),
                            order(ref="order:2", title="заказу № ТД-000002 от 11.02.2026",
                                  goods=(Goods("Чайник электрический", D(1), D("3000.00"), 22, "order:2"),))),
                   allocations=((ORDER, D("3800.00")), ("order:2", D("3000.00"))), electronic=D("6800.00")),
        [(Operation.SELL, [(f"Оплата долга по {TITLE}", D(1), D("3800.00"), D("3800.00"), 7, 10, 6),
                           ("Чайник электрический", D(1), D("3000.00"), D("3000.00"), 1, 1, 12)],
          (0, D("6800.00"), 0, 0))]),
    # a second payment on a partly prepaid order is a partial prepayment even when it pays the rest
    "second prepayment completes the order": (
        Settlement(objects=(order(paid="1000.00"),), allocations=((ORDER, D("2800.00")),), cash=D("2800.00")),
        [(Operation.SELL, [(f"Предоплата по {TITLE}", D(1), D("2578.95"), D("2578.95"), 2, 10, 12),
                           (f"Предоплата по {TITLE}", D(1), D("221.05"), D("221.05"), 2, 10, 4)],
          (D("2800.00"), 0, 0, 0))]),
    # an organization on the simplified tax system: «НДС не облагается» everywhere
    "no VAT payer, prepayment": (
        Settlement(objects=(order(),), allocations=((ORDER, D("3800.00")),), cash=D("3800.00"), vat_payer=False),
        [(Operation.SELL, [r[:6] + (6,) for r in GOODS_ROWS_PREPAID], (D("3800.00"), 0, 0, 0))]),
    # three units for 100.00 do not divide into kopecks: 2 × 33.33 and 1 × 33.34
    "a price that does not divide": (
        Settlement(objects=(order(goods=()),), handed_over=(Goods("Гвозди, упаковка", D(3), D("100.00"), 22, ORDER),),
                   allocations=((ORDER, D("100.00")),), cash=D("100.00")),
        [(Operation.SELL, [("Гвозди, упаковка", D(2), D("33.33"), D("66.66"), 4, 1, 11),
                           ("Гвозди, упаковка", D(1), D("33.34"), D("33.34"), 4, 1, 11)], (D("100.00"), 0, 0, 0))]),
    # a B2B order paid in full by bank earlier (no receipt then) and now handed over: offset, 1215
    "a service handed over": (
        Settlement(objects=(order(paid="1500.00", goods=()),),
                   handed_over=(Goods("Доставка", D(1), D("1500.00"), 22, ORDER, service=True),)),
        [(Operation.SELL, [("Доставка", D(1), D("1500.00"), D("1500.00"), 4, 4, 11)], (0, 0, D("1500.00"), 0))]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name):
    event, expected = SCENARIOS[name]
    receipts = build(event)
    assert [(r.operation, rows(r), sums(r)) for r in receipts] == [
        (op, lines, tuple(D(x) for x in payment_sums)) for op, lines, payment_sums in expected]
    for receipt in receipts:
        assert receipt.total == receipt.payments.total == sum(ln.amount for ln in receipt.lines)
        assert receipt.problems() == []


def test_worked_example_a_vat_sums():
    """§2.4 (a): the VAT the ATOL Online body carries per line and per rate."""
    (receipt,) = build(SCENARIOS["full prepayment, goods named"][0])
    assert [ln.vat_amount for ln in receipt.lines] == [D("540.98"), D("90.16"), D("27.27")]
    assert receipt.vat_by_rate == {Vat.VAT122: D("631.14"), Vat.VAT110: D("27.27")}
    assert receipt.buyer_contact == "+79161234567"


def test_return_of_goods_mirrors_the_sale():
    """Goods handed over and paid half in cash, half by card come back: same 1214 and VAT, same split."""
    (sale,) = build(Settlement(objects=(order(),), handed_over=ALL, allocations=((ORDER, D("3800.00")),),
                               cash=D("1900.00"), electronic=D("1900.00")))
    (ret,) = build(GoodsReturn(original=sale, quantities=((1, D(1)), (2, D(2)))))
    assert ret.operation == Operation.SELL_RETURN
    assert rows(ret) == [("Кружка керамическая", D(1), D("250.00"), D("250.00"), 4, 1, 11),
                         ("Чай черный 100 г", D(2), D("150.00"), D("300.00"), 4, 1, 2)]
    assert sums(ret) == (D("275.00"), D("275.00"), 0, 0)
    (by_card,) = build(GoodsReturn(original=sale, quantities=((0, D(1)),), cash=D(0), electronic=D("3000.00")))
    assert sums(by_card) == (0, D("3000.00"), 0, 0)


def test_return_of_goods_sold_on_credit_lowers_the_credit():
    (sale,) = build(Settlement(objects=(order(),), handed_over=ALL))
    (ret,) = build(GoodsReturn(original=sale, quantities=((0, D(1)),), cash=D(0), electronic=D(0)))
    assert rows(ret) == [("Чайник электрический", D(1), D("3000.00"), D("3000.00"), 6, 1, 11)]
    assert sums(ret) == (0, 0, 0, D("3000.00"))


def test_correction_receipt_carries_its_type_and_date():
    line = ReceiptLine(name="Чайник электрический", quantity=D(1), price=D("3000.00"), amount=D("3000.00"),
                       method=Method.FULL_PAYMENT, subject=Subject.COMMODITY, vat=Vat.VAT22)
    (receipt,) = build(CorrectionEvent(operation=Operation.SELL_CORRECTION,
                                       correction=Correction(CorrectionType.SELF, dt.date(2026, 2, 9)),
                                       lines=(line,), payments=PaymentSums(cash=D("3000.00"))))
    tags = receipt.tags()
    assert (tags["1054"], tags["1173"], tags["1178"], tags["1031"]) == (1, 0, "2026-02-09", D("3000.00"))
    assert tags["1059"][0]["1214"] == 4 and tags["1059"][0]["1199"] == 11 and tags["1059"][0]["1200"] == D("540.98")
    assert "1179" not in tags


@pytest.mark.parametrize("event, message", [
    (Settlement(objects=(order(),), allocations=((ORDER, D("100.00")),), cash=D("50.00")), "allocated"),
    (Settlement(objects=(order(),), handed_over=(KETTLE,), advance_offset=D("5000.00")), "advance"),
    (Settlement(allocations=(("order:9", D("1.00")),), cash=D("1.00")), "not among"),
    (PrepaymentReturn(amount=D("100.00"), method=Method.ADVANCE, cash=D("90.00")), "paid back"),
])
def test_refusals(event, message):
    with pytest.raises(BuildError, match=message):
        build(event)


def test_returning_more_than_sold_is_refused():
    (sale,) = build(Settlement(objects=(order(),), handed_over=ALL, allocations=((ORDER, D("3800.00")),),
                               cash=D("3800.00")))
    with pytest.raises(BuildError, match="3 returned, 2 sold"):
        build(GoodsReturn(original=sale, quantities=((1, D(3)),)))


def test_nothing_to_receipt():
    assert build(Settlement()) == []
