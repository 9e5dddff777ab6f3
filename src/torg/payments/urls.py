"""Payment pages at /payments/: incoming payments, their allocation, refunds, bank statements, couriers' cash."""
from django.urls import path

from torg.payments import views, views_bank, views_cash

app_name = "payments"

urlpatterns = [
    path("", views.payment_list, name="payment_list"),
    path("new/", views.payment_new, name="payment_new"),
    path("<int:pk>/", views.payment_detail, name="payment_detail"),
    path("allocation/", views.allocation_preview, name="allocation_preview"),
    path("client/", views.client_panel, name="client_panel"),
    path("refunds/", views.refund_list, name="refund_list"),
    path("refunds/new/", views.refund_new, name="refund_new"),
    path("refunds/<int:pk>/", views.refund_detail, name="refund_detail"),
    path("bank/", views_bank.statement_list, name="bank_statements"),
    path("bank/import/", views_bank.statement_import, name="bank_import"),
    path("bank/<int:pk>/", views_bank.statement_detail, name="bank_statement"),
    path("bank/lines/", views_bank.line_list, name="bank_lines"),
    path("bank/lines/to-match/", views_bank.lines_to_match, name="bank_lines_to_match"),
    path("bank/lines/<int:pk>/", views_bank.line_detail, name="bank_line"),
    path("bank/export/", views_bank.export, name="bank_export"),
    path("cash-handover/", views_cash.couriers_cash_list, name="couriers_cash"),
    path("cash-handover/accept/<int:courier_id>/<int:organization_id>/", views_cash.cash_handover_new,
         name="cash_handover_new"),
    path("cash-handover/handovers/", views_cash.cash_handover_list, name="cash_handover_list"),
    path("cash-handover/<int:pk>/", views_cash.cash_handover_detail, name="cash_handover_detail"),
]
