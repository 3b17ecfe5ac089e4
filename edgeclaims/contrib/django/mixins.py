"""Mixins for class-based views, the counterparts of the decorators.

    from edgeclaims.contrib.django.mixins import RolesRequiredMixin

    class AdminView(RolesRequiredMixin, TemplateView):
        required_roles = ("admin",)

Put the mixin first, before the view class. Works with async views too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from edgeclaims.contrib import Requirement, renamed
from edgeclaims.contrib.django.decorators import refusal_for

if TYPE_CHECKING:
    from django.views import View

    _ViewBase = View
else:
    _ViewBase = object

__all__ = ["IdentityRequiredMixin", "PermissionsRequiredMixin", "RolesRequiredMixin"]


class IdentityRequiredMixin(_ViewBase):
    """The view needs a verified identity: 401 (``missing``) when anonymous."""

    #: Roles the view needs (see ``requirement_match``).
    required_roles: ClassVar[Sequence[str]] = ()
    #: edgeclaims permissions the view needs.
    required_permissions: ClassVar[Sequence[str]] = ()
    #: ``"all"``: every role and permission listed; ``"any"``: one of them.
    requirement_match: ClassVar[str] = "all"

    def get_requirement(self) -> Requirement:
        """What this view needs; override to decide per request."""
        return Requirement.build(
            roles=self.required_roles,
            permissions=self.required_permissions,
            match=self.requirement_match,
            name=type(self).__name__,
        )

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        refusal = refusal_for(request, self.get_requirement())
        if refusal is None:
            return super().dispatch(request, *args, **kwargs)
        if getattr(self, "view_is_async", False):
            # An async view's dispatch must return an awaitable (as Django's
            # own http_method_not_allowed does).
            async def refused() -> HttpResponse:
                return refusal

            return refused()  # type: ignore[return-value]
        return refusal


class RolesRequiredMixin(IdentityRequiredMixin):
    """The view needs ``required_roles``: 401 when anonymous, 403 when lacking."""

    def get_requirement(self) -> Requirement:
        if not self.required_roles:
            raise ImproperlyConfigured(f"{type(self).__name__} needs required_roles")
        return super().get_requirement()


class PermissionsRequiredMixin(IdentityRequiredMixin):
    """The view needs ``required_permissions`` (edgeclaims permissions, not Django's)."""

    def get_requirement(self) -> Requirement:
        if not self.required_permissions:
            raise ImproperlyConfigured(f"{type(self).__name__} needs required_permissions")
        return super().get_requirement()


# Plural like RolesRequiredMixin, and no clash with Django's own PermissionRequiredMixin.
__getattr__ = renamed(__name__, {"PermissionRequiredMixin": lambda: PermissionsRequiredMixin})
