"""The courier's phone workplace at /courier/: today's trips, the stops in order, and at each stop the screens of
the handover — what to hand over, what is owed now, how the client pays, the change, the receipt's contact —
then the confirmation and its receipts; a stop not delivered; the trip's end.

Thin: each view checks the capability and that the trip or stop is the courier's own (another courier's → 404),
calls `delivery.courier`, and renders a small page of its own base template (no desktop shell: a 390-px screen).
The wizard's answers live in the session, per stop, with the idempotency key made when the stop is opened; the
confirmation carries the key in the form too, so a double submit or a retry gets the stored result."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from torg.catalogs.models import Contact, Item, Organization
from torg.core.errors import CoreError, ErrorCode
from torg.core.permissions import Cap
from torg.delivery import courier
from torg.delivery import forms_courier as cf
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop
from torg.delivery.services import stops_of
from torg.fiscal.models import FiscalReceipt
from torg.web.access import requires

ZERO = Decimal(0)
REFRESH_SECONDS = 5
REFUND_CHOICES = {"keep": "", "cash": "cash", "card": "card"}
# The screen where the answer a refusal is about was given, by the refusal's code (its fields tell first).
FIX_STEP = {DeliveryError.ABOVE_SHIPPED: "quantities", DeliveryError.NOT_ON_ROUTE: "stop",
            ErrorCode.SHORTAGE: "due"}  # money short in the courier's cash to give the prepayment back


def _fix_step(error: CoreError) -> str:
    fields = set(error.fields)
    if any(f.startswith("lines") for f in fields):
        return "quantities"
    if "refund_method" in fields:
        return "due"
    if "buyer_contact" in fields:
        return "contact"
    if fields & {"cash", "card", "card_approval"}:
        return "pay"
    return FIX_STEP.get(error.code, "pay")


# ================================================================ access and the wizard's answers
def _trip(request: HttpRequest, pk: int) -> DeliveryTrip:
    try:
        return courier.trip_for_courier(request.user, pk)
    except DeliveryTrip.DoesNotExist:
        raise Http404(_("No such trip of yours.")) from None


def _stop(request: HttpRequest, pk: int) -> TripStop:
    try:
        return courier.stop_for_courier(request.user, pk)
    except TripStop.DoesNotExist:
        raise Http404(_("No such stop of yours.")) from None


class Wizard:
    """The answers given at a stop so far, kept in the session until the stop is confirmed."""

    def __init__(self, request: HttpRequest, stop: TripStop) -> None:
        self.session = request.session
        self.name = f"courier.stop.{stop.pk}"
        self.exists = self.name in self.session
        self.data: dict[str, Any] = dict(self.session.get(self.name) or {})
        if not self.data.get("key"):
            self.data = {"key": uuid.uuid4().hex}
            self.save()

    @property
    def key(self) -> str:
        return str(self.data["key"])

    def save(self) -> None:
        self.session[self.name] = self.data
        self.session.modified = True

    def reset(self) -> None:
        self.session.pop(self.name, None)

    @staticmethod
    def forget(request: HttpRequest, stop: TripStop) -> None:
        request.session.pop(f"courier.stop.{stop.pk}", None)

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.save()

    def forget_payment(self) -> None:
        for name in ("method", "cash", "card", "card_approval", "on_credit", "keep_overpayment"):
            self.data.pop(name, None)
        self.save()

    def accepted(self) -> dict[tuple[int, int], Decimal] | None:
        raw = self.data.get("accepted")
        if raw is None:
            return None
        return {(int(k.split(":")[0]), int(k.split(":")[1])): Decimal(v) for k, v in raw.items()}

    def set_accepted(self, accepted: dict[tuple[int, int], Decimal] | None) -> None:
        self.data["accepted"] = None if accepted is None else {f"{s}:{n}": str(q) for (s, n), q in accepted.items()}
        self.forget_payment()

    def money(self, name: str) -> Decimal:
        return Decimal(self.data.get(name) or 0)

    def payment(self) -> courier.DoorPayment:
        return courier.DoorPayment(
            cash=self.money("cash"), card=self.money("card"), card_approval=self.data.get("card_approval", ""),
            keep_overpayment=bool(self.data.get("keep_overpayment")), on_credit=bool(self.data.get("on_credit")),
            refund_method=self.data.get("refund", ""), buyer_contact=self.data.get("buyer_contact", ""))


def _url(name: str, pk: int, **query: Any) -> str:
    url = reverse(f"courier:{name}", args=[pk])
    return f"{url}?{urlencode(query)}" if query else url


def _go(name: str, pk: int, **query: Any) -> HttpResponseRedirect:
    return HttpResponseRedirect(_url(name, pk, **query))


def _not_workable(stop: TripStop) -> HttpResponseRedirect | None:
    """A stop already confirmed shows its result; a trip not on route shows the stop page (which says why)."""
    if stop.status != StopStatus.PENDING:
        return _go("result", stop.pk)
    if stop.trip.status != TripStatus.ON_ROUTE:
        return _go("stop", stop.pk)
    return None


def _next_stop(trip: DeliveryTrip) -> TripStop | None:
    return (TripStop.objects.filter(trip=trip, status=StopStatus.PENDING).select_related("partner", "warehouse")
            .order_by("sequence", "id").first())


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"delivery/courier/{template}", context, status=status)


def _due(stop: TripStop, wizard: Wizard) -> courier.StopDue:
    return courier.stop_due(stop, wizard.accepted())


def _owed(request: HttpRequest, stop: TripStop, wizard: Wizard) -> courier.StopDue | HttpResponseRedirect:
    """What is owed with the quantities given; when the service no longer takes them (the stop's goods changed
    meanwhile), its words and the quantities screen again."""
    try:
        return _due(stop, wizard)
    except CoreError as exc:
        messages.error(request, exc.message)
        wizard.set_accepted(None)
        return _go("quantities", stop.pk)


def _money_step(request: HttpRequest, pk: int) -> tuple[TripStop, Wizard, courier.StopDue] | HttpResponseRedirect:
    """What every money screen of a stop starts with: the courier's own stop, still workable, its answers so far and
    what is owed with them — or where to go instead."""
    stop = _stop(request, pk)
    if redirect := _not_workable(stop):
        return redirect
    if stop.is_transfer:  # our own warehouse: no money screens
        return _go("confirm", stop.pk)
    wizard = Wizard(request, stop)
    owed = _owed(request, stop, wizard)
    if isinstance(owed, HttpResponseRedirect):
        return owed
    return stop, wizard, owed


# ================================================================ trips
@requires(Cap.DELIVERY_COURIER)
def trips(request: HttpRequest) -> HttpResponse:
    rows = courier.courier_trips(request.user).annotate(
        stop_count=Count("stops"), open_count=Count("stops", filter=Q(stops__status=StopStatus.PENDING)))
    return _page(request, "trips.html", {"trips": list(rows)})


@requires(Cap.DELIVERY_COURIER)
def trip(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(request, pk)
    stops = stops_of(trip)
    next_stop = next((s for s in stops if s.status == StopStatus.PENDING), None)
    return _page(request, "trip.html", {"trip": trip, "stops": stops, "next_stop": next_stop,
                                        "on_route": trip.status == TripStatus.ON_ROUTE,
                                        "done_count": sum(1 for s in stops if s.status != StopStatus.PENDING)})


@requires(Cap.DELIVERY_COURIER)
def trip_end(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(request, pk)
    error = None
    if request.method == "POST":
        try:
            courier.finish_trip(trip, user=request.user)
        except CoreError as exc:
            error = exc.message
        else:
            messages.success(request, _("Trip %(trip)s is over. Hand the cash over at the office and unload the goods "
                                        "in the vehicle at the warehouse.") % {"trip": trip.number})
            return HttpResponseRedirect(reverse("courier:trips"))
    end = courier.trip_end(trip)
    organizations = dict(Organization.objects.filter(pk__in=end.cash).values_list("pk", "name"))
    cash = [{"organization": organizations.get(org, org), "amount": amount} for org, amount in sorted(end.cash.items())]
    goods: dict[int, Decimal] = {}
    for g in end.goods:
        goods[g["item"]] = goods.get(g["item"], ZERO) + Decimal(g["quantity"])
    items = {i.pk: i for i in Item.objects.filter(pk__in=goods).select_related("unit")}
    return _page(request, "end.html", {
        "trip": trip, "cash": cash, "cash_total": sum(end.cash.values(), ZERO), "pending": end.pending,
        "goods": [{"name": items[i].name if i in items else i, "unit": items[i].unit.name if i in items
                   and items[i].unit_id else "", "quantity": q} for i, q in sorted(goods.items()) if q],
        "error": error, "can_finish": trip.status == TripStatus.ON_ROUTE,
    }, status=409 if error else 200)


# ================================================================ the stop
@requires(Cap.DELIVERY_COURIER)
def stop(request: HttpRequest, pk: int) -> HttpResponse:
    stop = _stop(request, pk)
    if stop.status == StopStatus.PENDING:
        Wizard(request, stop)  # the confirmation's idempotency key is made when the stop is opened
    documents = list(stop.documents.select_related("shipment", "transfer__warehouse_from", "organization")
                     .order_by("organization_id", "id"))
    contacts = list(Contact.objects.filter(partner_id=stop.partner_id, deletion_mark=False)
                    .exclude(phone="").order_by("name")[:3]) if stop.partner_id else []
    lat, lon = stop.latitude, stop.longitude
    maps = {}
    if lat is not None and lon is not None:
        maps = {"geo": f"geo:{lat},{lon}?q={lat},{lon}({urlencode({'': stop.address})[1:]})",
                "web": "https://yandex.ru/maps/?" + urlencode({"rtext": f"~{lat},{lon}", "rtt": "auto"}),
                "coordinates": f"{lat}, {lon}"}
    elif stop.address:
        maps = {"geo": "geo:0,0?" + urlencode({"q": stop.address}),
                "web": "https://yandex.ru/maps/?" + urlencode({"text": stop.address})}
    return _page(request, "stop.html", {
        "stop": stop, "trip": stop.trip, "documents": documents, "contacts": contacts, "maps": maps,
        "comment": stop.delivery_address.comment if stop.delivery_address_id else "",
        "on_route": stop.trip.status == TripStatus.ON_ROUTE, "pending": stop.status == StopStatus.PENDING,
        "documents_total": sum((d.shipment.amount for d in documents if d.shipment_id), ZERO),
    })


@requires(Cap.DELIVERY_COURIER)
def goods(request: HttpRequest, pk: int) -> HttpResponse:
    """What to hand over: the client accepts all, or the courier changes the quantities."""
    stop = _stop(request, pk)
    if redirect := _not_workable(stop):
        return redirect
    wizard = Wizard(request, stop)
    if request.method == "POST":
        wizard.set_accepted(None)
        wizard.update(refund="")
        return _go("confirm" if stop.is_transfer else "due", stop.pk)
    return _page(request, "goods.html", {"stop": stop, "lines": courier.handover_lines(stop)})


@requires(Cap.DELIVERY_COURIER)
def quantities(request: HttpRequest, pk: int) -> HttpResponse:
    """The quantities the client accepts (a part refused): checked by the service against what was shipped."""
    stop = _stop(request, pk)
    if redirect := _not_workable(stop):
        return redirect
    wizard = Wizard(request, stop)
    lines = courier.handover_lines(stop)
    if request.method == "POST":
        form = cf.QuantitiesForm(lines, request.POST)
        if form.is_valid():
            accepted = form.accepted()
            try:
                courier.stop_due(stop, accepted)
            except CoreError as exc:
                # the service names the lines: its words go under them, and a short note on top
                form.add_service_errors(exc.fields or {"": [exc.message]})
                return _page(request, "quantities.html", {
                    "stop": stop, "form": form,
                    "error": _("Check the quantities marked in red.") if exc.fields else exc.message}, status=422)
            everything = all(accepted[(ln.shipment_id, ln.line_no)] == ln.quantity for ln in lines)
            wizard.set_accepted(None if everything else accepted)
            wizard.update(refund="")
            return _go("confirm" if stop.is_transfer else "due", stop.pk)
        return _page(request, "quantities.html", {"stop": stop, "form": form}, status=422)
    form = cf.QuantitiesForm(lines, accepted=wizard.accepted())
    return _page(request, "quantities.html", {"stop": stop, "form": form})


@requires(Cap.DELIVERY_COURIER)
def due(request: HttpRequest, pk: int) -> HttpResponse:
    """What is owed now, per organization; prepayment released by refused goods: keep it, or give it back."""
    step = _money_step(request, pk)
    if isinstance(step, HttpResponseRedirect):
        return step
    stop, wizard, owed = step
    if request.method == "POST":
        choice = request.POST.get("refund", "keep")
        if choice not in REFUND_CHOICES:
            choice = "keep"
        wizard.forget_payment()
        wizard.update(refund=REFUND_CHOICES[choice] if owed.release > 0 else "")
        if owed.due <= 0:
            wizard.update(method=cf.Method.NONE)
            return _go("contact", stop.pk)
        return _go("pay", stop.pk)
    organizations = [{"org": o, "prepaid": max(o.goods - o.due, ZERO)} for o in owed.organizations]
    return _page(request, "due.html", {"stop": stop, "owed": owed, "organizations": organizations,
                                       "several": len(owed.organizations) > 1})


@requires(Cap.DELIVERY_COURIER)
def pay(request: HttpRequest, pk: int) -> HttpResponse:
    """How the client pays: cash, card, both, or part now and the rest on credit (where the terms allow)."""
    step = _money_step(request, pk)
    if isinstance(step, HttpResponseRedirect):
        return step
    stop, wizard, owed = step
    if owed.due <= 0:
        wizard.update(method=cf.Method.NONE)
        return _go("contact", stop.pk)
    return _page(request, "pay.html", {"stop": stop, "owed": owed})


@requires(Cap.DELIVERY_COURIER)
def amount(request: HttpRequest, pk: int, method: str) -> HttpResponse:
    """The money of the chosen way: cash given (the change counted), the card with its approval code, or both."""
    if method not in cf.Method.ALL:
        raise Http404
    step = _money_step(request, pk)
    if isinstance(step, HttpResponseRedirect):
        return step
    stop, wizard, owed = step
    if owed.due <= 0:
        return _go("contact", stop.pk)
    if method == cf.Method.CREDIT and not owed.credit_allowed:
        messages.error(request, _("The client's terms do not allow paying later: take the whole amount now."))
        return _go("pay", stop.pk)
    context: dict[str, Any] = {"stop": stop, "owed": owed, "method": method}
    if request.method == "POST":
        form = cf.PaymentForm(method, owed.due, request.POST)
        if form.is_valid():
            context.update(form=form, counted=True, remains=form.remains, overpaid=form.overpaid)
            if "calc" in request.POST:  # the change calculator without JavaScript
                return _page(request, "amount.html", context)
            on_credit = False
            if form.remains > 0:
                if method != cf.Method.CREDIT and "on_credit" not in request.POST:
                    if owed.credit_allowed:
                        context["offer_credit"] = True
                    else:
                        form.add_error(None, _("%(left)s remains to be paid, and the client's terms do not allow "
                                               "paying later: take the rest now.") % {"left": cf.money_text(
                                                   form.remains)})
                    return _page(request, "amount.html", context, status=422)
                if not owed.credit_allowed:
                    return _page(request, "amount.html", context, status=422)
                on_credit = True
            data = form.cleaned_data
            wizard.update(method=method, cash=str(data.get("cash") or ZERO), card=str(data.get("card") or ZERO),
                          card_approval=(data.get("card_approval") or "").strip(), on_credit=on_credit,
                          keep_overpayment=False)
            return _go("overpay" if form.overpaid > 0 else "contact", stop.pk)
        context["form"] = form
        return _page(request, "amount.html", context, status=422)
    initial: dict[str, Any] = {}
    if wizard.data.get("method") == method:
        initial = {"cash": wizard.data.get("cash"), "card": wizard.data.get("card"),
                   "card_approval": wizard.data.get("card_approval")}
    elif method == cf.Method.CARD:
        initial = {"card": format(owed.due, "f")}
    context["form"] = cf.PaymentForm(method, owed.due, initial={k: v for k, v in initial.items() if v not in
                                                                 (None, "0", "0.00")})
    return _page(request, "amount.html", context)


@requires(Cap.DELIVERY_COURIER)
def overpay(request: HttpRequest, pk: int) -> HttpResponse:
    """The client gave more than owed: the change back, or the excess kept as the client's advance."""
    step = _money_step(request, pk)
    if isinstance(step, HttpResponseRedirect):
        return step
    stop, wizard, owed = step
    cash, card = wizard.money("cash"), wizard.money("card")
    overpaid = max(cash + card - owed.due, ZERO)
    card_excess = max(card - owed.due, ZERO)
    if overpaid <= 0 or not wizard.data.get("method"):
        return _go("contact" if wizard.data.get("method") else "pay", stop.pk)
    if request.method == "POST":
        keep = request.POST.get("choice") == "keep"
        if not keep and card_excess > 0:
            messages.error(request, _("The card is charged %(extra)s more than is owed: keep it as the client's "
                                      "advance, or change the card amount.") % {"extra": cf.money_text(card_excess)})
            return _go("overpay", stop.pk)
        wizard.update(keep_overpayment=keep)
        return _go("contact", stop.pk)
    return _page(request, "overpay.html", {"stop": stop, "owed": owed, "overpaid": overpaid,
                                           "card_excess": card_excess, "cash": cash, "card": card,
                                           "method": wizard.data["method"]})


@requires(Cap.DELIVERY_COURIER)
def contact(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the electronic receipt goes: the buyer's phone or e-mail (or none)."""
    stop = _stop(request, pk)
    if redirect := _not_workable(stop):
        return redirect
    if stop.is_transfer:  # no receipt at our own warehouse
        return _go("confirm", stop.pk)
    wizard = Wizard(request, stop)
    if not wizard.data.get("method"):
        return _go("due", stop.pk)
    if request.method == "POST":
        form = cf.ContactForm({"buyer_contact": ""} if "skip" in request.POST else request.POST)
        if form.is_valid():
            wizard.update(buyer_contact=form.cleaned_data["buyer_contact"])
            return _go("confirm", stop.pk)
        status = 422
    else:
        form = cf.ContactForm(initial={"buyer_contact": wizard.data.get("buyer_contact", "")})
        status = 200
    default = _card_contact(stop)
    suggestions = [v for v in dict.fromkeys([stop.partner.phone, stop.partner.email, *Contact.objects.filter(
        partner_id=stop.partner_id, deletion_mark=False).exclude(phone="").values_list("phone", flat=True)[:2]])
        if v and v != default]
    return _page(request, "contact.html", {"stop": stop, "form": form, "suggestions": suggestions[:3],
                                           "default_contact": default}, status=status)


def _card_contact(stop: TripStop) -> str:
    """Where the receipt goes when the courier gives no contact: the client card's e-mail, else its phone (the
    fiscal service's rule); no receipt at our own warehouse."""
    return (stop.partner.email or stop.partner.phone) if stop.partner_id else ""


def _summary(stop: TripStop, wizard: Wizard, owed: courier.StopDue) -> dict[str, Any]:
    """What the confirmation will record, in the courier's figures."""
    pay = wizard.payment()
    taken = pay.cash + pay.card
    over = max(taken - owed.due, ZERO)
    accepted = wizard.accepted() or {}
    changed = [{"name": ln.name, "unit": ln.unit, "shipped": ln.quantity,
                "accepted": accepted[(ln.shipment_id, ln.line_no)]}
               for ln in courier.handover_lines(stop)
               if (ln.shipment_id, ln.line_no) in accepted and accepted[(ln.shipment_id, ln.line_no)] != ln.quantity]
    return {"pay": pay, "method": wizard.data.get("method"), "changed": changed,
            "change": ZERO if pay.keep_overpayment else over, "advance": over if pay.keep_overpayment else ZERO,
            "credit": max(owed.due - taken, ZERO) if pay.on_credit else ZERO}


@requires(Cap.DELIVERY_COURIER)
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything once more, and the one button that records it (with the stop's idempotency key)."""
    stop = _stop(request, pk)
    if request.method == "POST":
        key = request.POST.get("key", "")
        wizard = Wizard(request, stop)
        answered = stop.is_transfer or wizard.data.get("method")
        if stop.status == StopStatus.PENDING and (not key or key != wizard.key or not answered):
            messages.error(request, _("The answers given at this stop were lost (the session ended?): go through "
                                      "the stop again."))
            return _go("stop", stop.pk)
        try:
            done = courier.confirm_stop(stop, accepted=wizard.accepted(), payment=wizard.payment(),
                                        user=request.user, key=key)
        except CoreError as exc:
            return _confirm_page(request, stop, wizard, exc)
        wizard.reset()
        return _go("result", stop.pk, **_replay_query(done))
    if redirect := _not_workable(stop):
        return redirect
    wizard = Wizard(request, stop)
    if not wizard.data.get("method") and not stop.is_transfer:
        return _go("due", stop.pk)
    return _confirm_page(request, stop, wizard)


def _confirm_page(request: HttpRequest, stop: TripStop, wizard: Wizard, error: CoreError | None = None
                  ) -> HttpResponse:
    try:
        owed = _due(stop, wizard)
    except CoreError as exc:
        error = error or exc
        owed = courier.stop_due(stop)
    context = {"stop": stop, "owed": owed, "key": wizard.key, "error": error, "default_contact": _card_contact(stop),
               **_summary(stop, wizard, owed)}
    if error is not None:
        context["fix_url"] = _url(_fix_step(error), stop.pk)
        context["field_errors"] = [m for msgs in error.fields.values() for m in msgs if m != error.message]
    return _page(request, "confirm.html", context, status=409 if error else 200)


def _replay_query(done: courier.Confirmation) -> dict[str, str]:
    if not done.replay:
        return {}
    return {"replay": "same" if done.same_request else "other"}


@requires(Cap.DELIVERY_COURIER)
def result(request: HttpRequest, pk: int) -> HttpResponse:
    """What the confirmation recorded, the receipts and their statuses (the page refreshes while one waits)."""
    stop = _stop(request, pk)
    if stop.status == StopStatus.PENDING:
        return _go("stop", stop.pk)
    Wizard.forget(request, stop)  # answers left from another phone's attempt are of no use now
    data = stop.result or {}
    receipts = list(FiscalReceipt.objects.filter(pk__in=data.get("receipts", [])).select_related("organization")
                    .order_by("pk"))
    money = data.get("payments", []) + data.get("refunds", [])
    organizations = dict(Organization.objects.filter(pk__in={m["organization"] for m in money})
                         .values_list("pk", "name"))
    payments = [{**p, "amount": Decimal(p["amount"]), "organization_name": organizations.get(p["organization"], ""),
                 "method_label": _method_label(p["method"])}
                for p in data.get("payments", [])]
    refunds = [{**r, "amount": Decimal(r["amount"]), "organization_name": organizations.get(r["organization"], ""),
                "method_label": _method_label(r["method"])} for r in data.get("refunds", [])]
    changed = [ln for ln in data.get("lines", []) if Decimal(ln["accepted"]) != Decimal(ln["shipped"])]
    for ln in changed:
        ln["shipped_n"], ln["accepted_n"] = Decimal(ln["shipped"]), Decimal(ln["accepted"])
    returned = _returned(data.get("returned", []))
    waiting = any(r.is_waiting for r in receipts)
    return _page(request, "result.html", {
        "stop": stop, "trip": stop.trip, "data": data, "receipts": receipts, "payments": payments,
        "refunds": refunds, "changed": changed, "returned": returned,
        "figures": {k: Decimal(data[k]) for k in ("goods", "due", "prepaid", "cash", "card", "change", "credit",
                                                  "advance_kept", "released") if data.get(k) not in (None, "")},
        "confirmed_at": parse_datetime(data["confirmed_at"]) if data.get("confirmed_at") else None,
        "replay": request.GET.get("replay", ""), "refresh": REFRESH_SECONDS if waiting else None,
        "next_stop": _next_stop(stop.trip), "failed": stop.status == StopStatus.FAILED,
    })


def _method_label(method: str) -> str:
    return {"cash": _("cash"), "card": _("card")}.get(method, method)


def _returned(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[int, Decimal] = {}
    for g in rows:
        totals[g["item"]] = totals.get(g["item"], ZERO) + Decimal(g["quantity"])
    items = {i.pk: i for i in Item.objects.filter(pk__in=totals).select_related("unit")}
    return [{"name": items[i].name if i in items else i, "unit": items[i].unit.name if i in items and
             items[i].unit_id else "", "quantity": q} for i, q in sorted(totals.items())]


@requires(Cap.DELIVERY_COURIER)
def fail(request: HttpRequest, pk: int) -> HttpResponse:
    """The stop was not delivered: why; its goods ride back in the vehicle."""
    stop = _stop(request, pk)
    if request.method != "POST" and (redirect := _not_workable(stop)):
        return redirect
    wizard = Wizard(request, stop)
    error = None
    if request.method == "POST":
        form = cf.FailForm(request.POST)
        if form.is_valid():
            try:
                done = courier.fail_stop(stop, reason=form.reason_text(), user=request.user,
                                         key=request.POST.get("key") or wizard.key)
            except CoreError as exc:
                error = exc.message
            else:
                wizard.reset()
                return _go("result", stop.pk, **_replay_query(done))
        status = 409 if error else 422
    else:
        form = cf.FailForm()
        status = 200
    return _page(request, "fail.html", {"stop": stop, "form": form, "key": wizard.key, "error": error},
                 status=status)
