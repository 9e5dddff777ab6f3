"""The drivers of fiscal devices, chosen by a cash register's `driver` field.

Every driver implements `torg.fiscal.devices.FiscalDevice`. A driver without shifts of its own to manage (ATOL
Online keeps them itself) says `has_shifts = False`.
"""
from __future__ import annotations

from typing import Any

from torg.fiscal.devices import FiscalDevice


def device_for(register: Any) -> FiscalDevice:
    """The device behind a cash register, configured from its connection settings."""
    from torg.fiscal.models import Driver

    settings = dict(register.connection or {})
    if register.driver == Driver.EMULATOR:
        from torg.fiscal.drivers.emulator import EmulatorDevice

        return EmulatorDevice(register.pk)
    if register.driver == Driver.ATOL_WEB:
        from torg.fiscal.drivers.atol_web import AtolWebServerDevice

        return AtolWebServerDevice(**_known(AtolWebServerDevice, settings))
    if register.driver == Driver.ATOL_ONLINE:
        from torg.fiscal.drivers.atol_online import AtolOnlineDevice

        settings.setdefault("company_inn", register.organization.inn)
        return AtolOnlineDevice(**_known(AtolOnlineDevice, settings))
    raise LookupError(f"no fiscal driver {register.driver!r}")


def has_shifts(device: FiscalDevice) -> bool:
    return bool(getattr(device, "has_shifts", True))


def _known(cls: type, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the driver's constructor takes (unknown keys in the JSON are ignored)."""
    import inspect

    accepted = inspect.signature(cls).parameters
    return {k: v for k, v in settings.items() if k in accepted}
