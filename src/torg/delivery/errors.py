"""Error codes of delivery planning. Tests assert the code, people read the message."""
from enum import StrEnum


class DeliveryError(StrEnum):
    OVERLOAD = "delivery_overload"  # the load would exceed the vehicle's capacity
    ALREADY_ON_TRIP = "delivery_already_on_trip"  # the shipment is on another trip that is not done
    NOT_POSTED = "delivery_not_posted"  # only posted shipments are delivered
    WRONG_STATUS = "delivery_wrong_status"  # the trip's status does not allow the change
    BAD_ORDER = "delivery_bad_order"  # a new order of stops that is not exactly the trip's stops
    NOT_ON_TRIP = "delivery_not_on_trip"  # the shipment is not on this trip
    NOT_ON_ROUTE = "delivery_not_on_route"  # stops are confirmed while the trip is on route
    ABOVE_SHIPPED = "delivery_above_shipped"  # the client cannot accept more than was shipped
    PAYMENT_SHORT = "delivery_payment_short"  # less taken than owed, and credit is not allowed or not chosen
    CARD_NOT_CONFIRMED = "delivery_card_not_confirmed"  # a card amount without the terminal's approval
    CARD_ABOVE_DUE = "delivery_card_above_due"  # a card charged above what is owed, with change asked
    NO_BANK_ACCOUNT = "delivery_no_bank_account"  # card payments need the organization's bank account
    STOPS_PENDING = "delivery_stops_pending"  # the trip ends when every stop is done or failed
