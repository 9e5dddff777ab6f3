from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from torg.catalogs.demo import SCALES, demo_is_loaded, load_demo


class Command(BaseCommand):
    help = ("Create the demo company (organizations, partners, items, prices, warehouses, users per role and "
            "months of posted stock documents) in an empty database. Deterministic: the same seed gives the "
            "same data.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the database already has organizations")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--months", type=int, default=None,
                            help="months of documents ending today (default: 12 at full scale, 2 at small)")
        parser.add_argument("--scale", choices=sorted(SCALES), default="full",
                            help="full: 300 partners, 1,000 items; small: 20 partners, 60 items (tests)")

    def handle(self, *args: Any, **options: Any) -> None:
        if demo_is_loaded():
            if options["if_empty"]:
                self.stdout.write("The database already has data: the demo company is not loaded again.")
                return
            raise CommandError(
                "The database already has organizations: the demo company loads only into an empty database. "
                "Run `make demo` to rebuild the demo database from scratch, or pass --if-empty to skip."
            )
        if options["months"] is not None and options["months"] < 1:
            raise CommandError(f"--months must be at least 1; got {options['months']}.")
        self.stdout.write(f"Loading the demo company (scale {options['scale']}, seed {options['seed']})…")
        summary = load_demo(seed=options["seed"], scale=options["scale"], months=options["months"],
                            progress=lambda msg: self.stdout.write(f"  {msg}"))
        for line in summary.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(self.style.SUCCESS("The demo company is ready."))
