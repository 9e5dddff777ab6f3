"""A receipt as it is printed on the register's tape: the HTML shown on its page and the PDF copy e-mailed.

The tape is in Russian whatever the reader's language: it reproduces a fiscal document (the printed names of
1054, 1214 and the payment sums are fixed by the ФНС formats).
"""
from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from torg.fiscal.models import FiscalReceipt
from torg.fiscal.receipts import Method, Operation, Vat

OPERATION_PRINTED = {Operation.SELL: "ПРИХОД", Operation.SELL_RETURN: "ВОЗВРАТ ПРИХОДА", Operation.BUY: "РАСХОД",
                     Operation.BUY_RETURN: "ВОЗВРАТ РАСХОДА", Operation.SELL_CORRECTION: "КОРРЕКЦИЯ ПРИХОДА",
                     Operation.SELL_RETURN_CORRECTION: "КОРРЕКЦИЯ ВОЗВРАТА ПРИХОДА",
                     Operation.BUY_CORRECTION: "КОРРЕКЦИЯ РАСХОДА",
                     Operation.BUY_RETURN_CORRECTION: "КОРРЕКЦИЯ ВОЗВРАТА РАСХОДА"}
METHOD_PRINTED = {Method.FULL_PREPAYMENT: "ПРЕДОПЛАТА 100%", Method.PREPAYMENT: "ПРЕДОПЛАТА",
                  Method.ADVANCE: "АВАНС", Method.FULL_PAYMENT: "ПОЛНЫЙ РАСЧЕТ",
                  Method.PARTIAL_PAYMENT: "ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ", Method.CREDIT: "ПЕРЕДАЧА В КРЕДИТ",
                  Method.CREDIT_PAYMENT: "ОПЛАТА КРЕДИТА"}
VAT_PRINTED = {Vat.VAT22: "НДС 22%", Vat.VAT10: "НДС 10%", Vat.VAT0: "НДС 0%", Vat.NONE: "НДС не облагается",
               Vat.VAT122: "НДС 22/122", Vat.VAT110: "НДС 10/110", Vat.VAT5: "НДС 5%", Vat.VAT7: "НДС 7%",
               Vat.VAT105: "НДС 5/105", Vat.VAT107: "НДС 7/107", Vat.VAT20: "НДС 20%", Vat.VAT120: "НДС 20/120"}
PAYMENTS_PRINTED = (("cash", "НАЛИЧНЫМИ"), ("electronic", "БЕЗНАЛИЧНЫМИ"),
                    ("prepaid", "ПРЕДВАРИТЕЛЬНАЯ ОПЛАТА (АВАНС)"), ("credit", "ПОСЛЕДУЮЩАЯ ОПЛАТА (КРЕДИТ)"),
                    ("other", "ИНАЯ ФОРМА ОПЛАТЫ"))
TAXATION_PRINTED = {"osn": "ОСН", "usn_income": "УСН доход", "usn_income_outcome": "УСН доход - расход",
                    "esn": "ЕСХН", "patent": "ПСН"}


def tape_context(receipt: FiscalReceipt) -> dict[str, Any]:
    draft = receipt.to_draft()
    register = receipt.cash_register
    organization = receipt.organization
    when = receipt.registered_at or receipt.created_at
    return {
        "receipt": receipt,
        "organization": organization,
        "register": register,
        "operation": OPERATION_PRINTED[draft.operation],
        "lines": [{"name": ln.name, "quantity": ln.quantity.normalize(), "price": ln.price, "amount": ln.amount,
                   "method": METHOD_PRINTED[ln.method], "vat": VAT_PRINTED[ln.vat], "vat_amount": ln.vat_amount}
                  for ln in draft.lines],
        "total": draft.total,
        "payments": [(label, getattr(draft.payments, key)) for key, label in PAYMENTS_PRINTED
                     if getattr(draft.payments, key)],
        "vats": [(VAT_PRINTED[vat], amount) for vat, amount in draft.vat_by_rate.items() if vat != Vat.NONE],
        "taxation": TAXATION_PRINTED.get(register.taxation, "") if register else "",
        "when": timezone.localtime(when).strftime("%d.%m.%Y %H:%M"),
        "correction": draft.correction,
    }


def receipt_html(receipt: FiscalReceipt) -> str:
    return render_to_string("fiscal/receipt_tape.html", tape_context(receipt))


def receipt_pdf(receipt: FiscalReceipt) -> bytes:
    from torg.printing.services import render_pdf

    return render_pdf("fiscal/receipt_pdf.html", tape_context(receipt))
