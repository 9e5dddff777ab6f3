from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# psycopg turns a statement's %s placeholders into $n once per statement text, and keeps the result only for texts
# up to 4 KB with up to 50 parameters; posting's statements are longer (a shipment's register writes go as one
# statement of several hundred parameters) and the same texts come back with every document, so they were turned
# again on every execution. torg keeps them up to these sizes (psycopg's cache holds 128 texts).
PSYCOPG_CACHED_STATEMENT_LENGTH = 256 * 1024
PSYCOPG_CACHED_STATEMENT_PARAMS = 20_000


class CoreConfig(AppConfig):
    name = "torg.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db import connection

        if connection.vendor == "postgresql":
            from psycopg import _queries

            if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH"):  # a later psycopg may tune this itself
                _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH,
                                                           PSYCOPG_CACHED_STATEMENT_LENGTH)
                _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS,
                                                           PSYCOPG_CACHED_STATEMENT_PARAMS)
