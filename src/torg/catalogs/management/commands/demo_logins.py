from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from torg.catalogs.demo import DEMO_PASSWORD, DEMO_USERS
from torg.core.permissions import Role


class Command(BaseCommand):
    help = "Print the address of the running site and the demo logins, one per role."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the address the web server listens on")

    def handle(self, *args: Any, **options: Any) -> None:
        labels = dict(Role.choices)
        rows = [(str(labels[role]), username, DEMO_PASSWORD) for username, role, _first, _last in DEMO_USERS]
        widths = [max(len(r[i]) for r in [("Role", "Login", "Password"), *rows]) for i in range(3)]

        def line(cells: tuple[str, str, str]) -> str:
            return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"torg is running at {options['url']}"))
        self.stdout.write("")
        self.stdout.write(line(("Role", "Login", "Password")))
        self.stdout.write(line(tuple("-" * w for w in widths)))  # type: ignore[arg-type]
        for row in rows:
            self.stdout.write(line(row))
        self.stdout.write("")
        self.stdout.write("Press Ctrl+C to stop the web server and the worker.")
