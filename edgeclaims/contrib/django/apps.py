"""The Django app: ``INSTALLED_APPS += ["edgeclaims.contrib.django"]``."""

from __future__ import annotations

from django.apps import AppConfig


class EdgeClaimsConfig(AppConfig):
    """Registers the system checks; edgeclaims has no models."""

    name = "edgeclaims.contrib.django"
    label = "edgeclaims"
    verbose_name = "edgeclaims"

    def ready(self) -> None:
        from edgeclaims.contrib.django.checks import register_checks

        register_checks()
