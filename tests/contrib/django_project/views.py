from __future__ import annotations

from typing import Any

from contrib_tables import describe
from django.http import HttpRequest, JsonResponse
from django.views import View

from edgeclaims.contrib.django.decorators import (
    identity_required,
    permissions_required,
    roles_required,
)
from edgeclaims.contrib.django.mixins import PermissionsRequiredMixin, RolesRequiredMixin


def echo(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    seen = [*request.headers.keys(), *(k for k in request.META if k.startswith("HTTP_"))]
    seen = [name.removeprefix("HTTP_").replace("_", "-") for name in seen]
    return JsonResponse(describe(request.edgeclaims, seen))  # type: ignore[attr-defined]


roles_admin = roles_required("admin")(echo)
any_role = roles_required("admin", "auditor", match="any")(echo)
perm_read = permissions_required("orders:read")(echo)
perm_write = permissions_required("orders:write")(echo)
identity = identity_required(echo)


@roles_required("admin")
async def async_admin(request: HttpRequest) -> JsonResponse:
    return echo(request)


class AdminView(RolesRequiredMixin, View):
    required_roles = ("admin",)

    def get(self, request: HttpRequest) -> JsonResponse:
        return echo(request)


class AsyncAdminView(RolesRequiredMixin, View):
    required_roles = ("admin",)

    async def get(self, request: HttpRequest) -> JsonResponse:
        return echo(request)


class WriteView(PermissionsRequiredMixin, View):
    required_permissions = ("orders:write",)

    def get(self, request: HttpRequest) -> JsonResponse:
        return echo(request)


def _user(user: Any) -> dict[str, Any]:
    return {
        "authenticated": bool(user.is_authenticated),
        "username": user.get_username() if user.is_authenticated else None,
        "is_staff": bool(getattr(user, "is_staff", False)),
        "is_superuser": bool(getattr(user, "is_superuser", False)),
        "groups": sorted(g.name for g in user.groups.all()) if user.is_authenticated else [],
        "backend": getattr(user, "backend", None),
    }


def user(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_user(request.user))


async def async_user(request: HttpRequest) -> JsonResponse:
    from asgiref.sync import sync_to_async

    found = await request.auser()  # type: ignore[attr-defined]
    return JsonResponse(await sync_to_async(_user)(found))
