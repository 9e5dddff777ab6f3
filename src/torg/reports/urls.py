from django.urls import path

from torg.reports import views

app_name = "reports"

urlpatterns = [
    path("stock/", views.stock_report_view, name="stock"),
    path("receivables/", views.receivables_view, name="receivables"),
    path("settlement-card/", views.settlement_card_view, name="settlement_card"),
    path("reconciliation/", views.reconciliation_view, name="reconciliation"),
    path("payment-discipline/", views.payment_discipline_view, name="payment_discipline"),
    path("sales/", views.sales_report_view, name="sales"),
]
