"""Fiscal pages at /fiscal/: receipts, correction receipts, cash registers."""
from django.urls import path

from torg.fiscal import views

app_name = "fiscal"

urlpatterns = [
    path("", views.receipt_list, name="receipt_list"),
    path("receipts/<int:pk>/", views.receipt_detail, name="receipt_detail"),
    path("receipts/<int:pk>/pdf/", views.receipt_pdf_view, name="receipt_pdf"),
    path("receipts/<int:pk>/return/", views.receipt_return, name="receipt_return"),
    path("corrections/new/", views.correction_new, name="correction_new"),
    path("registers/", views.register_list, name="register_list"),
    path("registers/new/", views.register_new, name="register_new"),
    path("registers/<int:pk>/", views.register_edit, name="register_edit"),
    path("registers/<int:pk>/operation/", views.register_operation, name="register_operation"),
]
