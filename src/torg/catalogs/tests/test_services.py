"""Catalog services: validation, optimistic locking, change log, deletion marks."""
from __future__ import annotations

from typing import Any

import pytest

from torg.catalogs.models import Counterparty, Item, Partner, Unit
from torg.catalogs.services import save_catalog_entry, save_item, set_catalog_deletion_mark
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def test_create_logs_created(admin_user: Any) -> None:
    partner = save_catalog_entry(Partner(name="New"), admin_user)
    assert (partner.pk is not None, partner.version) == (True, 1)
    assert list(ChangeLogEntry.objects.values_list("action", "user__username")) == [("created", "administrator")]


def test_change_bumps_version_and_logs_old_and_new_values() -> None:
    partner = Partner.objects.create(name="Old", phone="1")
    partner.name = "New"
    save_catalog_entry(partner, None, expected_version=1)
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("New", 2)
    assert ChangeLogEntry.objects.get().changes == {"name": ["Old", "New"]}


def test_save_without_changes_writes_no_log_entry() -> None:
    partner = Partner.objects.create(name="Same")
    save_catalog_entry(partner, None)
    assert ChangeLogEntry.objects.count() == 0
    assert Partner.objects.get().version == 2


def test_stale_version_is_refused_and_nothing_written() -> None:
    partner = Partner.objects.create(name="Shared")
    first = Partner.objects.get(pk=partner.pk)
    second = Partner.objects.get(pk=partner.pk)
    first.name = "First"
    save_catalog_entry(first, None, expected_version=1)

    second.name = "Second"
    with pytest.raises(CoreError) as exc:
        save_catalog_entry(second, None, expected_version=1)

    assert exc.value.code == ErrorCode.CONCURRENT_EDIT
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("First", 2)
    assert ChangeLogEntry.objects.count() == 1


def test_invalid_entry_is_refused_with_field_errors() -> None:
    partner = Partner.objects.create(name="P")
    with pytest.raises(CoreError) as exc:
        save_catalog_entry(Counterparty(partner=partner, name="X", legal_form="sole_trader", inn="7707083893",
                                        kpp="773601001"))
    assert exc.value.code == ErrorCode.INVALID
    assert exc.value.fields == {
        "inn": ["INN of a sole trader or a person must have 12 digits; “7707083893” has 10."],
        "kpp": ["Only a legal entity has a KPP: leave it empty for a sole trader or a person."]}
    assert Counterparty.objects.count() == 0


def test_save_item_replaces_barcodes_and_logs_them(unit: Unit) -> None:
    item = save_item(Item(name="Milk", unit=unit), ["4600000000008"])
    save_item(item, ["4600000000015"], expected_version=1)
    assert list(item.barcodes.values_list("code", flat=True)) == ["4600000000015"]
    assert ChangeLogEntry.objects.filter(action="changed").get().changes == {
        "barcodes": [["4600000000008"], ["4600000000015"]]}


def test_save_item_refuses_a_duplicate_barcode(unit: Unit) -> None:
    save_item(Item(name="Milk", unit=unit), ["4600000000008"])
    with pytest.raises(CoreError) as exc:
        save_item(Item(name="Kefir", unit=unit), ["4600000000008"])
    assert exc.value.fields == {"barcodes": ["Barcode 4600000000008 already belongs to “Milk”."]}
    assert Item.objects.count() == 1


def test_deletion_mark_keeps_the_entry() -> None:
    partner = Partner.objects.create(name="Gone")
    set_catalog_deletion_mark(partner, True)
    partner.refresh_from_db()
    assert (partner.deletion_mark, partner.version) == (True, 2)
    assert list(ChangeLogEntry.objects.values_list("action", flat=True)) == ["marked"]
