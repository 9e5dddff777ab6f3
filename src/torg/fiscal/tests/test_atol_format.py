"""The ATOL formats: the worked examples of integrations.md §2.4 reproduced exactly from receipts built here,
the other task types, numbers without float artefacts, the parsers of the answers, and the format checker the
emulators use (it must catch what the real services reject)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal as D
from typing import Any

import pytest

from torg.fiscal.atol_format import (
    device_status_from_dto,
    dto_cash_in,
    dto_cash_out,
    dto_close_shift,
    dto_open_shift,
    dto_report_x,
    dto_task,
    fiscal_result_from_dto,
    fiscal_result_from_online,
    json_number,
    online_body,
    shift_report_from_dto,
)
from torg.fiscal.devices import Cashier, DeviceReceipt
from torg.fiscal.receipts import (
    Correction,
    CorrectionType,
    Method,
    Operation,
    PaymentSums,
    ReceiptDraft,
    ReceiptLine,
    Subject,
    Unit,
    Vat,
)
from torg.fiscal.tests.atol_servers import dto_task_problems, online_body_problems, wire

MSK = dt.timezone(dt.timedelta(hours=3))
COURIER = Cashier("Курьер Иванов И.И.", "770123456703")
CALLBACK = "https://erp.example.ru/atol/callback"
STAMP = dt.datetime(2026, 2, 10, 14, 5)


def goods(method: Method, kettle_vat: Vat, tea_vat: Vat) -> tuple[ReceiptLine, ...]:
    """The order of scenarios (a) and (d): a kettle, two mugs, two packs of tea."""
    return (
        ReceiptLine("Чайник электрический", D(1), D(3000), D(3000), method, Subject.COMMODITY, kettle_vat),
        ReceiptLine("Кружка керамическая", D(2), D(250), D(500), method, Subject.COMMODITY, kettle_vat),
        ReceiptLine("Чай черный 100 г", D(2), D(150), D(300), method, Subject.COMMODITY, tea_vat),
    )


def device_receipt(uuid: str, draft: ReceiptDraft, **changes: Any) -> DeviceReceipt:
    receipt = DeviceReceipt(uuid=uuid, draft=draft, taxation="osn", payments_place="Доставка курьером",
                            payments_address="г. Москва, ул. Примерная, д. 1", cashier=COURIER,
                            company_inn="7728123459", company_email="shop@example.ru")
    return dataclasses.replace(receipt, **changes)


def as_cloud(receipt: DeviceReceipt) -> DeviceReceipt:
    """The worked examples' ATOL Online bodies name no cashier and no place of settlement (the cloud group has
    them): the same receipt as a cloud register's settings give it."""
    return dataclasses.replace(receipt, payments_place="", cashier=Cashier(""))


PREPAYMENT = ReceiptDraft(Operation.SELL, goods(Method.FULL_PREPAYMENT, Vat.VAT122, Vat.VAT110),
                          PaymentSums(electronic=D(3800)), buyer_contact="+79161234567")
HANDOVER = ReceiptDraft(Operation.SELL, goods(Method.FULL_PAYMENT, Vat.VAT22, Vat.VAT10),
                        PaymentSums(prepaid=D(3800)), buyer_contact="+79161234567")
PAID_AT_DOOR = ReceiptDraft(Operation.SELL, goods(Method.FULL_PAYMENT, Vat.VAT22, Vat.VAT10),
                            PaymentSums(cash=D(800), electronic=D(3000)), buyer_contact="+79161234567")

# integrations.md §2.4, copied as printed there.
A1_DTO = """{
  "type": "sell", "taxationType": "osn", "electronically": false,
  "operator": {"name": "Курьер Иванов И.И.", "vatin": "770123456703"},
  "clientInfo": {"emailOrPhone": "+79161234567"},
  "paymentsPlace": "Доставка курьером", "paymentsAddress": "г. Москва, ул. Примерная, д. 1",
  "items": [
    {"type": "position", "name": "Чайник электрический", "price": 3000, "quantity": 1, "amount": 3000, "measurementUnit": "piece", "paymentMethod": "fullPrepayment", "paymentObject": "commodity", "tax": {"type": "vat122"}},
    {"type": "position", "name": "Кружка керамическая", "price": 250, "quantity": 2, "amount": 500, "measurementUnit": "piece", "paymentMethod": "fullPrepayment", "paymentObject": "commodity", "tax": {"type": "vat122"}},
    {"type": "position", "name": "Чай черный 100 г", "price": 150, "quantity": 2, "amount": 300, "measurementUnit": "piece", "paymentMethod": "fullPrepayment", "paymentObject": "commodity", "tax": {"type": "vat110"}}
  ],
  "payments": [{"type": "electronically", "sum": 3800}],
  "total": 3800
}"""  # noqa: E501
A1_ONLINE = """{
  "timestamp": "10.02.2026 14:05:00", "external_id": "a-1-A-1001",
  "service": {"callback_url": "https://erp.example.ru/atol/callback"},
  "receipt": {
    "client": {"phone": "+79161234567"},
    "company": {"email": "shop@example.ru", "sno": "osn", "inn": "7728123459", "payment_address": "г. Москва, ул. Примерная, д. 1"},
    "items": [
      {"name": "Чайник электрический", "price": 3000, "quantity": 1, "measure": 0, "sum": 3000, "payment_method": "full_prepayment", "payment_object": 1, "vat": {"type": "vat122", "sum": 540.98}},
      {"name": "Кружка керамическая", "price": 250, "quantity": 2, "measure": 0, "sum": 500, "payment_method": "full_prepayment", "payment_object": 1, "vat": {"type": "vat122", "sum": 90.16}},
      {"name": "Чай черный 100 г", "price": 150, "quantity": 2, "measure": 0, "sum": 300, "payment_method": "full_prepayment", "payment_object": 1, "vat": {"type": "vat110", "sum": 27.27}}
    ],
    "payments": [{"type": 1, "sum": 3800}],
    "vats": [{"type": "vat122", "sum": 631.14}, {"type": "vat110", "sum": 27.27}],
    "total": 3800
  }
}"""  # noqa: E501
A2_DTO = """{
  "type": "sell", "taxationType": "osn", "electronically": false,
  "operator": {"name": "Курьер Иванов И.И.", "vatin": "770123456703"},
  "clientInfo": {"emailOrPhone": "+79161234567"},
  "paymentsPlace": "Доставка курьером", "paymentsAddress": "г. Москва, ул. Примерная, д. 1",
  "items": [
    {"type": "position", "name": "Чайник электрический", "price": 3000, "quantity": 1, "amount": 3000, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat22"}},
    {"type": "position", "name": "Кружка керамическая", "price": 250, "quantity": 2, "amount": 500, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat22"}},
    {"type": "position", "name": "Чай черный 100 г", "price": 150, "quantity": 2, "amount": 300, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat10"}}
  ],
  "payments": [{"type": "prepaid", "sum": 3800}],
  "total": 3800
}"""  # noqa: E501
A2_ONLINE = """{
  "timestamp": "10.02.2026 14:05:00", "external_id": "a-2-A-1001",
  "service": {"callback_url": "https://erp.example.ru/atol/callback"},
  "receipt": {
    "client": {"phone": "+79161234567"},
    "company": {"email": "shop@example.ru", "sno": "osn", "inn": "7728123459", "payment_address": "г. Москва, ул. Примерная, д. 1"},
    "items": [
      {"name": "Чайник электрический", "price": 3000, "quantity": 1, "measure": 0, "sum": 3000, "payment_method": "full_payment", "payment_object": 1, "vat": {"type": "vat22", "sum": 540.98}},
      {"name": "Кружка керамическая", "price": 250, "quantity": 2, "measure": 0, "sum": 500, "payment_method": "full_payment", "payment_object": 1, "vat": {"type": "vat22", "sum": 90.16}},
      {"name": "Чай черный 100 г", "price": 150, "quantity": 2, "measure": 0, "sum": 300, "payment_method": "full_payment", "payment_object": 1, "vat": {"type": "vat10", "sum": 27.27}}
    ],
    "payments": [{"type": 2, "sum": 3800}],
    "vats": [{"type": "vat22", "sum": 631.14}, {"type": "vat10", "sum": 27.27}],
    "total": 3800
  }
}"""  # noqa: E501
D1_DTO = """{
  "type": "sell", "taxationType": "osn", "electronically": false,
  "operator": {"name": "Курьер Иванов И.И.", "vatin": "770123456703"},
  "clientInfo": {"emailOrPhone": "+79161234567"},
  "paymentsPlace": "Доставка курьером", "paymentsAddress": "г. Москва, ул. Примерная, д. 1",
  "items": [
    {"type": "position", "name": "Чайник электрический", "price": 3000, "quantity": 1, "amount": 3000, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat22"}},
    {"type": "position", "name": "Кружка керамическая", "price": 250, "quantity": 2, "amount": 500, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat22"}},
    {"type": "position", "name": "Чай черный 100 г", "price": 150, "quantity": 2, "amount": 300, "measurementUnit": "piece", "paymentMethod": "fullPayment", "paymentObject": "commodity", "tax": {"type": "vat10"}}
  ],
  "payments": [{"type": "cash", "sum": 800}, {"type": "electronically", "sum": 3000}],
  "total": 3800
}"""  # noqa: E501


def same_json(ours: dict[str, Any], reference: str) -> None:
    """Equal as JSON text: the same keys in the same order, the same numbers written the same way."""
    assert json.dumps(ours, ensure_ascii=False) == json.dumps(json.loads(reference), ensure_ascii=False)


@pytest.mark.parametrize(("uuid", "draft", "reference"), [
    ("a-1-A-1001", PREPAYMENT, A1_DTO), ("a-2-A-1001", HANDOVER, A2_DTO), ("d-1-A-1004", PAID_AT_DOOR, D1_DTO),
], ids=["a-prepayment", "a-handover", "d-cash-and-card"])
def test_worked_examples_as_atol_driver_tasks(uuid: str, draft: ReceiptDraft, reference: str) -> None:
    assert draft.problems() == []

    task = dto_task(device_receipt(uuid, draft))

    same_json(task, reference)
    assert dto_task_problems(wire(task)) == []


@pytest.mark.parametrize(("uuid", "draft", "reference"), [
    ("a-1-A-1001", PREPAYMENT, A1_ONLINE), ("a-2-A-1001", HANDOVER, A2_ONLINE),
], ids=["a-prepayment", "a-handover"])
def test_worked_examples_as_atol_online_bodies(uuid: str, draft: ReceiptDraft, reference: str) -> None:
    operation, body = online_body(as_cloud(device_receipt(uuid, draft)), callback_url=CALLBACK, timestamp=STAMP)

    assert operation == "sell"
    same_json(body, reference)
    assert online_body_problems(operation, wire(body)) == []


def test_scenario_d_online_body_pays_cash_as_0_and_card_as_1() -> None:
    operation, body = online_body(device_receipt("d-1-A-1004", PAID_AT_DOOR), timestamp=STAMP)

    assert operation == "sell"
    assert body["receipt"]["payments"] == [{"type": 0, "sum": 800}, {"type": 1, "sum": 3000}]
    assert body["receipt"]["vats"] == [{"type": "vat22", "sum": 631.14}, {"type": "vat10", "sum": 27.27}]
    assert body["receipt"]["cashier"] == "Курьер Иванов И.И."
    assert body["receipt"]["cashier_inn"] == "770123456703"
    assert body["receipt"]["company"]["location"] == "Доставка курьером"
    assert "service" not in body
    assert online_body_problems(operation, wire(body)) == []


@pytest.mark.parametrize(("operation", "dto_type", "online_operation"), [
    (Operation.SELL, "sell", "sell"), (Operation.SELL_RETURN, "sellReturn", "sell_refund"),
    (Operation.BUY, "buy", "buy"), (Operation.BUY_RETURN, "buyReturn", "buy_refund"),
])
def test_each_operation_has_its_task_type_and_online_operation(operation: Operation, dto_type: str,
                                                               online_operation: str) -> None:
    receipt = device_receipt("r-1", dataclasses.replace(PAID_AT_DOOR, operation=operation))

    assert dto_task(receipt)["type"] == dto_type
    name, body = online_body(receipt, timestamp=STAMP)
    assert name == online_operation
    assert "receipt" in body and "correction" not in body


@pytest.mark.parametrize(("operation", "dto_type", "online_operation"), [
    (Operation.SELL_CORRECTION, "sellCorrection", "sell_correction"),
    (Operation.SELL_RETURN_CORRECTION, "sellReturnCorrection", "sell_refund_correction"),
    (Operation.BUY_CORRECTION, "buyCorrection", "buy_correction"),
    (Operation.BUY_RETURN_CORRECTION, "buyReturnCorrection", "buy_refund_correction"),
])
def test_correction_receipts_carry_type_and_base_date(operation: Operation, dto_type: str,
                                                      online_operation: str) -> None:
    draft = dataclasses.replace(PAID_AT_DOOR, operation=operation,
                                correction=Correction(CorrectionType.SELF, dt.date(2026, 1, 15)))
    receipt = device_receipt("c-1", draft)

    task = dto_task(receipt)
    assert task["type"] == dto_type
    assert (task["correctionType"], task["correctionBaseDate"]) == ("self", "2026.01.15")
    assert "correctionBaseNumber" not in task
    assert dto_task_problems(wire(task)) == []
    name, body = online_body(receipt, timestamp=STAMP)
    assert name == online_operation
    assert "receipt" not in body
    assert body["correction"]["correction_info"] == {"type": "self", "base_date": "15.01.2026"}
    assert online_body_problems(name, wire(body)) == []


def test_correction_by_instruction_carries_the_order_number() -> None:
    draft = dataclasses.replace(PAID_AT_DOOR, operation=Operation.SELL_CORRECTION,
                                correction=Correction(CorrectionType.INSTRUCTION, dt.date(2026, 1, 15), "12-34/5"))
    receipt = device_receipt("c-2", draft)

    task = dto_task(receipt)
    assert (task["correctionType"], task["correctionBaseNumber"]) == ("instruction", "12-34/5")
    assert online_body(receipt, timestamp=STAMP)[1]["correction"]["correction_info"] == {
        "type": "instruction", "base_date": "15.01.2026", "base_number": "12-34/5"}


def test_buyer_e_mail_name_and_inn_and_an_electronic_only_receipt() -> None:
    draft = dataclasses.replace(PAID_AT_DOOR, buyer_contact="buyer@example.ru", buyer_name="ООО «Ромашка»",
                                buyer_inn="7707083893")
    receipt = device_receipt("e-1", draft, electronically=True, taxation="usn_income_outcome")

    task = dto_task(receipt)
    assert task["electronically"] is True
    assert task["taxationType"] == "usnIncomeOutcome"
    assert task["clientInfo"] == {"emailOrPhone": "buyer@example.ru", "name": "ООО «Ромашка»",
                                  "vatin": "7707083893"}
    body = online_body(receipt, timestamp=STAMP)[1]["receipt"]
    assert body["client"] == {"email": "buyer@example.ru", "name": "ООО «Ромашка»", "inn": "7707083893"}
    assert body["company"]["sno"] == "usn_income_outcome"


def test_advance_credit_payment_and_weighed_goods_map_to_their_names() -> None:
    lines = (
        ReceiptLine("Аванс", D(1), D("1000.50"), D("1000.50"), Method.ADVANCE, Subject.PAYMENT, Vat.VAT122),
        ReceiptLine("Оплата долга по заказу №7", D(1), D(99), D(99), Method.CREDIT_PAYMENT, Subject.PAYMENT,
                    Vat.NONE),
        ReceiptLine("Сыр", D("0.375"), D("1199.99"), D("450.00"), Method.FULL_PAYMENT,
                    Subject.COMMODITY_WITH_MARKING, Vat.VAT10, Unit.KILOGRAM),
    )
    draft = ReceiptDraft(Operation.SELL, lines, PaymentSums(cash=D("1549.50")), buyer_contact="+79161234567")
    receipt = device_receipt("m-1", draft)

    items = dto_task(receipt)["items"]
    assert [(i["paymentMethod"], i["paymentObject"], i["tax"]["type"], i["measurementUnit"]) for i in items] == [
        ("advance", "payment", "vat122", "piece"), ("creditPayment", "payment", "none", "piece"),
        ("fullPayment", "commodityWithMarking", "vat10", "kilogram")]
    assert items[2]["quantity"] == 0.375
    full_body = online_body(receipt, timestamp=STAMP)[1]
    body = full_body["receipt"]
    assert [(i["payment_method"], i["payment_object"], i["measure"], i["vat"]) for i in body["items"]] == [
        ("advance", 10, 0, {"type": "vat122", "sum": 180.42}), ("credit_payment", 10, 0, {"type": "none", "sum": 0}),
        ("full_payment", 33, 11, {"type": "vat10", "sum": 40.91})]
    assert body["vats"] == [{"type": "vat122", "sum": 180.42}, {"type": "none", "sum": 0},
                            {"type": "vat10", "sum": 40.91}]
    text = json.dumps(body)
    assert '"price": 1000.5,' in text and '"total": 1549.5' in text
    assert online_body_problems("sell", wire(full_body)) == []


def test_zero_payment_sums_are_left_out() -> None:
    draft = dataclasses.replace(PAID_AT_DOOR, payments=PaymentSums(cash=D(0), electronic=D(3000), prepaid=D(800)))

    assert dto_task(device_receipt("z-1", draft))["payments"] == [
        {"type": "electronically", "sum": 3000}, {"type": "prepaid", "sum": 800}]
    assert online_body(device_receipt("z-1", draft), timestamp=STAMP)[1]["receipt"]["payments"] == [
        {"type": 1, "sum": 3000}, {"type": 2, "sum": 800}]


def test_every_kopeck_amount_is_written_with_its_own_digits() -> None:
    for kopecks in range(0, 1_000_000, 37):
        amount = D(kopecks) / 100
        assert json.dumps(json_number(amount)) == (str(kopecks // 100) if kopecks % 100 == 0 else
                                                   str(amount.normalize()))
    assert json.dumps(json_number(D("540.9800000001"))) == "540.98"
    assert json.dumps(json_number(D("0.1") + D("0.2"))) == "0.3"
    assert json.dumps(json_number(D("2.0005"), D("0.001"))) == "2.001"
    assert json.dumps(json_number(D("0.005"))) == "0.01"  # half-up, as the devices round


def test_shift_and_drawer_tasks() -> None:
    cashier = Cashier("Иванов И.И.", "770123456703")
    clerk = Cashier("Иванов И.И.")

    assert dto_open_shift(cashier) == {"type": "openShift",
                                       "operator": {"name": "Иванов И.И.", "vatin": "770123456703"}}
    assert dto_close_shift(cashier) == {"type": "closeShift",
                                        "operator": {"name": "Иванов И.И.", "vatin": "770123456703"}}
    assert dto_report_x(clerk) == {"type": "reportX", "operator": {"name": "Иванов И.И."}}
    assert json.dumps(dto_cash_in(D("5000.00"), clerk), ensure_ascii=False) == (
        '{"type": "cashIn", "cashSum": 5000, "operator": {"name": "Иванов И.И."}}')
    assert dto_cash_out(D("1200.10"), clerk) == {"type": "cashOut", "cashSum": 1200.1,
                                                 "operator": {"name": "Иванов И.И."}}
    for task in (dto_open_shift(cashier), dto_close_shift(cashier), dto_report_x(clerk),
                 dto_cash_in(D(5000), clerk), dto_cash_out(D("1200.10"), clerk)):
        assert dto_task_problems(wire(task)) == []


def test_fiscal_params_of_the_driver_become_a_fiscal_result() -> None:
    result = {"fiscalParams": {"fiscalDocumentDateTime": "2026-02-10T14:05:00+03:00", "fiscalDocumentNumber": 49,
                               "fiscalDocumentSign": "2403680979", "fiscalReceiptNumber": 12,
                               "fnNumber": "9999078900000961", "registrationNumber": "0000000001002292",
                               "shiftNumber": 11, "total": 3800.1, "fnsUrl": "www.nalog.gov.ru"},
              "warnings": {"notPrinted": False}}

    fiscal = fiscal_result_from_dto(result)

    assert (fiscal.fiscal_document_number, fiscal.fiscal_sign, fiscal.fn_number, fiscal.shift_number,
            fiscal.receipt_number, fiscal.registration_number, fiscal.total, fiscal.ofd_url) == (
        49, "2403680979", "9999078900000961", 11, 12, "0000000001002292", D("3800.1"), "www.nalog.gov.ru")
    assert fiscal.registered_at == dt.datetime(2026, 2, 10, 14, 5, tzinfo=MSK)
    assert fiscal.raw == result


def test_online_report_becomes_a_fiscal_result() -> None:
    report = {"uuid": "doc-1", "status": "done", "error": None, "payload": {
        "total": 3800, "fns_site": "www.nalog.gov.ru", "fn_number": "9999078902004387", "shift_number": 23,
        "receipt_datetime": "10.02.2026 14:05:01", "fiscal_receipt_number": 21, "fiscal_document_number": 501,
        "ecr_registration_number": "0000000003027865", "fiscal_document_attribute": 3326875773,
        "ofd_receipt_url": "https://ofd.example/r/1"}}

    fiscal = fiscal_result_from_online(report)

    assert (fiscal.fiscal_document_number, fiscal.fiscal_sign, fiscal.fn_number, fiscal.shift_number,
            fiscal.receipt_number, fiscal.registration_number, fiscal.total, fiscal.ofd_url) == (
        501, "3326875773", "9999078902004387", 23, 21, "0000000003027865", D(3800), "https://ofd.example/r/1")
    assert fiscal.registered_at == dt.datetime(2026, 2, 10, 14, 5, 1, tzinfo=MSK)  # the project's zone: Moscow


def test_shift_answers_become_reports_and_status() -> None:
    opened = shift_report_from_dto("openShift", {"fiscalParams": {
        "fiscalDocumentDateTime": "2026-02-10T09:00:00+03:00", "fiscalDocumentNumber": 70, "shiftNumber": 8}})
    closed = shift_report_from_dto("closeShift", {"fiscalParams": {
        "fiscalDocumentNumber": 90, "shiftNumber": 8, "receiptsCount": 19}})
    shift = {"shiftStatus": {"documentsCount": 5, "expiredTime": "2026-02-11T09:00:00+03:00", "number": 8,
                             "state": "opened"}}
    x_report = shift_report_from_dto("reportX", {}, shift)

    assert (opened.shift_number, opened.is_open, opened.fiscal_document_number, opened.opened_at) == (
        8, True, 70, dt.datetime(2026, 2, 10, 9, 0, tzinfo=MSK))
    assert (closed.shift_number, closed.is_open, closed.fiscal_document_number, closed.receipts) == (8, False, 90, 19)
    assert (x_report.shift_number, x_report.is_open, x_report.receipts, x_report.opened_at) == (
        8, True, 5, dt.datetime(2026, 2, 10, 9, 0, tzinfo=MSK))
    status = device_status_from_dto({"deviceStatus": {"shift": "expired"}},
                                    {"shiftStatus": {"number": 8, "state": "expired"}})
    assert (status.reachable, status.shift_open, status.shift_expired, status.shift_number) == (True, True, True, 8)


# The checker of the emulators must itself reject what the services reject, or the driver tests prove nothing.

def test_format_checker_rejects_broken_driver_tasks() -> None:
    good = wire(dto_task(device_receipt("x", PAID_AT_DOOR)))

    def broken(**changes: Any) -> list[str]:
        return dto_task_problems({**good, **changes})

    assert broken(discount=5) == ["task sell: unknown key 'discount'"]
    assert broken(total=D("3800.01")) == ["task sell: sum of items' amounts vs total: 3800 ≠ 3800.01",
                                          "task sell: sum of payments vs total: 3800 ≠ 3800.01"]
    assert broken(payments=[{"type": "cash", "sum": D("3800.0000000001")}]) == [
        "task sell.payments[1].sum: 3800.0000000001 has more than 2 decimals",
        "task sell: sum of payments vs total: 3800.0000000001 ≠ 3800"]
    assert broken(payments=[{"type": "card", "sum": 3800}]) == [
        "task sell.payments[1].type: 'card' is not one of the allowed values"]
    assert broken(items=[{**good["items"][0], "amount": "3000"}, *good["items"][1:]]) != []
    assert broken(items=[{**good["items"][0], "tax": {"type": "vat18"}}, *good["items"][1:]]) == [
        "task sell.items[1].tax.type: 'vat18' is not one of the allowed values"]
    assert broken(type="sellCorrection") == ["task sellCorrection: missing 'correctionBaseDate'",
                                             "task sellCorrection: missing 'correctionType'",
                                             "task sellCorrection.correctionType: None is not one of the allowed "
                                             "values",
                                             "task sellCorrection.correctionBaseDate: must be a non-empty string, "
                                             "not None"]
    assert broken(correctionType="self") == ["task sell: unknown key 'correctionType'"]
    assert broken(electronically=True, clientInfo={}) == [
        "task sell: an electronic receipt needs clientInfo.emailOrPhone (1008)"]
    assert dto_task_problems({"type": "cashIn", "cashSum": 0, "operator": {"name": "X"}}) == [
        "task cashIn.cashSum: must be positive, not 0"]


def test_format_checker_rejects_broken_online_bodies() -> None:
    operation, body = online_body(device_receipt("x", PAID_AT_DOOR), timestamp=STAMP)
    good = wire(body)
    receipt = good["receipt"]

    def broken(**changes: Any) -> list[str]:
        return online_body_problems(operation, {**good, "receipt": {**receipt, **changes}})

    first_item = receipt["items"][0]
    assert broken(items=[{**first_item, "vat": {"type": "vat22", "sum": D("541.00")}}, *receipt["items"][1:]]) == [
        "body.receipt.items[1].vat: VAT of the item: 541.00 ≠ 540.98"]
    assert broken(vats=[{"type": "vat22", "sum": D("631.14")}]) == [
        "body.receipt.vats: receipt VAT vat10 vs the items' VAT: -1 ≠ 27.27"]
    assert broken(payments=[{"type": 0, "sum": 3800}, {"type": 1, "sum": 1}]) == [
        "body.receipt: sum of payments vs total: 3801 ≠ 3800"]
    assert broken(items=[{**first_item, "payment_object": "commodity"}, *receipt["items"][1:]]) == [
        "body.receipt.items[1].payment_object: 'commodity' is not one of the allowed values"]
    assert online_body_problems("sell", {**good, "timestamp": "2026-02-10 14:05:00"}) == [
        "body.timestamp: '2026-02-10 14:05:00' does not match \\d{2}\\.\\d{2}\\.\\d{4} \\d{2}:\\d{2}:\\d{2}"]
    assert online_body_problems("sell_correction", good) == [
        "body: missing 'correction'", "body: unknown key 'receipt'",
        "body.correction: must be an object, not NoneType"]
    assert online_body_problems("refund", good) != []
