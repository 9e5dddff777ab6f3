"""The "Shipping" and "Payments" menu sections (backlog, shipments, goods issue, payments, refunds).
Registered by SalesConfig.ready()."""


def register() -> None:
    pass
