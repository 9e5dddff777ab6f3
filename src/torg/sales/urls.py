"""The sales pages (namespace "sales", at /sales/): schedules, agreements, quotes, orders, approvals."""
from django.urls import URLPattern, path

from torg.sales import views
from torg.web.document_views import document_urls

app_name = "sales"

urlpatterns: list[URLPattern] = [
    path("schedules/", views.schedule_list, name="schedules_list"),
    path("schedules/new/", views.schedule_new, name="schedules_new"),
    path("schedules/<int:pk>/", views.schedule_edit, name="schedules_edit"),
    path("schedules/<int:pk>/mark/", views.schedule_mark, name="schedules_mark"),
    path("agreements/", views.agreement_list, name="agreements_list"),
    path("agreements/new/", views.agreement_new, name="agreements_new"),
    path("agreements/<int:pk>/", views.agreement_edit, name="agreements_edit"),
    path("agreements/<int:pk>/mark/", views.agreement_mark, name="agreements_mark"),
    path("items/search/", views.item_search_view, name="item_search"),
    path("partner-terms/", views.partner_terms_view, name="partner_terms"),
    # quotes: the generic document pages, and the client's answer, agreed lines and the order made from them
    *document_urls(views.QUOTES),
    path("quotes/<int:pk>/answer/", views.quote_answer, name="quotes_answer"),
    path("quotes/<int:pk>/mark-lines/", views.quote_mark_lines, name="quotes_mark_lines"),
    path("quotes/<int:pk>/order/", views.quote_order, name="quotes_order"),
    path("quotes/<int:pk>/status/", views.quote_status, name="quotes_status"),
    # orders: a list of their own (computed states), the generic form and post/unpost/actions, close and cancel
    path("orders/", views.order_list, name="orders_list"),
    *[p for p in document_urls(views.ORDERS) if p.name != "orders_list"],
    path("orders/<int:pk>/close/", views.order_close, name="orders_close"),
    path("orders/<int:pk>/cancel-lines/", views.order_cancel_lines, name="orders_cancel_lines"),
    path("approvals/", views.approval_inbox, name="approvals"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval_decide"),
    path("deviations/", views.deviations_report, name="deviations"),
]
