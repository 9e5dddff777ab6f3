"""`{% receipts_block payment=… %}` / `shipment=…` / `order=…` / `refund=…`: the receipts of a document on its page."""
from __future__ import annotations

from typing import Any

from django import template

from torg.core.permissions import Cap, has_capability

register = template.Library()


@register.inclusion_tag("fiscal/_receipts_block.html", takes_context=True)
def receipts_block(context: Any, payment: Any = None, shipment: Any = None, order: Any = None,
                   refund: Any = None) -> dict[str, Any]:
    from torg.fiscal.services import receipts_of

    request = context.get("request")
    if request is None or not has_capability(request.user, Cap.FISCAL_VIEW):
        return {"visible": False}
    receipts = receipts_of(payment_id=getattr(payment, "pk", None), shipment_id=getattr(shipment, "pk", None),
                           order_id=getattr(order, "pk", None), refund_id=getattr(refund, "pk", None))
    query = (f"payment={payment.pk}" if payment is not None else f"shipment={shipment.pk}" if shipment is not None
             else f"order={order.pk}" if order is not None else f"refund={refund.pk}" if refund is not None else "")
    return {"visible": True, "receipts": receipts, "query": query}
