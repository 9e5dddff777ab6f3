"""The sales part of the demo company: payment schedules, trade agreements, and six weeks of orders in every
state — shipped and paid (closed), awaiting payment (some overdue), shipping, awaiting prepayment, awaiting
approval — with their shipments, goods issues, payments, an overpayment kept as an advance and a refund.

Everything goes through the services, in date order, as the people of the demo company would do it: the
manager writes and agrees orders, the sales director approves deviations, the accountant registers payments.
Registered in `torg.catalogs.demo.DEMO_EXTENSIONS` by SalesConfig.ready().
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from torg.catalogs.models import BankAccount, CashDesk, ItemPrice, Partner, PriceType
from torg.core.errors import CoreError
from torg.payments.models import IncomingPayment, PaymentMethod, Refund
from torg.payments.services import advance_held, refund, register_payment
from torg.sales import services
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    OrderStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    StageKind,
    TradeAgreement,
)

CENT = Decimal("0.01")
SALES_DAYS = 42  # calendar days of sales ending today


def _aware(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day, hour, minute))


def _schedule(name: str, stages: list[tuple[str, int, int]]) -> PaymentSchedule:
    schedule = PaymentSchedule(name=name)
    services.save_payment_schedule(schedule, [PaymentScheduleStage(kind=k, percent=Decimal(p), days=d)
                                              for k, p, d in stages])
    return schedule


class SalesDemo:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.rng = loader.rng("sales")
        self.today: dt.date = loader.today
        self.orgs = loader.orgs
        self.warehouses = loader.warehouses
        self.manager = User.objects.get(username="manager")
        self.director = User.objects.get(username="director")
        self.accountant = User.objects.get(username="accountant")
        self.counter = 0

    def run(self) -> None:
        self.create_terms()
        start = self.today - dt.timedelta(days=SALES_DAYS)
        per_day = max(1, round(len(self.clients) / 50))
        for offset in range(SALES_DAYS + 1):
            day = start + dt.timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for _ in range(per_day + self.rng.randint(0, 2)):
                self.one_order(day)
        self.an_overpayment_and_a_refund()
        self.some_quotes()

    # ----------------------------------------------------------------- terms
    def create_terms(self) -> None:
        prepaid = _schedule("Предоплата 100%", [(StageKind.PREPAYMENT, 100, 0)])
        credit14 = _schedule("Отсрочка 14 дней", [(StageKind.CREDIT, 100, 14)])
        advance30 = _schedule("Аванс 30%, остаток через 7 дней", [(StageKind.ADVANCE, 30, 1),
                                                                   (StageKind.CREDIT, 70, 7)])
        half = _schedule("50% до отгрузки, 50% через 10 дней", [(StageKind.PREPAYMENT, 50, 2),
                                                                 (StageKind.CREDIT, 50, 10)])
        wholesale = PriceType.objects.get(name="Оптовая")
        td, opt = self.orgs[0], self.orgs[1]
        main, north, south = self.warehouses[0], self.warehouses[1], self.warehouses[2]
        valid_from = self.today - dt.timedelta(days=365)
        agreements = [
            TradeAgreement(name="Опт: отсрочка 14 дней", kind=AgreementKind.TYPICAL, organization=td,
                           price_type=wholesale, payment_schedule=credit14, warehouse=main, max_manual_discount=5,
                           min_order_amount=Decimal(3000), delivery_days=1),
            TradeAgreement(name="Опт: предоплата, скидка 2%", kind=AgreementKind.TYPICAL, organization=td,
                           price_type=wholesale, payment_schedule=prepaid, warehouse=main, discount_percent=2,
                           max_manual_discount=3),
            TradeAgreement(name="Юг: аванс 30%", kind=AgreementKind.TYPICAL, organization=opt, price_type=wholesale,
                           payment_schedule=advance30, warehouse=south, max_manual_discount=5),
        ]
        self.clients = list(Partner.objects.filter(is_client=True).order_by("pk"))
        for partner in self.clients[:3]:
            agreements.append(TradeAgreement(
                name=f"Индивидуальное: {partner.name}", kind=AgreementKind.INDIVIDUAL, partner=partner,
                organization=td, price_type=wholesale, payment_schedule=half, warehouse=north, discount_percent=3,
                max_manual_discount=2))
        for agreement in agreements:
            agreement.status = AgreementStatus.ACTIVE
            agreement.valid_from = valid_from
            services.save_agreement(agreement)
        # A draft and a closed agreement, as a real list has them.
        TradeAgreement.objects.create(name="Сетевой ритейл (на согласовании)", organization=td, price_type=wholesale,
                                      payment_schedule=credit14, status=AgreementStatus.DRAFT)
        TradeAgreement.objects.create(name="Опт 2024 (закрыто)", organization=td, price_type=wholesale,
                                      payment_schedule=credit14, status=AgreementStatus.CLOSED,
                                      valid_to=self.today - dt.timedelta(days=200))
        self.individual = {a.partner_id: a for a in agreements if a.kind == AgreementKind.INDIVIDUAL}
        self.typical = [a for a in agreements if a.kind == AgreementKind.TYPICAL]
        # Credit limits for some clients, and a few clients who pay late.
        for partner in self.clients[3:len(self.clients) // 4]:
            partner.credit_limit = Decimal(self.rng.choice((150_000, 300_000, 500_000)))
        Partner.objects.bulk_update(self.clients, ["credit_limit"])
        self.late_payers = {p.pk for p in self.rng.sample(self.clients, k=max(1, len(self.clients) // 8))}
        self.desks = {d.organization_id: d for d in CashDesk.objects.order_by("pk")}
        self.accounts = {a.organization_id: a for a in BankAccount.objects.filter(organization__isnull=False)}
        self.prices = {(p.item_id, p.price_type_id): p.price
                       for p in ItemPrice.objects.filter(price_type=wholesale).order_by("valid_from")}

    # ---------------------------------------------------------------- orders
    def pick_lines(self, warehouse_index: int, price_type_id: int) -> list[SalesOrderLine]:
        stocked = [g for g in self.loader.in_stock(warehouse_index)
                   if (g.item.pk, price_type_id) in self.prices]
        if not stocked:
            return []
        lines = []
        for goods in self.rng.sample(stocked, k=min(len(stocked), self.rng.randint(2, 7))):
            have = self.loader.stock[(warehouse_index, goods.index)]
            quantity = Decimal(max(1, min(int(have / 10), self.rng.randint(1, 24))))
            if quantity > have:
                continue
            self.loader.move(warehouse_index, goods, -quantity)
            discount = Decimal(self.rng.choice((0, 0, 0, 0, 1, 2, 4, 7)))
            lines.append(SalesOrderLine(item=goods.item, quantity=quantity, discount_percent=discount,
                                        vat_rate=goods.item.vat_rate))
        return lines

    def one_order(self, day: dt.date) -> None:
        rng = self.rng
        client = rng.choice(self.clients)
        agreement = self.individual.get(client.pk) or rng.choice(self.typical)
        warehouse_index = self.warehouses.index(next(w for w in self.warehouses if w.pk == agreement.warehouse_id))
        lines = self.pick_lines(warehouse_index, agreement.price_type_id)
        if not lines:
            return
        when = _aware(day, rng.randint(9, 12), rng.randint(0, 59))
        address = client.delivery_addresses.first()
        order = SalesOrder(organization_id=agreement.organization_id, partner=client, agreement=agreement,
                           warehouse_id=agreement.warehouse_id, date=when, delivery_address=address,
                           shipment_date=day + dt.timedelta(days=1 + (day.weekday() == 4) * 2),
                           client_po_number=f"З-{rng.randint(1000, 9999)}" if rng.random() < 0.4 else "")
        try:
            services.save_order(order, lines, user=self.manager, post=True)
        except CoreError:
            return
        self.loader.count_doc("sales order")
        age = (self.today - day).days
        if age <= 1 and rng.random() < 0.5:
            return  # still being discussed with the client: not agreed
        self.agree(order)
        if order.status == OrderStatus.NOT_AGREED:
            return  # waits in the director's approval inbox (fresh ones) — older ones were decided
        self.pay_before_shipping(order, day)
        if age <= 1 and rng.random() < 0.5:
            return  # agreed, goods not reserved yet or waiting for the prepayment
        order.refresh_from_db()
        try:
            services.release_to_ship(order, user=self.manager)
        except CoreError:
            return  # awaiting prepayment
        if age <= 2:
            return  # released, waiting for the warehouse
        ship_day = min(day + dt.timedelta(days=rng.choice((1, 1, 2))), self.today)
        try:
            shipments = services.create_shipments_from_backlog(
                [services.Pick(order.pk, ln.code) for ln in order.lines.all()], user=self.manager,
                date=_aware(ship_day, rng.randint(13, 16)))
        except CoreError:
            return  # over the client's credit limit or overdue: the order waits
        self.loader.count_doc("shipment")
        for shipment in shipments:
            if shipment.warehouse.order_based and (age > 4 or rng.random() < 0.5):
                services.issue_goods([shipment], user=self.manager)
                self.loader.count_doc("goods issue")
        self.pay_credit(order, ship_day)

    def agree(self, order: SalesOrder) -> None:
        services.submit_order(order, user=self.manager)
        order.refresh_from_db()
        if order.status != OrderStatus.NOT_AGREED:
            return
        approval = order.approvals.filter(decision="pending").first()
        age = (self.today - timezone.localtime(order.date).date()).days
        if approval is None or age <= 1:
            return  # stays in the inbox
        approve = self.rng.random() < 0.85
        services.decide_approval(approval, approve=approve, user=self.director,
                                 comment="" if approve else "Скидка слишком большая, согласуйте 3%")
        order.refresh_from_db()

    def pay(self, order: SalesOrder, amount: Decimal, day: dt.date) -> None:
        if amount <= 0 or day > self.today:
            return
        self.counter += 1
        bank = self.rng.random() < 0.7
        payment = IncomingPayment(
            organization_id=order.organization_id, partner_id=order.partner_id,
            method=PaymentMethod.BANK if bank else PaymentMethod.CASH,
            bank_account=self.accounts.get(order.organization_id) if bank else None,
            cash_desk=None if bank else self.desks.get(order.organization_id),
            amount=amount, date=_aware(day, self.rng.randint(10, 17), self.rng.randint(0, 59)),
            purpose=f"Оплата по заказу {order.number}")
        from torg.payments.models import PaymentAllocation

        register_payment(payment, [PaymentAllocation(order=order, amount=amount)], user=self.accountant,
                         idempotency_key=f"demo-{self.counter}")
        self.loader.count_doc("incoming payment")

    def pay_before_shipping(self, order: SalesOrder, day: dt.date) -> None:
        before = order.advance_amount + order.prepayment_amount
        if before > 0:
            self.pay(order, before, day + dt.timedelta(days=self.rng.choice((0, 0, 1))))

    def pay_credit(self, order: SalesOrder, ship_day: dt.date) -> None:
        order.refresh_from_db()
        rest = order.amount - services.order_paid(order.pk)
        if rest <= 0:
            return
        credit_days = max((s.days for s in order.stages.all() if s.kind == StageKind.CREDIT), default=0)
        late = order.partner_id in self.late_payers
        pay_day = ship_day + dt.timedelta(days=credit_days + (self.rng.randint(5, 20) if late else
                                                              -self.rng.randint(0, max(credit_days - 1, 0))))
        if late and self.rng.random() < 0.6:
            return  # not paid yet: overdue
        self.pay(order, rest, pay_day)

    def an_overpayment_and_a_refund(self) -> None:
        """A client pays more than its orders need; the rest stays as an advance; part of it is refunded."""
        client = self.clients[-1]
        org = self.orgs[0]
        day = self.today - dt.timedelta(days=3)
        payment = IncomingPayment(organization=org, partner=client, method=PaymentMethod.BANK,
                                  bank_account=self.accounts.get(org.pk), amount=Decimal(25_000),
                                  date=_aware(day, 11), purpose="Аванс за будущие поставки")
        register_payment(payment, [], user=self.accountant, idempotency_key="demo-advance")
        self.loader.count_doc("incoming payment")
        held = advance_held(org.pk, client.pk)
        if held >= 5000:
            refund(Refund(organization=org, partner=client, method=PaymentMethod.BANK,
                          bank_account=self.accounts.get(org.pk), amount=Decimal(5000),
                          date=_aware(day + dt.timedelta(days=1), 15)),
                   user=self.accountant, idempotency_key="demo-refund")
            self.loader.count_doc("refund")


    # ---------------------------------------------------------------- quotes
    QUOTE_FATES = ("draft", "draft", "sent", "sent", "answered", "answered", "accepted", "rejected", "rejected")
    REJECTIONS = ("Нашли дешевле у другого поставщика", "Закупка перенесена на следующий квартал")

    def some_quotes(self) -> None:
        """Quotes of the last two weeks in every state: drafts, sent, answered by the client with a new version,
        turned into an order, and rejected with the reason."""
        items = sorted({item_id for item_id, _pt in self.prices})
        rejections = iter(self.REJECTIONS)
        for n, fate in enumerate(self.QUOTE_FATES):
            agreement = self.typical[n % len(self.typical)]
            day = self.today - dt.timedelta(days=14 - n)
            quote = Quote(organization_id=agreement.organization_id, partner=self.rng.choice(self.clients[3:]),
                          agreement=agreement, date=_aware(day, 10, 30), valid_until=day + dt.timedelta(days=10),
                          terms="Доставка на следующий рабочий день после оплаты")
            lines = [QuoteLine(item_id=item_id, quantity=Decimal(self.rng.choice((5, 10, 20, 50))))
                     for item_id in self.rng.sample(items, k=self.rng.randint(2, 5))]
            services.save_quote(quote, lines, user=self.manager)
            self.loader.count_doc("quote")
            if fate == "draft":
                continue
            services.mark_quote_sent(quote, user=self.manager)
            if fate == "answered":  # the client wants more of the first line, a little cheaper
                first = quote.lines.order_by("line_no").first()
                services.create_quote_version(quote, user=self.manager, changes=[{
                    "line_no": 1, "quantity": first.quantity * 2,
                    "price": (first.price * Decimal("0.97")).quantize(CENT), "agreed": True}],
                    comment="Клиент просит больше и дешевле")
                self.loader.count_doc("quote")
            elif fate == "accepted":
                services.order_from_quote(quote, user=self.manager)
                self.loader.count_doc("sales order")
            elif fate == "rejected":
                services.reject_quote(quote, next(rejections), user=self.manager)


def add_sales(loader: Any) -> None:
    SalesDemo(loader).run()


add_sales.demo_label = "sales documents"  # type: ignore[attr-defined]
