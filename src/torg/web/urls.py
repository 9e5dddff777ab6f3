from django.contrib.auth import views as auth_views
from django.urls import path

from torg.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_new, name="user_new"),
    path("users/<int:pk>/", views.user_edit, name="user_edit"),
    path("users/<int:pk>/tokens/", views.token_issue, name="token_issue"),
    path("users/<int:pk>/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/", views.system_settings, name="settings"),
]
