from __future__ import annotations

from django.urls import path, re_path
from django_project import views

urlpatterns = [
    path("open/roles-admin", views.roles_admin),
    path("open/any-role", views.any_role),
    path("open/perm-read", views.perm_read),
    path("open/perm-write", views.perm_write),
    path("open/identity", views.identity),
    path("open/async-admin", views.async_admin),
    path("open/cbv-admin", views.AdminView.as_view()),
    path("open/async-cbv-admin", views.AsyncAdminView.as_view()),
    path("open/cbv-perm-write", views.WriteView.as_view()),
    path("open/user", views.user),
    path("open/async-user", views.async_user),
    re_path(r"^.*$", views.echo),
]
