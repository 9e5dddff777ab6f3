from django.urls import path

from torg.reports import views

app_name = "reports"

urlpatterns = [
    path("stock/", views.stock_report_view, name="stock"),
]
