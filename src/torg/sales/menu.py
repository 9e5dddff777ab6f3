"""The "Sales" menu section (agreements, quotes, orders, approvals). Registered by SalesConfig.ready()."""


def register() -> None:
    pass
