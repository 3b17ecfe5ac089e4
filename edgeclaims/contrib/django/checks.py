"""System checks: ``manage.py check`` validates the configuration at build time.

They call the same validators as run time — :func:`edgeclaims.load_config`
for the configuration and :func:`edgeclaims.config.config_warnings` for
risky settings, whose ids they carry — so ``manage.py check`` and
``edgeclaims check`` always agree.

========================  =====================================================
``edgeclaims.E001``       the configuration (``EDGECLAIMS`` / ``EDGECLAIMS_CONFIG``)
                          is invalid
``edgeclaims.E002``       ``EDGECLAIMS_BACKEND`` is invalid
``edgeclaims.E003``       a view's ``roles_required`` / ``permissions_required`` /
                          mixin names a role or permission the policy lacks
``edgeclaims.W001``       ``replay.store = "memory"`` (one process only)
``edgeclaims.W002``       ``replay.store = "off"``
``edgeclaims.W003``       ``replay.on_error = "allow"``
``edgeclaims.W004``       ``mode = "monitor"``
``edgeclaims.W005``       ``require_identity = false``
``edgeclaims.W006``       ``trust_original_url = true``
``edgeclaims.W007``       ``EDGECLAIMS_BACKEND.superuser_roles`` is set
``edgeclaims.W008``       a secret written in the configuration itself
``edgeclaims.W009``       the samples' published demo key
``edgeclaims.W010``       the middleware is not in ``MIDDLEWARE``
``edgeclaims.W011``       an ``azure-easyauth`` source (``trust_unsigned = true``)
``edgeclaims.W012``       the origin gate accepts a G2O version using MD5
``edgeclaims.W013``       an origin gate key shorter than 16 bytes
``edgeclaims.W014``       an ``oauth2-proxy`` source (GAP-Signature has no nonce)
``edgeclaims.W015``       ``require_nonce = false`` with a replay store on
``edgeclaims.W016``       a ``jws`` source checking neither issuer nor audience
``edgeclaims.W017``       a Redis password written in ``replay.url``
========================  =====================================================

Silence one with ``SILENCED_SYSTEM_CHECKS = ["edgeclaims.W001"]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from edgeclaims.config import config_warnings
from edgeclaims.contrib import Requirement
from edgeclaims.contrib.django import load_django_config
from edgeclaims.errors import ConfigurationError
from edgeclaims.rbac import Policy

__all__ = ["MIDDLEWARE_PATH", "check_settings", "register_checks"]

MIDDLEWARE_PATH = "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware"
TAG = "edgeclaims"


def register_checks() -> None:
    """Register :func:`check_settings` (called by the app's ``ready()``)."""
    checks.register(check_settings, TAG)


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Every edgeclaims check; see the module docstring for the ids."""
    messages: list[checks.CheckMessage] = []
    try:
        config = load_django_config()
    except ConfigurationError as exc:
        messages.append(
            checks.Error(
                f"edgeclaims configuration error: {exc}",
                hint=f"fix the setting {exc.path} in settings.EDGECLAIMS or the "
                "file EDGECLAIMS_CONFIG names; run 'edgeclaims check' for details",
                id="edgeclaims.E001",
            )
        )
    else:
        for warning in config_warnings(config):
            messages.append(checks.Warning(warning.message, id=f"edgeclaims.{warning.id}"))
        messages.extend(_view_messages(config.policy))
    messages.extend(_backend_messages())
    messages.extend(_middleware_messages())
    return messages


def _backend_messages() -> list[checks.CheckMessage]:
    from edgeclaims.contrib.django.backends import BackendSettings

    if not _backend_configured():
        return []
    try:
        options = BackendSettings.from_django()
    except ConfigurationError as exc:
        return [checks.Error(f"EDGECLAIMS_BACKEND: {exc}", id="edgeclaims.E002")]
    if options.superuser_roles:
        return [
            checks.Warning(
                "EDGECLAIMS_BACKEND.superuser_roles makes every identity granted "
                f"{', '.join(sorted(options.superuser_roles))} a Django superuser",
                hint="prefer staff_roles with Django permissions through mirror_groups",
                id="edgeclaims.W007",
            )
        ]
    return []


def _backend_configured() -> bool:
    from django.utils.module_loading import import_string

    from edgeclaims.contrib.django.backends import EdgeClaimsBackend

    for path in getattr(settings, "AUTHENTICATION_BACKENDS", ()):
        try:
            backend = import_string(path)
        except ImportError:
            continue  # Django's own checks and start-up report it
        if isinstance(backend, type) and issubclass(backend, EdgeClaimsBackend):
            return True
    return False


def _middleware_messages() -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware

    for path in getattr(settings, "MIDDLEWARE", None) or ():
        if path == MIDDLEWARE_PATH:
            return []
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django reports it when it builds the handler
        if isinstance(middleware, type) and issubclass(middleware, EdgeClaimsMiddleware):
            return []
    return [
        checks.Warning(
            f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: request.edgeclaims is never set "
            "and the edgeclaims decorators and backend refuse to work",
            hint="add it first in MIDDLEWARE (it also reuses the verdict of an "
            "edgeclaims WSGI/ASGI middleware wrapping the project)",
            id="edgeclaims.W010",
        )
    ]


def _view_messages(policy: Policy) -> list[checks.CheckMessage]:
    """E003 for every routed view whose requirement names what the policy lacks."""
    from django.urls import get_resolver

    messages: list[checks.CheckMessage] = []
    for route, view in _routed_views(get_resolver().url_patterns, ""):
        requirement = _requirement_of(view)
        if requirement is None:
            continue
        unknown = requirement.unknown_names(policy.role_name_set, policy.permission_names)
        if unknown:
            messages.append(
                checks.Error(
                    f"the view at {route!r} ({requirement.name}) names {', '.join(unknown)}, "
                    "which the edgeclaims policy does not define: it would refuse everyone",
                    hint="fix the name, or define it in [edgeclaims.roles] / "
                    "[edgeclaims.permissions]",
                    id="edgeclaims.E003",
                )
            )
    return messages


def _routed_views(patterns: Sequence[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):  # include()
            yield from _routed_views(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def _requirement_of(view: Any) -> Requirement | None:
    """The requirement of a decorated function view, or of a view class's mixin."""
    from edgeclaims.contrib.django.mixins import IdentityRequiredMixin

    requirement = getattr(view, "edgeclaims_requirement", None)
    if isinstance(requirement, Requirement):
        return requirement
    view_class = getattr(view, "view_class", None)
    if isinstance(view_class, type) and issubclass(view_class, IdentityRequiredMixin):
        try:
            return view_class().get_requirement()
        except Exception:  # a view that decides per request is checked at first use
            return None
    return None
