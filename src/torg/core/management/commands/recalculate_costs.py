from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from torg.catalogs.models import Organization
from torg.stock.costing import recalculate_costs


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--from must be a date as YYYY-MM-DD, e.g. 2025-01-31; got {value!r}.") from None


class Command(BaseCommand):
    help = ("Recalculate the moving average cost of an organization's goods from a date: re-posts every later "
            "issuing document in date order.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organization", type=int, required=True, help="organization id")
        parser.add_argument("--from", dest="start", type=str, required=True, help="first day, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        start_day = _date(options["start"])
        organization = Organization.objects.filter(pk=options["organization"]).first()
        if organization is None:
            known = ", ".join(f"{o.pk} ({o.name})" for o in Organization.objects.order_by("pk")) or "none"
            raise CommandError(f"No organization with id {options['organization']}; known ids: {known}.")
        start = timezone.make_aware(dt.datetime.combine(start_day, dt.time.min))
        changed = recalculate_costs(organization.pk, start)
        self.stdout.write(self.style.SUCCESS(
            f"Costs of {organization.name} recalculated from {start_day.isoformat()}: "
            f"{changed} document(s) changed."
        ))
