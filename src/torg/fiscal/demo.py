"""The demo company's cash registers: one built-in emulator per organization, at its main cash desk, added
before the sales history so that its cash payments, refunds and handovers get their receipts like in life.

Registered at the front of `torg.catalogs.demo.DEMO_EXTENSIONS` by FiscalConfig.ready().
"""
from __future__ import annotations

from typing import Any

from torg.catalogs.models import CashDesk
from torg.fiscal.models import CashRegister, Driver, Taxation

TAXATION = {"osn": Taxation.OSN, "usn_income": Taxation.USN_INCOME, "usn_profit": Taxation.USN_INCOME_OUTCOME,
            "patent": Taxation.PATENT}


def add_registers(loader: Any) -> None:
    desks = {d.organization_id: d for d in CashDesk.objects.filter(name__startswith="Основная касса")}
    registers = []
    for n, org in enumerate(loader.orgs, 1):
        registers.append(CashRegister(
            organization=org, name=f"Касса офиса {org.prefix}", model="АТОЛ 30Ф (эмулятор)",
            serial_number=f"0049{n:010d}", registration_number=f"{n:016d}", taxation=TAXATION.get(org.tax_system,
                                                                                                 Taxation.OSN),
            payments_place="Офис продаж", payments_address=org.address or "г. Москва",
            cash_desk=desks.get(org.pk), is_default=True, driver=Driver.EMULATOR,
            cashier_name="Кассир Морозова А."))
    CashRegister.objects.bulk_create(registers)


add_registers.demo_label = "cash registers"  # type: ignore[attr-defined]
