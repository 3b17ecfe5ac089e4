"""/healthz (public), /whoami (any verified identity), /admin (role ``admin``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from edgeclaims.contrib.django.decorators import identity_required, roles_required
from edgeclaims.identity import Identity


def _identity_document(identity: Identity) -> dict[str, Any]:
    return {
        "sub": identity.subject,
        "roles": sorted(identity.roles),
        "permissions": sorted(identity.permissions),
        "source": identity.source,
    }


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@identity_required
def whoami(request: HttpRequest) -> JsonResponse:
    identity: Identity = request.edgeclaims  # type: ignore[attr-defined]
    return JsonResponse(_identity_document(identity))


@roles_required("admin")  # enforced here too, not only by [edgeclaims.routes]
def admin(request: HttpRequest) -> JsonResponse:
    identity: Identity = request.edgeclaims  # type: ignore[attr-defined]
    return JsonResponse({"admin": True, **_identity_document(identity)})
