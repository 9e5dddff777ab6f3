from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from torg.core.posting import verify_register
from torg.core.registers import all_registers


class Command(BaseCommand):
    help = ("Recompute every register's kept and monthly totals from its movements and list the differences. "
            "Exit code 1 when any total differs.")

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for register in all_registers():
            mismatches = verify_register(register)
            total += len(mismatches)
            if not mismatches:
                self.stdout.write(f"{register.label}: OK")
                continue
            self.stdout.write(self.style.ERROR(f"{register.label}: {len(mismatches)} mismatch(es)"))
            for m in mismatches:
                self.stdout.write(f"  {m.table} {m.key}: movements give {_fmt(m.expected)}, kept {_fmt(m.kept)}")
        if total:
            raise CommandError(f"{total} total(s) differ from the sum of their movements (listed above).",
                               returncode=1)
        self.stdout.write(self.style.SUCCESS("Every register's totals equal the sum of its movements."))


def _fmt(values: tuple[Any, ...]) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"
