"""The built-in emulator behaves like an online register: shifts and their 24 hours, consecutive fiscal document
numbers, refusal of receipts that do not balance or lack a required tag, cash in the drawer, X and Z reports whose
totals are the receipts'."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from django.utils import timezone

from torg.fiscal.builder import Goods, GoodsReturn, Settlement, SettlementObject, build
from torg.fiscal.devices import Cashier, DeviceReceipt, DeviceRefused, DeviceUnavailable
from torg.fiscal.drivers.emulator import EmulatorDevice
from torg.fiscal.models import EmulatorDocument, EmulatorState
from torg.fiscal.receipts import PaymentSums

D = Decimal
pytestmark = pytest.mark.django_db
CASHIER = Cashier("Кассир Петрова А.А.")


class Clock:
    def __init__(self) -> None:
        self.now = timezone.make_aware(dt.datetime(2026, 3, 10, 9))

    def __call__(self) -> dt.datetime:
        return self.now


def sale(cash: str = "0", card: str = "0", *, address: str = "Москва, Лесная, 5") -> DeviceReceipt:
    cash, card = cash or "0", card or "0"
    total = D(cash) + D(card)
    order = SettlementObject("order:1", "заказу № 1 от 10.03.2026")
    (draft,) = build(Settlement(objects=(order,), handed_over=(Goods("Чайник", D(1), total, 22, "order:1"),),
                                allocations=(("order:1", total),), cash=D(cash), electronic=D(card)))
    return DeviceReceipt(uuid=str(uuid.uuid4()), draft=draft, taxation="osn", payments_place="Офис",
                         payments_address=address, cashier=CASHIER)


def returned(receipt: DeviceReceipt) -> DeviceReceipt:
    (draft,) = build(GoodsReturn(original=receipt.draft, quantities=((0, D(1)),)))
    return replace(receipt, uuid=str(uuid.uuid4()), draft=draft)


@pytest.fixture
def device(register):
    clock = Clock()
    dev = EmulatorDevice(register.pk, clock=clock)
    dev.clock_ = clock  # type: ignore[attr-defined]
    return dev


def test_a_receipt_needs_an_open_shift(device):
    with pytest.raises(DeviceRefused, match="Смена закрыта"):
        device.register(sale("100"))
    opened = device.open_shift(CASHIER)
    assert (opened.shift_number, opened.is_open, opened.fiscal_document_number) == (1, True, 1)
    with pytest.raises(DeviceRefused, match="уже открыта"):
        device.open_shift(CASHIER)
    result = device.register(sale("100"))
    assert (result.fiscal_document_number, result.shift_number, result.receipt_number) == (2, 1, 1)
    assert len(result.fiscal_sign) == 10 and result.fiscal_sign.isdigit()


def test_numbers_follow_each_other_and_a_resent_receipt_returns_the_first_result(device):
    device.open_shift(CASHIER)
    first = sale("100")
    results = [device.register(first), device.register(sale("50")), device.register(sale("", "70"))]
    assert [r.fiscal_document_number for r in results] == [2, 3, 4]
    assert [r.receipt_number for r in results] == [1, 2, 3]
    again = device.register(first)
    assert (again.fiscal_document_number, again.fiscal_sign) == (2, results[0].fiscal_sign)
    assert EmulatorDocument.objects.filter(kind="sell").count() == 3


def test_shift_over_24_hours_refuses_receipts_until_closed(device):
    device.open_shift(CASHIER)
    device.clock_.now += dt.timedelta(hours=24, minutes=1)
    assert device.status().shift_expired
    with pytest.raises(DeviceRefused, match="24 часа") as refused:
        device.register(sale("100"))
    assert refused.value.code == -3822
    closed = device.close_shift(CASHIER)
    assert not closed.is_open and closed.fiscal_document_number == 2
    device.open_shift(CASHIER)
    assert device.register(sale("100")).shift_number == 2


def test_unbalanced_receipt_or_missing_address_is_refused(device):
    device.open_shift(CASHIER)
    good = sale("100")
    unbalanced = replace(good, draft=replace(good.draft, payments=PaymentSums(cash=D("90"))))
    with pytest.raises(DeviceRefused, match="payments 90 ≠ total 100"):
        device.register(unbalanced)
    with pytest.raises(DeviceRefused, match="1009"):
        device.register(sale("100", address=" "))
    electronic_only = replace(good, electronically=True)
    with pytest.raises(DeviceRefused, match="1008"):
        device.register(electronic_only)
    # nothing was registered by the refusals
    assert EmulatorDocument.objects.filter(kind="sell").count() == 0


def test_cash_in_the_drawer(device):
    device.open_shift(CASHIER)
    device.cash_in(D("1000.00"), CASHIER)
    paid = sale("300")
    device.register(paid)
    device.register(sale("", "500"))  # by card: not in the drawer
    assert device.status().cash_in_drawer == D("1300.00")
    device.register(returned(paid))
    assert device.status().cash_in_drawer == D("1000.00")
    with pytest.raises(DeviceRefused, match="Недостаточно наличных"):
        device.cash_out(D("1000.01"), CASHIER)
    device.cash_out(D("1000.00"), CASHIER)
    by_card = sale("", "200")
    device.register(by_card)
    # the client wants the card sale's money back in cash, and the drawer is empty
    (back_in_cash,) = build(GoodsReturn(original=by_card.draft, quantities=((0, D(1)),), cash=D("200"),
                                        electronic=D(0)))
    with pytest.raises(DeviceRefused, match="Недостаточно наличных"):
        device.register(replace(by_card, uuid=str(uuid.uuid4()), draft=back_in_cash))


def test_x_and_z_reports_equal_the_receipts(device):
    device.open_shift(CASHIER)
    receipts = [sale("800", "3000"), sale("150"), sale("", "99.90")]
    for r in receipts:
        device.register(r)
    device.register(returned(receipts[1]))
    x = device.report_x(CASHIER)
    expected = {"sell_cash": D("950"), "sell_electronic": D("3099.90"), "sell_count": D(3),
                "sell_return_cash": D("150"), "sell_return_count": D(1)}
    assert x.totals == expected and x.receipts == 4 and x.is_open
    z = device.close_shift(CASHIER)
    assert z.totals == expected and z.receipts == 4 and not z.is_open
    assert z.cash_in_drawer == D("800")
    state = EmulatorState.objects.get()
    assert not state.shift_open


def test_an_emulator_switched_off_is_unreachable(device, register):
    device.open_shift(CASHIER)
    EmulatorState.objects.filter(cash_register=register).update(online=False)
    with pytest.raises(DeviceUnavailable):
        device.register(sale("100"))
    assert not device.status().reachable
