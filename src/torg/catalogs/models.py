"""Catalogs (справочники): who we are, who we trade with, what we sell, where it is, at what price."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext_lazy as _

from torg.core.money import MoneyField
from torg.core.validators import (
    gtin_check_digit,
    validate_bank_account,
    validate_bik,
    validate_inn,
    validate_kpp,
    validate_ogrn_any,
)


class Catalog(models.Model):
    """Common fields of a catalog entry: a deletion mark instead of deleting, and a version for safe edits."""

    deletion_mark = models.BooleanField(_("marked for deletion"), default=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True


class VatRate(models.IntegerChoices):
    VAT_22 = 22, _("22%")
    VAT_10 = 10, _("10%")
    VAT_5 = 5, _("5%")
    VAT_7 = 7, _("7%")
    VAT_0 = 0, _("0%")
    NO_VAT = -1, _("without VAT")


class TaxSystem(models.TextChoices):
    GENERAL = "osn", _("general (ОСН)")
    SIMPLIFIED_INCOME = "usn_income", _("simplified, income (УСН доходы)")
    SIMPLIFIED_PROFIT = "usn_profit", _("simplified, income minus expenses (УСН доходы − расходы)")
    PATENT = "patent", _("patent (ПСН)")


class Organization(Catalog):
    """Our own legal entity (организация)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    full_name = models.CharField(_("full name"), max_length=500, blank=True)
    prefix = models.CharField(_("document number prefix"), max_length=4, unique=True,
                              help_text=_("Up to 4 characters put before document numbers, e.g. ТД."))
    inn = models.CharField(_("INN"), max_length=12, validators=[validate_inn])
    kpp = models.CharField(_("KPP"), max_length=9, blank=True, validators=[validate_kpp])
    ogrn = models.CharField(_("OGRN"), max_length=15, blank=True, validators=[validate_ogrn_any])
    tax_system = models.CharField(_("tax system"), max_length=12, choices=TaxSystem.choices, default=TaxSystem.GENERAL)
    vat_payer = models.BooleanField(_("VAT payer"), default=True)
    address = models.CharField(_("legal address"), max_length=500, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    director = models.CharField(_("director"), max_length=200, blank=True)
    chief_accountant = models.CharField(_("chief accountant"), max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.inn and len(self.inn) == 10 and not self.kpp:
            raise ValidationError({"kpp": _("A legal entity (10-digit INN) needs a KPP of 9 characters.")})
        if self.inn and len(self.inn) == 12 and self.kpp:
            raise ValidationError({"kpp": _("A sole trader (12-digit INN) has no KPP: leave it empty.")})


class Partner(Catalog):
    """A business partner as the company sees it: a client, a supplier, or both."""

    name = models.CharField(_("name"), max_length=200, db_index=True)
    is_client = models.BooleanField(_("client"), default=True)
    is_supplier = models.BooleanField(_("supplier"), default=False)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    address = models.CharField(_("address"), max_length=500, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    credit_limit = MoneyField(_("credit limit"), null=True, blank=True, default=None,
                              help_text=_("The most the client may owe; empty: no limit."))

    class Meta:
        ordering = ["name"]
        verbose_name = _("partner")
        verbose_name_plural = _("partners")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.is_client and not self.is_supplier:
            raise ValidationError(_("A partner is a client, a supplier, or both: tick at least one."))
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError(_("Give both latitude and longitude, or neither."))


class LegalForm(models.TextChoices):
    LEGAL_ENTITY = "legal", _("legal entity")
    SOLE_TRADER = "sole_trader", _("sole trader")
    PERSON = "person", _("private person")


class Counterparty(Catalog):
    """A legal entity or sole trader of a partner (контрагент): the party named on documents."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="counterparties",
                                verbose_name=_("partner"))
    name = models.CharField(_("name"), max_length=200)
    full_name = models.CharField(_("full name"), max_length=500, blank=True)
    legal_form = models.CharField(_("legal form"), max_length=12, choices=LegalForm.choices,
                                  default=LegalForm.LEGAL_ENTITY)
    # The INN is checked in clean(): its length depends on the legal form.
    inn = models.CharField(_("INN"), max_length=12, blank=True)
    kpp = models.CharField(_("KPP"), max_length=9, blank=True, validators=[validate_kpp])
    ogrn = models.CharField(_("OGRN"), max_length=15, blank=True, validators=[validate_ogrn_any])
    legal_address = models.CharField(_("legal address"), max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("counterparty")
        verbose_name_plural = _("counterparties")
        indexes = [models.Index(fields=["inn"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        kind = {LegalForm.LEGAL_ENTITY: "legal", LegalForm.SOLE_TRADER: "individual",
                LegalForm.PERSON: "individual"}.get(self.legal_form)
        if self.inn:
            try:
                validate_inn(self.inn, kind=kind)
            except ValidationError as error:
                errors["inn"] = error.messages
        if self.legal_form == LegalForm.LEGAL_ENTITY and self.inn and not self.kpp:
            errors["kpp"] = _("A legal entity needs a KPP of 9 characters.")
        elif self.legal_form != LegalForm.LEGAL_ENTITY and self.kpp:
            errors["kpp"] = _("Only a legal entity has a KPP: leave it empty for a sole trader or a person.")
        if errors:
            raise ValidationError(errors)


class Contact(Catalog):
    """A person at a partner."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("partner"))
    name = models.CharField(_("name"), max_length=200)
    position = models.CharField(_("position"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return self.name


class DeliveryAddress(Catalog):
    """A place where a partner takes deliveries."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="delivery_addresses",
                                verbose_name=_("partner"))
    address = models.CharField(_("address"), max_length=500)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    comment = models.CharField(_("comment"), max_length=300, blank=True,
                               help_text=_("Entrance, floor, working hours, how to find the place."))

    class Meta:
        ordering = ["address"]
        verbose_name = _("delivery address")
        verbose_name_plural = _("delivery addresses")

    def __str__(self) -> str:
        return self.address


class BankAccount(Catalog):
    """A settlement account of one of our organizations or of a counterparty."""

    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="bank_accounts", verbose_name=_("organization"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="bank_accounts", verbose_name=_("counterparty"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    number = models.CharField(_("account number"), max_length=20)
    bik = models.CharField(_("BIK"), max_length=9, validators=[validate_bik])
    bank_name = models.CharField(_("bank"), max_length=300, blank=True)
    correspondent_account = models.CharField(_("correspondent account"), max_length=20, blank=True)

    class Meta:
        ordering = ["name", "number"]
        verbose_name = _("bank account")
        verbose_name_plural = _("bank accounts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False, counterparty__isnull=True)
                | models.Q(organization__isnull=True, counterparty__isnull=False),
                name="bankaccount_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.bank_name})" if self.bank_name else self.number

    def clean(self) -> None:
        if (self.organization_id is None) == (self.counterparty_id is None):
            raise ValidationError(_("A bank account belongs either to one of our organizations or to a counterparty."))
        if self.number and self.bik:
            try:
                validate_bank_account(self.number, self.bik)
            except ValidationError as exc:
                raise ValidationError({"number": exc.messages}) from exc


class CashDesk(Catalog):
    """A place where cash is kept (касса)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="cash_desks",
                                     verbose_name=_("organization"))
    name = models.CharField(_("name"), max_length=200)
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    # An operational cash desk held by a person (a courier's cash between the door and the office), or empty:
    # the company's own cash desk.
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("held by"),
                               help_text=_("A courier's cash desk: the cash they took and have not handed over yet."))

    class Meta:
        ordering = ["name"]
        verbose_name = _("cash desk")
        verbose_name_plural = _("cash desks")

    def __str__(self) -> str:
        return self.name


class Unit(Catalog):
    """A unit of measure (OKEI code)."""

    code = models.CharField(_("OKEI code"), max_length=4, unique=True)
    name = models.CharField(_("short name"), max_length=20)
    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    international_name = models.CharField(_("international name"), max_length=20, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")

    def __str__(self) -> str:
        return self.name


class ItemGroup(Catalog):
    name = models.CharField(_("name"), max_length=200, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("item group")
        verbose_name_plural = _("item groups")

    def __str__(self) -> str:
        return self.name


class ItemKind(models.TextChoices):
    GOODS = "goods", _("goods")  # kept in stock
    SERVICE = "service", _("service")  # our own service, no stock
    WORK = "work", _("work")  # a service bought from a supplier and resold


class Item(Catalog):
    """What we sell or buy (номенклатура)."""

    name = models.CharField(_("name"), max_length=300, db_index=True)
    sku = models.CharField(_("article"), max_length=50, blank=True, db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ItemKind.choices, default=ItemKind.GOODS)
    group = models.ForeignKey(ItemGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="items",
                              verbose_name=_("group"))
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit"))
    weight_kg = models.DecimalField(_("weight, kg"), max_digits=12, decimal_places=3, default=Decimal(0))
    volume_m3 = models.DecimalField(_("volume, m³"), max_digits=12, decimal_places=6, default=Decimal(0))
    vat_rate = models.IntegerField(_("VAT rate"), choices=VatRate.choices, default=VatRate.VAT_22)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("item")
        verbose_name_plural = _("items")

    def __str__(self) -> str:
        return self.name

    @property
    def is_stocked(self) -> bool:
        return self.kind == ItemKind.GOODS

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.weight_kg is not None and self.weight_kg < 0:
            errors["weight_kg"] = _("Weight cannot be negative.")
        if self.volume_m3 is not None and self.volume_m3 < 0:
            errors["volume_m3"] = _("Volume cannot be negative.")
        if errors:
            raise ValidationError(errors)


def validate_ean13(code: str) -> None:
    if not code.isdigit() or len(code) not in (8, 12, 13, 14):
        raise ValidationError(
            _("A barcode has 8, 12, 13 or 14 digits; “%(code)s” is not one."), code="barcode_format",
            params={"code": code},
        )
    check = gtin_check_digit(code[:-1])
    if check != int(code[-1]):
        raise ValidationError(
            _("Barcode %(code)s has a wrong check digit: the last digit should be %(check)s."),
            code="barcode_checksum", params={"code": code, "check": check},
        )


class Barcode(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="barcodes", verbose_name=_("item"))
    code = models.CharField(_("barcode"), max_length=14, unique=True, validators=[validate_ean13])

    class Meta:
        verbose_name = _("barcode")
        verbose_name_plural = _("barcodes")

    def __str__(self) -> str:
        return self.code


class Warehouse(Catalog):
    """A place that holds stock (склад)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    order_based = models.BooleanField(
        _("order-based"), default=False,
        help_text=_("Stock leaves and arrives only by the warehouse's own goods issues and receipt notes."),
    )
    is_retail_store = models.BooleanField(_("retail store"), default=False)
    address = models.CharField(_("address"), max_length=500, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")

    def __str__(self) -> str:
        return self.name


class PriceType(Catalog):
    """A price list (вид цен)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    includes_vat = models.BooleanField(_("prices include VAT"), default=True)
    currency = models.CharField(_("currency"), max_length=3, default="RUB")

    class Meta:
        ordering = ["name"]
        verbose_name = _("price type")
        verbose_name_plural = _("price types")

    def __str__(self) -> str:
        return self.name


class ItemPriceQuerySet(models.QuerySet["ItemPrice"]):
    def valid_on(self, day: dt.date) -> ItemPriceQuerySet:
        return self.filter(valid_from__lte=day)


class ItemPrice(models.Model):
    """A price of an item in a price type, valid from a date until the next one (periodic)."""

    price_type = models.ForeignKey(PriceType, on_delete=models.CASCADE, related_name="prices",
                                   verbose_name=_("price type"))
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="prices", verbose_name=_("item"))
    valid_from = models.DateField(_("valid from"))
    price = MoneyField(_("price"))

    objects = ItemPriceQuerySet.as_manager()

    class Meta:
        ordering = ["item", "price_type", "-valid_from"]
        verbose_name = _("item price")
        verbose_name_plural = _("item prices")
        constraints = [
            models.UniqueConstraint(fields=["price_type", "item", "valid_from"], name="itemprice_uniq"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="itemprice_nonneg"),
        ]
        indexes = [models.Index(fields=["item", "price_type", "valid_from"])]

    def __str__(self) -> str:
        price = number_format(self.price, 2) if self.price is not None else "—"
        valid_from = date_format(self.valid_from, "SHORT_DATE_FORMAT") if self.valid_from else "—"
        return f"{self.item} — {self.price_type}: {price} ({valid_from})"
