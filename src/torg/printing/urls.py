from django.urls import path

from torg.printing import views

app_name = "printing"

urlpatterns = [
    path("shipment/<int:pk>/<str:form>/", views.shipment_form, name="shipment_form"),
    path("order/<int:pk>/invoice/", views.order_invoice, name="order_invoice"),
    path("quote/<int:pk>/<str:fmt>/", views.quote, name="quote"),
    path("reconciliation/", views.reconciliation, name="reconciliation"),
]
