"""Decorators for function views: roles, permissions, or just a verified identity.

    from edgeclaims.contrib.django.decorators import permissions_required, roles_required

    @roles_required("admin")
    def admin(request): ...

    @permissions_required("orders:read", "orders:write")
    async def orders(request): ...

Anonymous → 401 ``missing``; lacking → 403 ``forbidden``: the same
``application/problem+json`` document as a refusal by the middleware.
These are edgeclaims roles and permissions (``[edgeclaims.roles]``,
``[edgeclaims.permissions]``), not Django's model permissions, which
``django.contrib.auth.decorators.permission_required`` checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse

from edgeclaims.contrib import Requirement, renamed
from edgeclaims.contrib.django.middleware import refusal_response
from edgeclaims.errors import ConfigurationError
from edgeclaims.identity import Identity
from edgeclaims.logs import log_view_refusal

__all__ = [
    "identity_required",
    "permissions_required",
    "refusal_for",
    "request_identity",
    "roles_required",
]

F = TypeVar("F", bound=Callable[..., Any])


def request_identity(request: HttpRequest) -> Identity | None:
    """``request.edgeclaims``; a ``ConfigurationError`` when the middleware did not run."""
    marked: Any = request  # the attribute is ours, unknown to HttpRequest's type
    try:
        identity: Identity | None = marked.edgeclaims
    except AttributeError:
        raise ConfigurationError(
            "MIDDLEWARE",
            "request.edgeclaims is missing: add "
            "'edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware' to MIDDLEWARE",
        ) from None
    return identity


def refusal_for(request: HttpRequest, requirement: Requirement) -> HttpResponse | None:
    """The problem response refusing this request, or None when the requirement is met."""
    identity = request_identity(request)
    error = requirement.refusal(identity)
    if error is None:
        return None
    log_view_refusal(error, identity, method=request.method or "", path=request.path)
    return refusal_response(error)


def _decorator(requirement: Requirement) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        if iscoroutinefunction(view):

            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                refusal = refusal_for(request, requirement)
                if refusal is not None:
                    return refusal
                return await view(request, *args, **kwargs)

            async_view.edgeclaims_requirement = requirement  # type: ignore[attr-defined]
            return cast("F", functools.wraps(view)(async_view))

        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refusal = refusal_for(request, requirement)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        # Read by the system check, which looks for names the policy lacks.
        sync_view.edgeclaims_requirement = requirement  # type: ignore[attr-defined]
        return cast("F", functools.wraps(view)(sync_view))

    return decorator


def identity_required(view: F) -> F:
    """The view needs a verified identity: 401 (``missing``) when anonymous."""
    return _decorator(Requirement())(view)


def roles_required(*roles: str, match: str = "all") -> Callable[[F], F]:
    """The view needs these roles: 401 when anonymous, 403 (``forbidden``) when lacking.

    ``match = "all"`` (default) needs every role; ``"any"`` needs one of them.
    """
    return _decorator(Requirement.build(roles=roles, match=match, name="roles_required"))


def permissions_required(*permissions: str, match: str = "all") -> Callable[[F], F]:
    """The view needs these edgeclaims permissions: 401 when anonymous, 403 when lacking."""
    return _decorator(
        Requirement.build(permissions=permissions, match=match, name="permissions_required")
    )


# Plural like roles_required, and no clash with Django's own permission_required.
__getattr__ = renamed(__name__, {"permission_required": lambda: permissions_required})
