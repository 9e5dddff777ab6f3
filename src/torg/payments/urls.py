"""Payment pages at /payments/: incoming payments, their allocation, refunds."""
from django.urls import path

from torg.payments import views

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
]
