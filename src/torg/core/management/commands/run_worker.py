from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from torg.core import jobs


class Command(BaseCommand):
    help = "Run the background worker: takes due jobs from the database queue until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--poll", type=float, default=1.0, help="seconds to wait when the queue is empty")
        parser.add_argument("--once", action="store_true", help="run the due jobs and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self.stdout.write(f"ran {jobs.run_until_empty()} job(s)")
            return
        stopping = {"flag": False}

        def stop(*_: Any) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        jobs.work_forever(options["poll"], stop=lambda: stopping["flag"])
