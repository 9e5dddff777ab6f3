from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("torg.api.urls")),
    path("catalogs/", include("torg.catalogs.urls")),
    path("stock/", include("torg.stock.urls")),
    path("sales/", include("torg.sales.urls")),
    path("shipping/", include("torg.sales.urls_shipping")),
    path("payments/", include("torg.payments.urls")),
    path("fiscal/", include("torg.fiscal.urls")),
    path("delivery/", include("torg.delivery.urls")),
    path("courier/", include("torg.delivery.urls_courier")),
    path("print/", include("torg.printing.urls")),
    path("reports/", include("torg.reports.urls")),
    path("", include("torg.web.urls")),
]
