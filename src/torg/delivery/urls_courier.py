"""The courier's phone workplace at /courier/: trips, stops and the screens of a stop's handover."""
from django.urls import path

from torg.delivery import views_courier as views

app_name = "courier"

urlpatterns = [
    path("", views.trips, name="trips"),
    path("trips/<int:pk>/", views.trip, name="trip"),
    path("trips/<int:pk>/end/", views.trip_end, name="trip_end"),
    path("stops/<int:pk>/", views.stop, name="stop"),
    path("stops/<int:pk>/goods/", views.goods, name="goods"),
    path("stops/<int:pk>/quantities/", views.quantities, name="quantities"),
    path("stops/<int:pk>/due/", views.due, name="due"),
    path("stops/<int:pk>/pay/", views.pay, name="pay"),
    path("stops/<int:pk>/pay/<slug:method>/", views.amount, name="amount"),
    path("stops/<int:pk>/overpayment/", views.overpay, name="overpay"),
    path("stops/<int:pk>/receipt-contact/", views.contact, name="contact"),
    path("stops/<int:pk>/confirm/", views.confirm, name="confirm"),
    path("stops/<int:pk>/result/", views.result, name="result"),
    path("stops/<int:pk>/not-delivered/", views.fail, name="fail"),
]
