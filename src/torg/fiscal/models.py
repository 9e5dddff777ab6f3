"""Fiscal: cash registers (ККТ), the receipts sent to them, and the state of the built-in emulator.

A `FiscalReceipt` is both the receipt (its lines and payment sums, in the ФФД 1.2 structure of `receipts.py`)
and its place in the fiscal queue (status, attempts, the device's answer). It is created in the same transaction
as the payment or shipment that needs it, and sent to the register's driver only after that transaction
commits (`queue.py`).
"""
from __future__ import annotations

import uuid as uuid_lib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import CashDesk, Item, Organization, Partner
from torg.catalogs.models import Catalog as CatalogBase
from torg.core.money import MoneyField, QuantityField
from torg.fiscal import receipts as r


class Taxation(models.TextChoices):
    """Tag 1055: the taxation system the register applies."""

    OSN = "osn", _("general (ОСН)")
    USN_INCOME = "usn_income", _("simplified, income (УСН доходы)")
    USN_INCOME_OUTCOME = "usn_income_outcome", _("simplified, income minus expenses (УСН доходы − расходы)")
    ESN = "esn", _("unified agricultural tax (ЕСХН)")
    PATENT = "patent", _("patent (ПСН)")


class Driver(models.TextChoices):
    EMULATOR = "emulator", _("built-in emulator")
    ATOL_WEB = "atol_web", _("ATOL Web Server (Driver 10)")
    ATOL_ONLINE = "atol_online", _("ATOL Online (cloud)")


class FfdVersion(models.TextChoices):
    V1_2 = "1.2", "1.2"
    V1_05 = "1.05", "1.05"


class CashRegister(CatalogBase):
    """A cash register (ККТ) registered with the tax office, and how torg reaches it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    name = models.CharField(_("name"), max_length=200)
    model = models.CharField(_("model"), max_length=100, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=40, blank=True)
    registration_number = models.CharField(_("registration number"), max_length=20, blank=True,
                                           help_text=_("The 16-digit number the tax office gave the register."))
    taxation = models.CharField(_("taxation system"), max_length=20, choices=Taxation.choices, default=Taxation.OSN)
    ffd_version = models.CharField(_("ФФД version"), max_length=5, choices=FfdVersion.choices,
                                   default=FfdVersion.V1_2)
    payments_place = models.CharField(_("place of settlement"), max_length=200, blank=True,
                                      help_text=_("Printed on the receipt, e.g. «Офис продаж» or a website."))
    payments_address = models.CharField(_("address of settlement"), max_length=500,
                                        help_text=_("The address printed on every receipt (required by ФФД 1.2)."))
    cash_desk = models.ForeignKey(CashDesk, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("cash desk"),
                                  help_text=_("Cash taken at this desk is registered on this register."))
    is_default = models.BooleanField(_("default for the organization"), default=False,
                                     help_text=_("Receipts of the organization with no register of their own go "
                                                 "here."))
    driver = models.CharField(_("driver"), max_length=20, choices=Driver.choices, default=Driver.EMULATOR)
    connection = models.JSONField(_("connection settings"), default=dict, blank=True,
                                  help_text=_("For ATOL Web Server: base_url, login, password. For ATOL Online: "
                                              "base_url, login, password, group_code, company_email."))
    auto_shift = models.BooleanField(_("open and close shifts automatically"), default=True,
                                     help_text=_("Opens a shift for the first receipt, and closes a shift that has "
                                                 "run 24 hours (Z report) before opening the next."))
    cashier_name = models.CharField(_("cashier printed on receipts"), max_length=100, blank=True)
    cashier_inn = models.CharField(_("cashier's INN"), max_length=12, blank=True)
    # The queue's lease: one worker at a time talks to a register, so receipts go out in order.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("cash register")
        verbose_name_plural = _("cash registers")

    def __str__(self) -> str:
        return self.name


class ReceiptStatus(models.TextChoices):
    QUEUED = "queued", _("waiting")  # in the queue; `last_error` says why it is still waiting, if it is
    SENT = "sent", _("sent")  # handed to the driver, no answer yet
    REGISTERED = "registered", _("registered")  # the device registered it: fiscal attributes known
    FAILED = "failed", _("failed")  # refused by the device (its message kept); a person retries or cancels
    CANCELLED = "cancelled", _("cancelled")  # a person cancelled it; never sent again


OPERATION_CHOICES = [
    (r.Operation.SELL.value, _("sale (приход)")),
    (r.Operation.SELL_RETURN.value, _("sale return (возврат прихода)")),
    (r.Operation.BUY.value, _("purchase (расход)")),
    (r.Operation.BUY_RETURN.value, _("purchase return (возврат расхода)")),
    (r.Operation.SELL_CORRECTION.value, _("sale correction")),
    (r.Operation.SELL_RETURN_CORRECTION.value, _("sale return correction")),
    (r.Operation.BUY_CORRECTION.value, _("purchase correction")),
    (r.Operation.BUY_RETURN_CORRECTION.value, _("purchase return correction")),
]


class FiscalReceipt(models.Model):
    """One receipt for one settlement, and its way through the fiscal queue."""

    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    cash_register = models.ForeignKey(CashRegister, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="receipts", verbose_name=_("cash register"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("client"))
    operation = models.CharField(_("operation"), max_length=30, choices=OPERATION_CHOICES)
    # What the receipt registers (one of them, or none for a correction a person typed).
    payment = models.ForeignKey("payments.IncomingPayment", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", verbose_name=_("payment"))
    refund = models.ForeignKey("payments.Refund", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("refund"))
    shipment = models.ForeignKey("sales.Shipment", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("shipment"))
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="returns",
                                 verbose_name=_("receipt returned or corrected"))
    event_key = models.CharField(max_length=100, null=True, blank=True, unique=True, editable=False)
    total = MoneyField(_("total"))
    cash = MoneyField(_("cash"))
    electronic = MoneyField(_("electronic"))
    prepaid = MoneyField(_("prepayment offset"))
    credit = MoneyField(_("on credit"))
    other = MoneyField(_("counter provision"))
    buyer_contact = models.CharField(_("buyer's phone or e-mail"), max_length=100, blank=True)
    buyer_name = models.CharField(_("buyer"), max_length=200, blank=True)
    buyer_inn = models.CharField(_("buyer's INN"), max_length=12, blank=True)
    correction_type = models.CharField(_("correction type"), max_length=12, blank=True,
                                       choices=[(r.CorrectionType.SELF.value, _("on our own")),
                                                (r.CorrectionType.INSTRUCTION.value, _("by the tax office's order"))])
    correction_date = models.DateField(_("date of the settlement corrected"), null=True, blank=True)
    correction_number = models.CharField(_("number of the tax office's order"), max_length=50, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=ReceiptStatus.choices,
                              default=ReceiptStatus.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("device's message"), blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    sent_at = models.DateTimeField(null=True, blank=True)
    # The device's answer (фискальные реквизиты).
    fiscal_document_number = models.PositiveIntegerField(_("fiscal document No."), null=True, blank=True)
    fiscal_sign = models.CharField(_("fiscal sign"), max_length=20, blank=True)
    fn_number = models.CharField(_("fiscal drive No."), max_length=20, blank=True)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True)
    shift_number = models.PositiveIntegerField(_("shift"), null=True, blank=True)
    receipt_number = models.PositiveIntegerField(_("receipt No. in the shift"), null=True, blank=True)
    registration_number = models.CharField(_("register's registration No."), max_length=20, blank=True)
    ofd_url = models.CharField(_("receipt at the fiscal data operator"), max_length=500, blank=True)
    device_answer = models.JSONField(default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    emailed_to = models.CharField(_("PDF copy e-mailed to"), max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("fiscal receipt")
        verbose_name_plural = _("fiscal receipts")
        indexes = [models.Index(fields=["cash_register", "status", "id"]),
                   models.Index(fields=["payment"]), models.Index(fields=["shipment"])]

    def __str__(self) -> str:
        label = self.get_operation_display()
        if self.fiscal_document_number:
            return _("Receipt %(label)s, FD No. %(fd)s") % {"label": label, "fd": self.fiscal_document_number}
        return _("Receipt %(label)s of %(date)s") % {"label": label, "date": self.created_at.strftime("%d.%m.%Y")}

    @property
    def is_waiting(self) -> bool:
        return self.status in (ReceiptStatus.QUEUED, ReceiptStatus.SENT)

    def to_draft(self, lines: list[FiscalReceiptLine] | None = None) -> r.ReceiptDraft:
        """The receipt as builder data (what a driver receives)."""
        lines = lines if lines is not None else list(self.lines.all())
        correction = None
        if self.correction_type:
            correction = r.Correction(r.CorrectionType(self.correction_type), self.correction_date,
                                      self.correction_number)
        return r.ReceiptDraft(
            operation=r.Operation(self.operation),
            lines=tuple(ln.to_line() for ln in lines),
            payments=r.PaymentSums(cash=self.cash, electronic=self.electronic, prepaid=self.prepaid,
                                   credit=self.credit, other=self.other),
            buyer_contact=self.buyer_contact, buyer_name=self.buyer_name, buyer_inn=self.buyer_inn,
            correction=correction)


class FiscalReceiptLine(models.Model):
    receipt = models.ForeignKey(FiscalReceipt, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField(_("No."))
    name = models.CharField(_("name"), max_length=128)
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("price"))
    amount = MoneyField(_("amount"))
    method = models.PositiveSmallIntegerField(_("payment method"), choices=[
        (r.Method.FULL_PREPAYMENT, _("100% prepayment")), (r.Method.PREPAYMENT, _("prepayment")),
        (r.Method.ADVANCE, _("advance")), (r.Method.FULL_PAYMENT, _("full payment")),
        (r.Method.PARTIAL_PAYMENT, _("partial payment and credit")), (r.Method.CREDIT, _("transfer on credit")),
        (r.Method.CREDIT_PAYMENT, _("payment of credit"))])
    subject = models.PositiveSmallIntegerField(_("subject"), choices=[
        (r.Subject.COMMODITY, _("goods")), (r.Subject.EXCISE, _("excise goods")), (r.Subject.JOB, _("work")),
        (r.Subject.SERVICE, _("service")), (r.Subject.PAYMENT, _("payment")), (r.Subject.ANOTHER, _("other")),
        (r.Subject.COMMODITY_WITHOUT_MARKING, _("goods to be marked, no code")),
        (r.Subject.COMMODITY_WITH_MARKING, _("marked goods"))])
    vat = models.PositiveSmallIntegerField(_("VAT rate"), choices=[
        (r.Vat.VAT22, "22%"), (r.Vat.VAT10, "10%"), (r.Vat.VAT0, "0%"), (r.Vat.NONE, _("without VAT")),
        (r.Vat.VAT122, "22/122"), (r.Vat.VAT110, "10/110"), (r.Vat.VAT5, "5%"), (r.Vat.VAT7, "7%"),
        (r.Vat.VAT105, "5/105"), (r.Vat.VAT107, "7/107"), (r.Vat.VAT20, "20%"), (r.Vat.VAT120, "20/120")])
    vat_amount = MoneyField(_("VAT"))
    unit = models.PositiveSmallIntegerField(_("unit"), default=0)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey("sales.SalesOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("order"))
    shipment = models.ForeignKey("sales.Shipment", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("shipment"))

    class Meta:
        ordering = ["receipt", "line_no"]
        indexes = [models.Index(fields=["order"])]

    def to_line(self) -> r.ReceiptLine:
        reference = f"order:{self.order_id}" if self.order_id else (
            f"shipment:{self.shipment_id}" if self.shipment_id else "")
        return r.ReceiptLine(name=self.name, quantity=Decimal(self.quantity), price=Decimal(self.price),
                             amount=Decimal(self.amount), method=r.Method(self.method),
                             subject=r.Subject(self.subject), vat=r.Vat(self.vat), unit=r.Unit(self.unit),
                             item_id=self.item_id, reference=reference)


# ================================================================ the emulator's memory
class EmulatorState(models.Model):
    """What the built-in emulator of a register remembers between calls (its fiscal drive, its drawer)."""

    cash_register = models.OneToOneField(CashRegister, on_delete=models.CASCADE, related_name="emulator")
    fn_number = models.CharField(max_length=16)
    registration_number = models.CharField(max_length=16)
    online = models.BooleanField(_("reachable"), default=True,
                                 help_text=_("Untick to make the emulator behave like a register that is off."))
    last_document_number = models.PositiveIntegerField(default=0)
    shift_number = models.PositiveIntegerField(default=0)
    shift_open = models.BooleanField(default=False)
    shift_opened_at = models.DateTimeField(null=True, blank=True)
    receipts_in_shift = models.PositiveIntegerField(default=0)
    cash_in_drawer = MoneyField(default=Decimal(0))
    shift_totals = models.JSONField(default=dict)  # e.g. {"sell_cash": "800.00", "sell_electronic": …}

    class Meta:
        verbose_name = _("emulated register")


class EmulatorDocument(models.Model):
    """A fiscal document the emulator registered (receipts, shift openings and closings)."""

    state = models.ForeignKey(EmulatorState, on_delete=models.CASCADE, related_name="documents")
    uuid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    kind = models.CharField(max_length=30)
    number = models.PositiveIntegerField()
    fiscal_sign = models.CharField(max_length=20)
    shift_number = models.PositiveIntegerField()
    receipt_number = models.PositiveIntegerField(default=0)
    registered_at = models.DateTimeField()
    total = MoneyField(default=Decimal(0))
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["state", "number"]
        constraints = [models.UniqueConstraint(fields=["state", "number"], name="fiscal_emudoc_number_uniq")]
