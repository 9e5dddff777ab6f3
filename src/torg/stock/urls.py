from django.urls import path

from torg.stock import views
from torg.web.document_views import document_urls

app_name = "stock"

urlpatterns = [path("items/search/", views.item_search_view, name="item_search")]
for _config in views.DOCUMENT_CONFIGS:
    urlpatterns += document_urls(_config)
