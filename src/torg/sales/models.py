"""Sales: trade agreements, quotes, sales orders, shipments, and the client settlement registers.

Order to cash posts into these registers (see DESIGN.md):

    SalesOrder  ──► OrderBacklog(+released lines)  Reserves(+reserved)  Stock(free −reserved)
    Shipment    ──► Stock(−qty)  StockCost(−cost)  OrderBacklog(−shipped)  Reserves(−released)
                    ClientSettlements(+shipped)  SalesTurnover(+revenue, +cost)   [or GoodsToIssue(+) on an
                    order-based warehouse]
    AdvanceOffset ► ClientAdvances(−)  ClientSettlements(+paid)
    (payments)  ──► ClientSettlements(+paid) / ClientAdvances(+)  Funds(+)
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import (
    Catalog,
    Contact,
    Counterparty,
    DeliveryAddress,
    Item,
    ItemKind,
    Organization,
    Partner,
    PriceType,
    VatRate,
    Warehouse,
)
from torg.core.documents import Document, DocumentLine, prices_include_vat_of
from torg.core.money import MoneyField, QuantityField, line_amount, round_money, vat_included, vat_on_top
from torg.core.registers import Dimension, Movement, Register, RegisterKind, Resource
from torg.stock.models import Stock, StockCost

ZERO = Decimal(0)

# ================================================================ registers
# Order lines released to ship and not yet shipped (распоряжения на отгрузку). Controlled: no line ships
# more than was released.
OrderBacklog = Register(
    name="order_backlog",
    app_label="sales",
    verbose_name=_("Orders to ship"),
    kind=RegisterKind.BALANCE,
    controlled=True,
    lock_order=300,
    dimensions=[
        Dimension("order", "sales.SalesOrder", _("order")),
        Dimension("line_code", None, _("order line"), max_length=10),
        Dimension("item", "catalogs.Item", _("item")),
        Dimension("warehouse", "catalogs.Warehouse", _("warehouse")),
    ],
    resources=[Resource("quantity", 3, _("quantity")), Resource("amount", 2, _("amount"))],
    shortage_message=_("“{item}” of {order}, line {line_code}, at {warehouse}, left to ship"),
)
OrderBacklogMovement, OrderBacklogTotal, OrderBacklogMonthlyTotal = OrderBacklog.build(__name__)

# Goods reserved for an order at a warehouse. A reserve also lowers the warehouse's free stock (Stock.free),
# which is controlled: nobody reserves or ships what others hold.
Reserves = Register(
    name="reserves",
    app_label="sales",
    verbose_name=_("Reserves"),
    kind=RegisterKind.BALANCE,
    controlled=True,
    lock_order=210,
    dimensions=[
        Dimension("warehouse", "catalogs.Warehouse", _("warehouse")),
        Dimension("item", "catalogs.Item", _("item")),
        Dimension("order", "sales.SalesOrder", _("order")),
    ],
    resources=[Resource("quantity", 3, _("quantity"))],
    shortage_message=_("“{item}” reserved for {order} at {warehouse}"),
)
ReservesMovement, ReservesTotal, ReservesMonthlyTotal = Reserves.build(__name__)

# What a client owes per settlement object: a sales order, or a shipment made without an order.
# `shipped` grows with shipments, `paid` with payments allocated to the object and advances offset to it;
# the client's debt on the object is shipped − paid (negative: a prepayment held on it).
ClientSettlements = Register(
    name="client_settlements",
    app_label="sales",
    verbose_name=_("Client settlements"),
    kind=RegisterKind.BALANCE,
    controlled=False,
    lock_order=400,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("partner", "catalogs.Partner", _("client")),
        Dimension("order", "sales.SalesOrder", _("order")),
        Dimension("shipment", "sales.Shipment", _("shipment")),
    ],
    resources=[Resource("shipped", 2, _("shipped")), Resource("paid", 2, _("paid"))],
)
ClientSettlementsMovement, ClientSettlementsTotal, ClientSettlementsMonthlyTotal = ClientSettlements.build(__name__)

# Money a client paid that is not (yet) allocated to any order or shipment (аванс). Controlled: a refund or an
# offset cannot take more than is held.
ClientAdvances = Register(
    name="client_advances",
    app_label="sales",
    verbose_name=_("Client advances"),
    kind=RegisterKind.BALANCE,
    controlled=True,
    lock_order=390,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("partner", "catalogs.Partner", _("client")),
    ],
    resources=[Resource("amount", 2, _("amount"))],
    shortage_message=_("Advance of {partner} held by {organization}"),
)
ClientAdvancesMovement, ClientAdvancesTotal, ClientAdvancesMonthlyTotal = ClientAdvances.build(__name__)

# Revenue, cost and gross profit per shipment line (выручка и себестоимость продаж).
SalesTurnover = Register(
    name="sales_turnover",
    app_label="sales",
    verbose_name=_("Sales"),
    kind=RegisterKind.TURNOVER,
    lock_order=500,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("partner", "catalogs.Partner", _("client")),
        Dimension("item", "catalogs.Item", _("item")),
        Dimension("manager", settings.AUTH_USER_MODEL, _("manager")),
        Dimension("warehouse", "catalogs.Warehouse", _("warehouse")),
        Dimension("order", "sales.SalesOrder", _("order")),
    ],
    resources=[
        Resource("quantity", 3, _("quantity")),
        Resource("revenue", 2, _("revenue without VAT")),
        Resource("vat", 2, _("VAT")),
        Resource("cost", 2, _("cost")),
    ],
)
SalesTurnoverMovement, _no_total, SalesTurnoverMonthlyTotal = SalesTurnover.build(__name__)

# Goods sold from an order-based warehouse and not yet issued by it (товары к отгрузке). A shipment adds, a goods
# issue takes away; not controlled, because the warehouse may issue other quantities than were sold: the difference
# stays visible on the shipment and its orders until someone resolves it.
GoodsToIssue = Register(
    name="goods_to_issue",
    app_label="sales",
    verbose_name=_("Goods to issue"),
    kind=RegisterKind.BALANCE,
    controlled=False,
    lock_order=220,
    dimensions=[
        Dimension("warehouse", "catalogs.Warehouse", _("warehouse")),
        Dimension("shipment", "sales.Shipment", _("shipment")),
        Dimension("item", "catalogs.Item", _("item")),
    ],
    resources=[Resource("quantity", 3, _("quantity"))],
)
GoodsToIssueMovement, GoodsToIssueTotal, GoodsToIssueMonthlyTotal = GoodsToIssue.build(__name__)


# ======================================================= payment schedules
class StageKind(models.TextChoices):
    ADVANCE = "advance", _("advance before securing")  # оплата до обеспечения
    PREPAYMENT = "prepayment", _("prepayment before shipment")  # оплата до отгрузки
    CREDIT = "credit", _("credit after shipment")  # оплата после отгрузки, N days


STAGE_ORDER = {StageKind.ADVANCE: 0, StageKind.PREPAYMENT: 1, StageKind.CREDIT: 2}


class PaymentSchedule(Catalog):
    """A payment schedule template (график оплаты): stages with % and day shift, copied into orders."""

    name = models.CharField(_("name"), max_length=200, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("payment schedule")
        verbose_name_plural = _("payment schedules")

    def __str__(self) -> str:
        return self.name


class PaymentScheduleStage(models.Model):
    schedule = models.ForeignKey(PaymentSchedule, on_delete=models.CASCADE, related_name="stages",
                                 verbose_name=_("payment schedule"))
    kind = models.CharField(_("stage"), max_length=12, choices=StageKind.choices)
    percent = models.DecimalField(_("percent"), max_digits=5, decimal_places=2)
    days = models.IntegerField(_("days"), default=0,
                               help_text=_("Advance and prepayment: days after the order date; "
                                           "credit: days after shipment."))

    class Meta:
        ordering = ["schedule", "id"]
        verbose_name = _("payment schedule stage")
        verbose_name_plural = _("payment schedule stages")


# ========================================================= trade agreements
class AgreementKind(models.TextChoices):
    TYPICAL = "typical", _("typical (for a group of clients)")
    INDIVIDUAL = "individual", _("individual (one client)")


class AgreementStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    ACTIVE = "active", _("active")
    CLOSED = "closed", _("closed")


class TradeAgreement(Catalog):
    """Terms of sale (соглашение об условиях продаж): prices, discount, payment schedule, warehouse, limits."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=12, choices=AgreementKind.choices, default=AgreementKind.TYPICAL)
    status = models.CharField(_("status"), max_length=8, choices=AgreementStatus.choices,
                              default=AgreementStatus.DRAFT)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("client"), help_text=_("For an individual agreement."))
    partners = models.ManyToManyField(Partner, blank=True, related_name="+", verbose_name=_("clients"),
                                      help_text=_("For a typical agreement; empty means every client."))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    price_type = models.ForeignKey(PriceType, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("price type"))
    discount_percent = models.DecimalField(_("discount, %"), max_digits=5, decimal_places=2, default=ZERO)
    max_manual_discount = models.DecimalField(_("maximum manual discount, %"), max_digits=5, decimal_places=2,
                                              default=ZERO)
    payment_schedule = models.ForeignKey(PaymentSchedule, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", verbose_name=_("payment schedule"))
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("warehouse"))
    delivery_days = models.PositiveIntegerField(_("delivery term, days"), default=0)
    min_order_amount = MoneyField(_("minimum order amount"))
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("trade agreement")
        verbose_name_plural = _("trade agreements")

    def __str__(self) -> str:
        return self.name

    def is_valid_on(self, day: dt.date) -> bool:
        return (self.status == AgreementStatus.ACTIVE and (self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day <= self.valid_to))


# ==================================================================== quotes
class Quote(Document):
    """A commercial proposal (коммерческое предложение). Each answer of the client is a new linked version."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SENT = "sent", _("sent to the client")
        ANSWERED = "answered", _("answered (a new version follows)")
        ACCEPTED = "accepted", _("accepted")
        REJECTED = "rejected", _("rejected")

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("counterparty"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("contact"))
    agreement = models.ForeignKey(TradeAgreement, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("agreement"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("previous version"))
    revision = models.PositiveIntegerField(_("version"), default=1)
    prices_include_vat = models.BooleanField(_("prices include VAT"), default=True)
    terms = models.TextField(_("terms of delivery and payment"), blank=True)
    amount = MoneyField(_("amount"))
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("manager"))
    registers = ()
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")


class QuoteLine(DocumentLine):
    document = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("price"))
    discount_percent = models.DecimalField(_("discount, %"), max_digits=5, decimal_places=2, default=ZERO)
    amount = MoneyField(_("amount"))
    vat_rate = models.IntegerField(_("VAT rate"), choices=VatRate.choices, default=VatRate.VAT_22)
    vat_amount = MoneyField(_("VAT"))
    asked_quantity = QuantityField(_("client asked: quantity"), null=True, blank=True)
    asked_price = MoneyField(_("client asked: price"), null=True, blank=True)
    agreed = models.BooleanField(_("agreed"), default=False)
    client_comment = models.CharField(_("comment for the client"), max_length=300, blank=True)

    class Meta(DocumentLine.Meta):
        verbose_name = _("quote line")

    def compute(self) -> None:
        compute_sale_line(self, prices_include_vat_of(self))


def compute_sale_line(line: Any, prices_include_vat: bool) -> None:
    """Amount = quantity × price less the discount; VAT inside (or on top of) it."""
    gross = line_amount(line.quantity, line.price)
    discount = round_money(gross * (line.discount_percent or ZERO) / Decimal(100))
    line.amount = gross - discount
    rate = max(int(line.vat_rate), 0)
    line.vat_amount = vat_included(line.amount, rate) if prices_include_vat else vat_on_top(line.amount, rate)


# ============================================================== sales orders
class OrderStatus(models.TextChoices):
    NOT_AGREED = "not_agreed", _("not agreed")
    TO_SECURE = "to_secure", _("to secure")
    TO_SHIP = "to_ship", _("to ship")
    CLOSED = "closed", _("closed")


class Securing(models.TextChoices):
    NONE = "none", _("do not secure")
    RESERVE = "reserve", _("reserve from stock")
    ON_ARRIVAL = "on_arrival", _("reserve as goods arrive")
    SHIP = "ship", _("ship")


class ApprovalState(models.TextChoices):
    NOT_NEEDED = "", _("not needed")
    PENDING = "pending", _("awaiting approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class SalesOrder(Document):
    """A client's order (заказ клиента). Its status is set by people; its state is computed from registers."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("counterparty"))
    agreement = models.ForeignKey(TradeAgreement, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("agreement"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    shipment_date = models.DateField(_("shipment date"), null=True, blank=True)
    delivery_address = models.ForeignKey(DeliveryAddress, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", verbose_name=_("delivery address"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("contact"))
    client_po_number = models.CharField(_("client's order No."), max_length=50, blank=True)
    client_po_date = models.DateField(_("client's order date"), null=True, blank=True)
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("manager"))
    status = models.CharField(_("status"), max_length=10, choices=OrderStatus.choices,
                              default=OrderStatus.NOT_AGREED)
    approval = models.CharField(_("approval"), max_length=8, choices=ApprovalState.choices, blank=True,
                                default=ApprovalState.NOT_NEEDED)
    agreed_at = models.DateTimeField(_("agreed at"), null=True, blank=True)
    prices_include_vat = models.BooleanField(_("prices include VAT"), default=True)
    quote = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("quote"))
    amount = MoneyField(_("amount"))  # the non-cancelled lines
    vat_amount = MoneyField(_("VAT"))
    advance_amount = MoneyField(_("advance before securing"))
    prepayment_amount = MoneyField(_("prepayment before shipment"))
    registers = (Stock, Reserves, OrderBacklog)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        indexes = [models.Index(fields=["partner", "date"])]

    @property
    def releases_all(self) -> bool:
        return self.status in (OrderStatus.TO_SHIP, OrderStatus.CLOSED)

    def movements(self) -> Iterable[Movement]:
        if self.status == OrderStatus.NOT_AGREED:
            return
        period = self.date
        for line in self.lines.all():  # type: ignore[attr-defined]
            if line.cancelled or line.quantity <= 0:
                continue
            warehouse_id = line.warehouse_id or self.warehouse_id
            goods = line.item_kind == ItemKind.GOODS
            if goods and line.securing == Securing.RESERVE:
                yield Reserves.receipt(period, line_no=line.line_no, warehouse=warehouse_id, item=line.item_id,
                                       order=self.pk, quantity=line.quantity)
                yield Stock.expense(period, line_no=line.line_no, warehouse=warehouse_id, item=line.item_id,
                                    quantity=ZERO, free=line.quantity)
            if self.releases_all or line.securing == Securing.SHIP:
                yield OrderBacklog.receipt(period, line_no=line.line_no, order=self.pk, line_code=line.code,
                                           item=line.item_id, warehouse=warehouse_id if goods else None,
                                           quantity=line.quantity, amount=line.amount)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        if getattr(self, "_state_refreshed_by_caller", False):
            return  # save_order refreshes it once its payment stages are written too (they were not yet)
        from torg.sales.states import refresh_order_states

        refresh_order_states([self.pk])


class SalesOrderLine(DocumentLine):
    document = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    code = models.PositiveIntegerField(_("line code"), default=0)  # stable across edits; shipments refer to it
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    item_kind = models.CharField(max_length=10, choices=ItemKind.choices, default=ItemKind.GOODS, editable=False)
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("price"))
    discount_percent = models.DecimalField(_("manual discount, %"), max_digits=5, decimal_places=2, default=ZERO)
    amount = MoneyField(_("amount"))
    vat_rate = models.IntegerField(_("VAT rate"), choices=VatRate.choices, default=VatRate.VAT_22)
    vat_amount = MoneyField(_("VAT"))
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("warehouse"))
    shipment_date = models.DateField(_("shipment date"), null=True, blank=True)
    securing = models.CharField(_("securing"), max_length=10, choices=Securing.choices, default=Securing.NONE)
    cancelled = models.BooleanField(_("cancelled"), default=False)
    cancel_reason = models.CharField(_("reason for cancellation"), max_length=200, blank=True)

    class Meta(DocumentLine.Meta):
        verbose_name = _("sales order line")
        # Lines waiting for goods are looked up by item on every stock receipt (reserve as goods arrive).
        indexes = [models.Index(fields=["securing", "item"], name="sales_orderline_securing_item")]

    def compute(self) -> None:
        compute_sale_line(self, prices_include_vat_of(self))


class OrderPaymentStage(models.Model):
    """A stage of an order's payment schedule with its date and amount (этап графика оплаты)."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="stages",
                              verbose_name=_("sales order"))
    kind = models.CharField(_("stage"), max_length=12, choices=StageKind.choices)
    percent = models.DecimalField(_("percent"), max_digits=5, decimal_places=2)
    amount = MoneyField(_("amount"))
    days = models.IntegerField(_("days"), default=0)
    due_date = models.DateField(_("due date"), null=True, blank=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("payment stage")
        verbose_name_plural = _("payment stages")


class OrderApproval(models.Model):
    """One request to approve an order's deviations from its agreement, and the decision on it."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("awaiting decision")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="approvals",
                              verbose_name=_("sales order"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("requested by"))
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    deviations = models.JSONField(_("deviations"), default=list)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("order approval")
        verbose_name_plural = _("order approvals")


class OrderStateCode(models.TextChoices):
    NOT_POSTED = "", _("not posted")
    AWAITING_APPROVAL = "awaiting_approval", _("awaiting approval")
    AWAITING_ADVANCE = "awaiting_advance", _("awaiting advance")
    READY_TO_SECURE = "ready_to_secure", _("ready to secure")
    AWAITING_PREPAYMENT = "awaiting_prepayment", _("awaiting prepayment")
    AWAITING_SUPPLY = "awaiting_supply", _("awaiting supply")
    READY_TO_SHIP = "ready_to_ship", _("ready to ship")
    SHIPPING = "shipping", _("shipping")
    AWAITING_PAYMENT = "awaiting_payment", _("awaiting payment")
    READY_TO_CLOSE = "ready_to_close", _("ready to close")
    CLOSED = "closed", _("closed")


class OrderState(models.Model):
    """An order's computed state (состояние заказа), rewritten after every posting that touches the order."""

    order = models.OneToOneField(SalesOrder, on_delete=models.CASCADE, primary_key=True, related_name="state")
    state = models.CharField(_("state"), max_length=20, choices=OrderStateCode.choices, blank=True, db_index=True)
    event_date = models.DateField(_("expected by"), null=True, blank=True, db_index=True)
    paid_amount = MoneyField(_("paid"))
    paid_percent = models.DecimalField(_("paid, %"), max_digits=7, decimal_places=2, default=ZERO)
    shipped_amount = MoneyField(_("shipped"))
    shipped_percent = models.DecimalField(_("shipped, %"), max_digits=7, decimal_places=2, default=ZERO)
    debt = MoneyField(_("debt"))
    issue_difference = models.BooleanField(_("issued differs from shipped"), default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order state")
        verbose_name_plural = _("order states")

    @property
    def overdue(self) -> bool:
        return bool(self.event_date and self.state not in ("", OrderStateCode.CLOSED)
                    and self.event_date < timezone.localdate())


# ================================================================= shipments
class Shipment(Document):
    """A sale of goods and services (реализация товаров и услуг): from orders of one client, or without one."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("counterparty"))
    agreement = models.ForeignKey(TradeAgreement, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("agreement"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    delivery_address = models.ForeignKey(DeliveryAddress, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", verbose_name=_("delivery address"))
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("manager"))
    due_date = models.DateField(_("payment due"), null=True, blank=True,
                                help_text=_("For a sale on credit without an order."))
    prices_include_vat = models.BooleanField(_("prices include VAT"), default=True)
    amount = MoneyField(_("amount"))
    vat_amount = MoneyField(_("VAT"))

    registers = (StockCost, Stock, GoodsToIssue, Reserves, OrderBacklog, ClientAdvances, ClientSettlements,
                 SalesTurnover)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        indexes = [models.Index(fields=["partner", "date"])]

    def movements(self) -> Iterable[Movement]:
        from torg.sales.shipping import shipment_movements

        return shipment_movements(self)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.sales.shipping import after_shipment_written

        after_shipment_written(self, changed, previous_date)


class ShipmentLine(DocumentLine):
    document = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order = models.ForeignKey(SalesOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("order"))
    order_line_code = models.PositiveIntegerField(_("order line"), default=0)  # 0: beyond any order
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("warehouse"))
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("price"))
    discount_percent = models.DecimalField(_("discount, %"), max_digits=5, decimal_places=2, default=ZERO)
    amount = MoneyField(_("amount"))
    vat_rate = models.IntegerField(_("VAT rate"), choices=VatRate.choices, default=VatRate.VAT_22)
    vat_amount = MoneyField(_("VAT"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("shipment line")
        indexes = [models.Index(fields=["order"])]

    def compute(self) -> None:
        compute_sale_line(self, prices_include_vat_of(self))


# ============================================================ advance offset
class AdvanceOffset(Document):
    """An advance held for a client applied to its debts (зачёт аванса), made automatically after a shipment."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    amount = MoneyField(_("amount"))
    registers = (ClientAdvances, ClientSettlements)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("advance offset")
        verbose_name_plural = _("advance offsets")

    def movements(self) -> Iterable[Movement]:
        total = ZERO
        for line in self.lines.all():  # type: ignore[attr-defined]
            total += line.amount
            yield ClientSettlements.receipt(self.date, line_no=line.line_no, organization=self.organization_id,
                                            partner=self.partner_id, order=line.order_id,
                                            shipment=line.shipment_id, paid=line.amount)
        if total:
            yield ClientAdvances.expense(self.date, organization=self.organization_id, partner=self.partner_id,
                                         amount=total)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.sales.states import refresh_order_states

        refresh_order_states(settlement_orders(changed))


class AdvanceOffsetLine(DocumentLine):
    document = models.ForeignKey(AdvanceOffset, on_delete=models.CASCADE, related_name="lines")
    order = models.ForeignKey(SalesOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("order"))
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("shipment"))
    amount = MoneyField(_("amount"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("advance offset line")


class PrepaymentRelease(Document):
    """Money paid on an order beyond what it now owes, made the client's advance again (возврат предоплаты в аванс):
    goods refused at the door after a full prepayment, order lines cancelled after they were paid. The advance can
    then be refunded or offset against the client's next shipment."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    amount = MoneyField(_("amount"))
    registers = (ClientAdvances, ClientSettlements)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("prepayment released to advance")
        verbose_name_plural = _("prepayments released to advance")

    def movements(self) -> Iterable[Movement]:
        total = ZERO
        for line in self.lines.all():  # type: ignore[attr-defined]
            total += line.amount
            yield ClientSettlements.expense(self.date, line_no=line.line_no, organization=self.organization_id,
                                            partner=self.partner_id, order=line.order_id, shipment=None,
                                            paid=line.amount)
        if total:
            yield ClientAdvances.receipt(self.date, organization=self.organization_id, partner=self.partner_id,
                                         amount=total)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.sales.states import refresh_order_states

        refresh_order_states(settlement_orders(changed))


class PrepaymentReleaseLine(DocumentLine):
    document = models.ForeignKey(PrepaymentRelease, on_delete=models.CASCADE, related_name="lines")
    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="+", verbose_name=_("order"))
    amount = MoneyField(_("amount"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("released prepayment line")


def settlement_orders(changed: dict[Register, set[str]]) -> list[int]:
    """The orders whose settlement keys a posting changed (key: organization|partner|order|shipment)."""
    result = set()
    for key in changed.get(ClientSettlements, set()):
        order = key.split("|")[2]
        if order:
            result.add(int(order))
    return sorted(result)


# =============================================================== goods issue
class GoodsIssue(Document):
    """An order-based warehouse hands over goods already sold (расходный ордер на товары)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    registers = (Stock, GoodsToIssue)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("goods issue")
        verbose_name_plural = _("goods issues")

    def movements(self) -> Iterable[Movement]:
        for line in self.lines.all():  # type: ignore[attr-defined]
            # The shipment already took the goods out of free stock; the issue takes them off the shelf.
            yield Stock.expense(self.date, line_no=line.line_no, warehouse=self.warehouse_id, item=line.item_id,
                                quantity=line.quantity, free=ZERO)
            yield GoodsToIssue.expense(self.date, line_no=line.line_no, warehouse=self.warehouse_id,
                                       shipment=line.shipment_id, item=line.item_id, quantity=line.quantity)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.sales.states import refresh_states_of_shipments

        refresh_states_of_shipments(sorted({int(k.split("|")[1]) for k in changed.get(GoodsToIssue, set())}))


class GoodsIssueLine(DocumentLine):
    document = models.ForeignKey(GoodsIssue, on_delete=models.CASCADE, related_name="lines")
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="+", verbose_name=_("shipment"))
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity issued"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("goods issue line")
