from django.urls import path

from torg.catalogs.views import SPECS, make_views

app_name = "catalogs"

urlpatterns = []
for _spec in SPECS:
    _views = make_views(_spec)
    urlpatterns += [
        path(f"{_spec.path}/", _views["list"], name=f"{_spec.key}_list"),
        path(f"{_spec.path}/new/", _views["new"], name=f"{_spec.key}_new"),
        path(f"{_spec.path}/<int:pk>/", _views["edit"], name=f"{_spec.key}_edit"),
        path(f"{_spec.path}/<int:pk>/mark/", _views["mark"], name=f"{_spec.key}_mark"),
    ]
