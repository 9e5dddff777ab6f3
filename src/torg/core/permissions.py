"""Roles and what they may do: the one place where access is decided.

A role is a Django group whose name is one of `Role`. A capability is a
string such as "stock.post". Views, API endpoints and services ask
`has_capability(user, "...")`; the permission-matrix tests walk this table.
Row rules (which organizations, a courier's own trips, a client's own data)
are added here as the areas that need them arrive.
"""
from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", _("Administrator")
    SALES_MANAGER = "sales_manager", _("Sales manager")
    STOREKEEPER = "storekeeper", _("Storekeeper")
    ACCOUNTANT = "accountant", _("Accountant")
    CASHIER = "cashier", _("Cashier")
    COURIER = "courier", _("Courier")
    LOGISTICIAN = "logistician", _("Logistician")
    SALES_DIRECTOR = "sales_director", _("Sales director")


class Cap:
    """Capability names."""

    CATALOGS_VIEW = "catalogs.view"  # see catalogs (items, partners, warehouses…)
    CATALOGS_EDIT = "catalogs.edit"  # change items, partners, counterparties, contacts, prices
    COMPANY_EDIT = "company.edit"  # change organizations, warehouses, cash desks, bank accounts, price types
    STOCK_VIEW = "stock.view"  # see stock documents
    STOCK_EDIT = "stock.edit"  # create and change stock documents
    STOCK_POST = "stock.post"  # post and unpost stock documents
    REPORTS_STOCK = "reports.stock"  # the stock report
    SALES_VIEW = "sales.view"  # see agreements, quotes, orders, shipments
    SALES_EDIT = "sales.edit"  # write quotes and orders, change their status
    SALES_AGREEMENTS = "sales.agreements"  # change trade agreements and payment schedules
    SALES_APPROVE = "sales.approve"  # deviate from an agreement without approval; approve others' orders
    SALES_SHIP = "sales.ship"  # create and post shipments
    SALES_OVERRIDE_PAYMENT = "sales.override_payment"  # reserve/release/ship before the advance or prepayment
    SALES_BEYOND_ORDER = "sales.beyond_order"  # ship more than ordered, or goods not in the order
    SALES_OVERRIDE_CREDIT = "sales.override_credit"  # ship over the credit limit or with overdue debt
    GOODS_ISSUE = "stock.goods_issue"  # issue goods sold from an order-based warehouse
    PAYMENTS_VIEW = "payments.view"  # see payments and settlements
    PAYMENTS_EDIT = "payments.edit"  # register payments and refunds, allocate them
    BANK_STATEMENTS = "payments.bank"  # import bank statements, match and post their lines, export payment orders
    FISCAL_VIEW = "fiscal.view"  # see fiscal receipts and cash registers
    FISCAL_OPERATE = "fiscal.operate"  # retry, cancel, return and correct receipts; shifts, cash in and out
    REPORTS_SALES = "reports.sales"  # sales reports
    REPORTS_SETTLEMENTS = "reports.settlements"  # receivables, aging, reconciliation statements
    DELIVERY_VIEW = "delivery.view"  # see delivery zones, vehicles, carriers, trips and route sheets
    DELIVERY_PLAN = "delivery.plan"  # plan trips: catalogs of delivery, trips, their stops and statuses
    DELIVERY_OVERLOAD = "delivery.overload"  # load a vehicle beyond its capacity in kg or m³
    DELIVERY_COURIER = "delivery.courier"  # the courier's workplace: one's own trips, confirm stops, take payment
    DELIVERY_BOARD = "delivery.board"  # the live board of today's trips, money collected, couriers' cash
    CASH_HANDOVER = "payments.cash_handover"  # accept a courier's cash into the company's cash desk
    USERS_MANAGE = "users.manage"  # users, roles, API tokens
    SETTINGS_MANAGE = "settings.manage"  # period lock date, company settings
    API = "api.use"  # use the REST API at all


ALL_CAPS = frozenset(v for k, v in vars(Cap).items() if k.isupper())

_SALES_READ = {Cap.SALES_VIEW, Cap.PAYMENTS_VIEW, Cap.REPORTS_SALES, Cap.REPORTS_SETTLEMENTS, Cap.FISCAL_VIEW}

ROLE_CAPS: dict[str, frozenset[str]] = {
    Role.ADMINISTRATOR: ALL_CAPS,
    Role.SALES_MANAGER: frozenset({Cap.CATALOGS_VIEW, Cap.CATALOGS_EDIT, Cap.STOCK_VIEW, Cap.REPORTS_STOCK, Cap.API,
                                   *_SALES_READ, Cap.SALES_EDIT, Cap.SALES_SHIP, Cap.PAYMENTS_EDIT,
                                   Cap.DELIVERY_VIEW, Cap.DELIVERY_BOARD}),
    Role.STOREKEEPER: frozenset({Cap.CATALOGS_VIEW, Cap.STOCK_VIEW, Cap.STOCK_EDIT, Cap.STOCK_POST,
                                 Cap.REPORTS_STOCK, Cap.API, Cap.SALES_VIEW, Cap.GOODS_ISSUE}),
    Role.ACCOUNTANT: frozenset({Cap.CATALOGS_VIEW, Cap.CATALOGS_EDIT, Cap.COMPANY_EDIT, Cap.STOCK_VIEW,
                                Cap.STOCK_EDIT, Cap.STOCK_POST, Cap.REPORTS_STOCK, Cap.SETTINGS_MANAGE, Cap.API,
                                *_SALES_READ, Cap.SALES_SHIP, Cap.PAYMENTS_EDIT, Cap.FISCAL_OPERATE,
                                Cap.BANK_STATEMENTS, Cap.CASH_HANDOVER, Cap.DELIVERY_BOARD}),
    Role.CASHIER: frozenset({Cap.CATALOGS_VIEW, Cap.SALES_VIEW, Cap.PAYMENTS_VIEW, Cap.PAYMENTS_EDIT,
                             Cap.FISCAL_VIEW, Cap.FISCAL_OPERATE, Cap.CASH_HANDOVER}),
    Role.COURIER: frozenset({Cap.DELIVERY_COURIER, Cap.API}),
    Role.LOGISTICIAN: frozenset({Cap.CATALOGS_VIEW, Cap.STOCK_VIEW, Cap.REPORTS_STOCK, Cap.SALES_VIEW,
                                 Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN, Cap.DELIVERY_OVERLOAD, Cap.DELIVERY_BOARD}),
    Role.SALES_DIRECTOR: frozenset({Cap.CATALOGS_VIEW, Cap.STOCK_VIEW, Cap.REPORTS_STOCK, Cap.API, *_SALES_READ,
                                    Cap.SALES_EDIT, Cap.SALES_AGREEMENTS, Cap.SALES_APPROVE, Cap.SALES_SHIP,
                                    Cap.SALES_OVERRIDE_PAYMENT, Cap.SALES_BEYOND_ORDER, Cap.SALES_OVERRIDE_CREDIT,
                                    Cap.DELIVERY_VIEW, Cap.DELIVERY_BOARD}),
}


def user_roles(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_torg_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._torg_roles = cached
    return cached


def capabilities(user: Any) -> frozenset[str]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    if user.is_superuser:
        return ALL_CAPS
    caps: set[str] = set()
    for role in user_roles(user):
        caps |= ROLE_CAPS.get(role, frozenset())
    return frozenset(caps)


def has_capability(user: Any, capability: str) -> bool:
    return capability in capabilities(user)
