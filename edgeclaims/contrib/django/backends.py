"""An authentication backend mapping the verified identity to a Django user.

    AUTHENTICATION_BACKENDS += ["edgeclaims.contrib.django.backends.EdgeClaimsBackend"]
    EDGECLAIMS_BACKEND = {                  # all optional; these are the defaults
        "username_claim": "sub",
        "create_users": True,
        "mirror_groups": False,            # True: the user's groups become its roles
        "staff_roles": None,               # e.g. ["admin"]: is_staff follows these roles
        "superuser_roles": None,           # e.g. ["admin"]: is_superuser follows them
    }

The safe version of ``RemoteUserMiddleware`` + ``RemoteUserBackend``: the
user comes from ``request.edgeclaims`` — the identity the middleware
verified — and never from a request header, and there is no session to
outlive it: ``EdgeClaimsMiddleware`` sets ``request.user`` on every request
(``AnonymousUser`` when there is no identity).

**Security:** ``username_claim`` should name a claim the identity provider
never reassigns (``sub``, Entra ID ``oid``); an e-mail address can move to
another person. ``staff_roles`` and ``superuser_roles`` hand Django admin
access to whoever the role rules grant those roles: ``manage.py check``
warns about ``superuser_roles``. Inactive users (``is_active = False``) are
never returned, so an administrator can still lock a user out in Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest

from edgeclaims.errors import ConfigurationError
from edgeclaims.identity import Identity
from edgeclaims.settings import Table

__all__ = ["BACKEND_SETTING", "BackendSettings", "EdgeClaimsBackend"]

#: The Django setting holding the backend's options.
BACKEND_SETTING = "EDGECLAIMS_BACKEND"


@dataclass(frozen=True)
class BackendSettings:
    """The options of :class:`EdgeClaimsBackend` (``settings.EDGECLAIMS_BACKEND``)."""

    username_claim: str = "sub"
    create_users: bool = True
    mirror_groups: bool = False
    staff_roles: frozenset[str] | None = None
    superuser_roles: frozenset[str] | None = None

    @classmethod
    def from_django(cls) -> BackendSettings:
        """Read and check the setting against the user model; raises ``ConfigurationError``."""
        from django.conf import settings

        value = getattr(settings, BACKEND_SETTING, None)
        options = cls.parse({} if value is None else value)
        options.check_user_model(get_user_model())
        return options

    @classmethod
    def parse(cls, data: object) -> BackendSettings:
        """Validate the mapping; unknown keys are errors (a typo must not be ignored)."""
        table = Table(data, BACKEND_SETTING)
        username_claim = table.str("username_claim", "sub")
        if not username_claim:
            raise table.error("username_claim", "must name a claim")
        options = cls(
            username_claim=username_claim,
            create_users=table.bool("create_users", True),
            mirror_groups=table.bool("mirror_groups", False),
            staff_roles=_optional_roles(table, "staff_roles"),
            superuser_roles=_optional_roles(table, "superuser_roles"),
        )
        table.refuse_unknown()
        return options

    def check_user_model(self, user_model: Any) -> None:
        """Every field the options write must exist on the user model."""
        needed = {
            "staff_roles": ("is_staff",) if self.staff_roles is not None else (),
            "superuser_roles": ("is_superuser",) if self.superuser_roles is not None else (),
            "mirror_groups": ("groups",) if self.mirror_groups else (),
        }
        for option, fields in needed.items():
            for name in fields:
                try:
                    user_model._meta.get_field(name)
                except FieldDoesNotExist:
                    raise ConfigurationError(
                        f"{BACKEND_SETTING}.{option}",
                        f"the user model {user_model.__name__} has no {name} field",
                    ) from None


def _optional_roles(table: Table, key: str) -> frozenset[str] | None:
    if table.raw(key) is None:
        return None
    return frozenset(table.str_list(key))


class EdgeClaimsBackend(ModelBackend):
    """Authenticate the request's verified identity as a Django user.

    Django permissions (``user.has_perm``) work as with ``ModelBackend``,
    through the user's groups — which ``mirror_groups`` keeps equal to the
    identity's roles. Subclass and override :meth:`clean_username` or
    :meth:`configure_user` to adapt the mapping.
    """

    def __init__(self) -> None:
        self.options = BackendSettings.from_django()

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, *, edgeclaims: bool = False
    ) -> Any:
        """The user for ``request.edgeclaims``, or None.

        Only ``edgeclaims=True`` (what the middleware passes) does anything,
        so a login form's ``authenticate(request, username=…, password=…)``
        never reaches this backend.
        """
        if not edgeclaims or request is None:
            return None
        # Only what the middleware attached: never a header.
        identity = getattr(request, "edgeclaims", None)
        if not isinstance(identity, Identity):
            return None
        username = self.clean_username(identity)
        if username is None:
            return None
        user_model: Any = get_user_model()
        manager = user_model._default_manager
        created = False
        if self.options.create_users:
            user, created = manager.get_or_create(**{user_model.USERNAME_FIELD: username})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
        else:
            try:
                user = manager.get_by_natural_key(username)
            except user_model.DoesNotExist:
                return None
        user = self.configure_user(request, user, identity, created=created)
        return user if self.user_can_authenticate(user) else None

    def clean_username(self, identity: Identity) -> str | None:
        """The username for an identity: the ``username_claim``, when a usable string."""
        if self.options.username_claim == "sub":
            value: object = identity.subject
        else:
            value = identity.claims.get(self.options.username_claim)
        if not isinstance(value, str) or not value.strip():
            return None
        user_model: Any = get_user_model()
        field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        if field.max_length is not None and len(value) > field.max_length:
            return None
        return str(user_model.normalize_username(value))

    def configure_user(
        self, request: HttpRequest, user: Any, identity: Identity, *, created: bool
    ) -> Any:
        """Mirror the roles onto ``is_staff``, ``is_superuser`` and groups, as configured."""
        options = self.options
        changed: list[str] = []
        for field, roles in (
            ("is_staff", options.staff_roles),
            ("is_superuser", options.superuser_roles),
        ):
            if roles is None:
                continue
            granted = not roles.isdisjoint(identity.roles)
            if getattr(user, field) != granted:
                setattr(user, field, granted)
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        if options.mirror_groups:
            wanted = set(identity.roles)
            current = set(user.groups.values_list("name", flat=True))
            if current != wanted:
                user.groups.set(
                    [Group.objects.get_or_create(name=role)[0] for role in sorted(wanted)]
                )
        return user
