"""Business events: what a service tells other areas has happened, inside its transaction.

An area that must act on another's event (the fiscal area making a receipt for a payment) subscribes a listener
in its AppConfig.ready(); the service that owns the change publishes the event at the point where the change
is complete. Listeners run synchronously in the publisher's transaction, so what they write commits or rolls
back with the change itself; anything that leaves the database they queue (`core.jobs.enqueue`).

This keeps the dependency one way — fiscal knows payments, payments does not know fiscal — without Django
signals on model saves: an event is a named business fact published by one service, listed here.

Events:
    payment_registered(payment, user)   a client's payment was posted for the first time (before its rest is
                                        offset against open debts)
    payment_unposted(payment, user)     a posted payment was taken back
    refund_registered(refund, user)     money was paid back to a client out of its advance
    shipment_posted(shipment, user)     a shipment was posted (after the client's advance was offset against it)
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

EVENTS = ("payment_registered", "payment_unposted", "refund_registered", "shipment_posted")
_LISTENERS: dict[str, list[Callable[..., None]]] = defaultdict(list)


def subscribe(event: str, listener: Callable[..., None]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    if listener not in _LISTENERS[event]:
        _LISTENERS[event].append(listener)


def publish(event: str, **data: Any) -> None:
    for listener in _LISTENERS.get(event, ()):
        listener(**data)
