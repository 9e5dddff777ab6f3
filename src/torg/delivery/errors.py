"""Error codes of delivery planning. Tests assert the code, people read the message."""
from enum import StrEnum


class DeliveryError(StrEnum):
    OVERLOAD = "delivery_overload"  # the load would exceed the vehicle's capacity
    ALREADY_ON_TRIP = "delivery_already_on_trip"  # the shipment is on another trip that is not done
    NOT_POSTED = "delivery_not_posted"  # only posted shipments are delivered
    WRONG_STATUS = "delivery_wrong_status"  # the trip's status does not allow the change
    BAD_ORDER = "delivery_bad_order"  # a new order of stops that is not exactly the trip's stops
    NOT_ON_TRIP = "delivery_not_on_trip"  # the shipment is not on this trip
