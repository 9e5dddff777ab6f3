"""Delivery pages at /delivery/: trips, the route sheet, zones, vehicles, carriers."""
from django.urls import path

from torg.delivery import views, views_board

app_name = "delivery"

urlpatterns = [
    path("", views.trip_list, name="trip_list"),
    path("trips/new/", views.trip_new, name="trip_new"),
    path("trips/<int:pk>/", views.trip_detail, name="trip_detail"),
    path("trips/<int:pk>/add/", views.trip_add, name="trip_add"),
    path("trips/<int:pk>/fill/", views.trip_fill, name="trip_fill"),
    path("trips/<int:pk>/remove/", views.trip_remove, name="trip_remove"),
    path("trips/<int:pk>/reorder/", views.trip_reorder, name="trip_reorder"),
    path("trips/<int:pk>/status/", views.trip_status, name="trip_status"),
    path("trips/<int:pk>/route-sheet.pdf", views.route_sheet, name="route_sheet"),
    path("board/", views_board.board_page, name="board"),
    path("board/live/", views_board.board_live, name="board_live"),
]
for _key in views.CATALOGS:
    urlpatterns += [
        path(f"{_key}s/", views._catalog_list(_key), name=f"{_key}_list"),
        path(f"{_key}s/new/", views._catalog_new(_key), name=f"{_key}_new"),
        path(f"{_key}s/<int:pk>/", views._catalog_edit(_key), name=f"{_key}_edit"),
    ]
