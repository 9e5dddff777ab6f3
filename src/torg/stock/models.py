"""Stock: the stock and cost registers and the documents that move goods in, out and between warehouses."""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import Counterparty, Item, ItemKind, Organization, Partner, VatRate, Warehouse
from torg.core.documents import Document, DocumentLine, prices_include_vat_of
from torg.core.money import MoneyField, QuantityField, line_amount, vat_included, vat_on_top
from torg.core.registers import Dimension, Movement, Register, RegisterKind, Resource

# ---------------------------------------------------------------- registers
Stock = Register(
    name="stock",
    app_label="stock",
    verbose_name=_("Stock"),
    kind=RegisterKind.BALANCE,
    controlled=True,
    lock_order=200,
    dimensions=[
        Dimension("warehouse", "catalogs.Warehouse", _("warehouse")),
        Dimension("item", "catalogs.Item", _("item")),
    ],
    resources=[
        Resource("quantity", 3, _("quantity")),
        # On hand less what is reserved for orders and sold but not yet issued (order-based warehouses).
        Resource("free", 3, _("free"), default_from="quantity",
                 shortage_message=_("Not enough free “{item}” at {warehouse} (the rest is reserved)")),
    ],
    shortage_message=_("Not enough “{item}” at {warehouse}"),
)
StockMovement, StockTotal, StockMonthlyTotal = Stock.build(__name__)

# The cost of goods per organization and item (moving weighted average).
# It comes before Stock in lock order: issuing documents lock its rows while computing their cost.
StockCost = Register(
    name="stock_cost",
    app_label="stock",
    verbose_name=_("Stock cost"),
    kind=RegisterKind.BALANCE,
    controlled=False,
    lock_order=100,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("item", "catalogs.Item", _("item")),
    ],
    resources=[Resource("quantity", 3, _("quantity")), Resource("amount", 2, _("amount"))],
    shortage_message=_("Cost of “{item}” in {organization}"),
)
StockCostMovement, StockCostTotal, StockCostMonthlyTotal = StockCost.build(__name__)


_LINES_SQL: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[Any]]] = {}


def _stocked_lines(document: Document, *fields: str) -> list[dict[str, Any]]:
    """The document's lines of goods (services have no stock), in line order.

    One statement built once per line model, read through a plain cursor: on the posting path the ORM's
    query building costs more than the query. Decimals are read back exactly (SQLite keeps binary floats).
    Also tells the document how many lines it has, which posting checks."""
    line_model = document.lines.model  # type: ignore[attr-defined]
    db = transaction.get_connection()
    key = (db.vendor, line_model._meta.label_lower, fields)
    cached = _LINES_SQL.get(key)
    if cached is None:
        qn = db.ops.quote_name
        opts = line_model._meta
        selected = [opts.get_field(name) for name in ("line_no", "item", "quantity", *fields)]
        lines, items = qn(opts.db_table), qn(Item._meta.db_table)
        # The kind is read, not filtered on, so that the database always starts from the document's lines.
        sql = (f"SELECT {', '.join(f'{lines}.{qn(f.column)}' for f in selected)}, {items}.{qn('kind')} "
               f"FROM {lines} INNER JOIN {items} ON {items}.{qn('id')} = {lines}.{qn('item_id')} "
               f"WHERE {lines}.{qn('document_id')} = %s ORDER BY {lines}.{qn('line_no')}")
        quanta = [Decimal(1).scaleb(-f.decimal_places) if isinstance(f, models.DecimalField) else None
                  for f in selected]
        cached = _LINES_SQL[key] = (sql, quanta)
    sql, quanta = cached
    names = ("line_no", "item_id", "quantity", *fields)
    with db.cursor() as cursor:
        cursor.execute(sql, [document.pk])
        rows = cursor.fetchall()
    document.remember_line_count(len(rows))
    result = []
    for row in rows:
        if row[-1] != ItemKind.GOODS:
            continue
        result.append({
            name: (Decimal(str(value)).quantize(quantum) if quantum is not None and value is not None else value)
            for name, value, quantum in zip(names, row, quanta, strict=False)
        })
    return result


class StockDocument(Document):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                      verbose_name=_("organization"))
    posting_related = ("organization",)  # its prefix numbers the document; a purchase asks whether it pays VAT

    class Meta(Document.Meta):
        abstract = True

    def issue_costs(self, quantities: dict[int, Decimal]) -> dict[int, Decimal]:
        from torg.stock.costing import issue_costs

        return issue_costs(self, self.organization_id, quantities)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.stock.costing import schedule_recalculation_if_backdated

        schedule_recalculation_if_backdated(self, changed.get(StockCost, set()), previous_date)


# ------------------------------------------------------------ opening balance
class OpeningBalance(StockDocument):
    """Starting stock of a warehouse with its cost (ввод начальных остатков)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    registers = (Stock, StockCost)

    class Meta(StockDocument.Meta):
        verbose_name = _("opening balance")
        verbose_name_plural = _("opening balances")

    def movements(self) -> Iterable[Movement]:
        for line in _stocked_lines(self, "amount"):
            yield Stock.receipt(self.date, line_no=line["line_no"], warehouse=self.warehouse_id,
                                item=line["item_id"], quantity=line["quantity"])
            yield StockCost.receipt(self.date, line_no=line["line_no"], organization=self.organization_id,
                                    item=line["item_id"], quantity=line["quantity"], amount=line["amount"])


class OpeningBalanceLine(DocumentLine):
    document = models.ForeignKey(OpeningBalance, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("cost per unit"))
    amount = MoneyField(_("cost amount"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("opening balance line")

    def compute(self) -> None:
        self.amount = line_amount(self.quantity, self.price)


# ------------------------------------------------------------------ purchase
class Purchase(StockDocument):
    """Goods and services bought from a supplier (приобретение товаров и услуг): goods arrive with their cost."""

    supplier = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("supplier"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("counterparty"))
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    supplier_invoice = models.CharField(_("supplier's document No."), max_length=50, blank=True)
    prices_include_vat = models.BooleanField(_("prices include VAT"), default=True)
    registers = (Stock, StockCost)

    class Meta(StockDocument.Meta):
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")

    def movements(self) -> Iterable[Movement]:
        vat_recoverable = self.organization.vat_payer
        for line in _stocked_lines(self, "amount", "vat_amount"):
            # A VAT payer recovers the input VAT, so the goods cost the amount without it.
            if self.prices_include_vat:
                cost = line["amount"] - line["vat_amount"] if vat_recoverable else line["amount"]
            else:
                cost = line["amount"] if vat_recoverable else line["amount"] + line["vat_amount"]
            yield Stock.receipt(self.date, line_no=line["line_no"], warehouse=self.warehouse_id,
                                item=line["item_id"], quantity=line["quantity"])
            yield StockCost.receipt(self.date, line_no=line["line_no"], organization=self.organization_id,
                                    item=line["item_id"], quantity=line["quantity"], amount=cost)


class PurchaseLine(DocumentLine):
    document = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("price"))
    amount = MoneyField(_("amount"))
    vat_rate = models.IntegerField(_("VAT rate"), choices=VatRate.choices, default=VatRate.VAT_22)
    vat_amount = MoneyField(_("VAT"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("purchase line")

    def compute(self) -> None:
        self.amount = line_amount(self.quantity, self.price)
        rate = max(int(self.vat_rate), 0)
        include = prices_include_vat_of(self)
        self.vat_amount = vat_included(self.amount, rate) if include else vat_on_top(self.amount, rate)


# ------------------------------------------------------------------ transfer
class Transfer(StockDocument):
    """Stock moved from one warehouse to another (перемещение товаров). Cost stays with the organization."""

    warehouse_from = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+",
                                       verbose_name=_("from warehouse"))
    warehouse_to = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("to warehouse"))
    # Требуется доставка: the goods go on one of our delivery trips to the receiving warehouse's address.
    delivery_needed = models.BooleanField(
        _("delivered by our transport"), default=False,
        help_text=_("The transfer waits for a delivery trip to the receiving warehouse's address."))
    registers = (Stock,)

    class Meta(StockDocument.Meta):
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")

    def movements(self) -> Iterable[Movement]:
        for line in _stocked_lines(self):
            yield Stock.expense(self.date, line_no=line["line_no"], warehouse=self.warehouse_from_id,
                                item=line["item_id"], quantity=line["quantity"])
            yield Stock.receipt(self.date, line_no=line["line_no"], warehouse=self.warehouse_to_id,
                                item=line["item_id"], quantity=line["quantity"])


class TransferLine(DocumentLine):
    document = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("transfer line")


# ----------------------------------------------------------------- write-off
class WriteOff(StockDocument):
    """Goods removed from stock outside trade (списание): damage, expiry, shortage found by a count."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    registers = (Stock, StockCost)

    class Meta(StockDocument.Meta):
        verbose_name = _("write-off")
        verbose_name_plural = _("write-offs")

    def movements(self) -> Iterable[Movement]:
        lines = _stocked_lines(self)
        wanted: dict[int, Decimal] = {}
        for line in lines:
            wanted[line["item_id"]] = wanted.get(line["item_id"], Decimal(0)) + line["quantity"]
        costs = self.issue_costs(wanted) if lines else {}
        from torg.stock.costing import split_cost

        for line, amount in split_cost(lines, costs):
            yield Stock.expense(self.date, line_no=line["line_no"], warehouse=self.warehouse_id,
                                item=line["item_id"], quantity=line["quantity"])
            yield StockCost.expense(self.date, line_no=line["line_no"], organization=self.organization_id,
                                    item=line["item_id"], quantity=line["quantity"], amount=amount)


class WriteOffLine(DocumentLine):
    document = models.ForeignKey(WriteOff, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("write-off line")


# ------------------------------------------------------------------- surplus
class Surplus(StockDocument):
    """Goods added to stock outside trade (оприходование), valued at the given cost."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    registers = (Stock, StockCost)

    class Meta(StockDocument.Meta):
        verbose_name = _("surplus")
        verbose_name_plural = _("surpluses")

    def movements(self) -> Iterable[Movement]:
        for line in _stocked_lines(self, "amount"):
            yield Stock.receipt(self.date, line_no=line["line_no"], warehouse=self.warehouse_id,
                                item=line["item_id"], quantity=line["quantity"])
            yield StockCost.receipt(self.date, line_no=line["line_no"], organization=self.organization_id,
                                    item=line["item_id"], quantity=line["quantity"], amount=line["amount"])


class SurplusLine(DocumentLine):
    document = models.ForeignKey(Surplus, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    quantity = QuantityField(_("quantity"))
    price = MoneyField(_("cost per unit"))
    amount = MoneyField(_("cost amount"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("surplus line")

    def compute(self) -> None:
        self.amount = line_amount(self.quantity, self.price)


# --------------------------------------------------------------- stock count
class StockCount(StockDocument):
    """Counting stock (инвентаризация). Completing it creates the write-off and surplus for the differences."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")  # being prepared; book quantities may be refilled
        COUNTING = "counting", _("counting")  # people are counting; counted quantities being entered
        COMPLETED = "completed", _("completed")  # differences turned into a write-off and a surplus

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    registers = ()

    class Meta(StockDocument.Meta):
        verbose_name = _("stock count")
        verbose_name_plural = _("stock counts")


class StockCountLine(DocumentLine):
    document = models.ForeignKey(StockCount, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    book_quantity = QuantityField(_("book quantity"))
    quantity = QuantityField(_("counted quantity"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("stock count line")

    @property
    def difference(self) -> Decimal:
        return self.quantity - self.book_quantity
