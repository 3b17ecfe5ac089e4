"""The three routes of the samples."""

from __future__ import annotations

from django.urls import path

from django_site import views

urlpatterns = [
    path("healthz", views.healthz),
    path("whoami", views.whoami),
    path("admin", views.admin),
]
