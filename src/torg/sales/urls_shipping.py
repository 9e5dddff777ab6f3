"""Shipping pages at /shipping/: the backlog, shipments, the goods-issue desk and goods issues."""
from django.urls import path

from torg.sales import views_shipping as views
from torg.web.document_views import document_urls

app_name = "shipping"

urlpatterns = [
    path("", views.backlog_view, name="backlog"),
    path("items/search/", views.item_search_view, name="item_search"),
    path("goods-issue/", views.goods_issue_desk, name="goods_issue_desk"),
    *document_urls(views.SHIPMENTS),
    *views.goods_issue_urls(),
]
