"""The verified identity handed to the application."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, cast

__all__ = ["Identity", "freeze_claims"]


def freeze_claims(value: object) -> object:
    """A read-only deep copy of decoded JSON: mappings become proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze_claims(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze_claims(item) for item in value)
    return value


class Identity:
    """Who the edge vouched for, after every check passed. Immutable.

    ``claims`` is a read-only view (nested objects and lists too). The repr
    shows the subject, source, key id and roles — never other claim values,
    which may be personal data.
    """

    __slots__ = (
        "_claims",
        "_frozen",
        "key_id",
        "known_permissions",
        "known_roles",
        "permissions",
        "roles",
        "source",
        "subject",
    )

    _claims: Mapping[str, Any]
    _frozen: Mapping[str, Any] | None
    subject: str
    roles: frozenset[str]
    permissions: frozenset[str]
    source: str
    key_id: str | None
    #: Every role and permission the policy defines (None outside the engine):
    #: view requirements check their names against them.
    known_roles: frozenset[str] | None
    known_permissions: frozenset[str] | None

    def __init__(
        self,
        subject: str,
        claims: Mapping[str, Any],
        roles: frozenset[str] = frozenset(),
        permissions: frozenset[str] = frozenset(),
        source: str = "",
        key_id: str | None = None,
        *,
        known_roles: frozenset[str] | None = None,
        known_permissions: frozenset[str] | None = None,
    ) -> None:
        # The slots' own setters: __setattr__ refuses, and this runs per request.
        _set_subject(self, subject)
        # Frozen on first read: most requests never look past roles.
        _set_claims(self, claims)
        _set_frozen(self, None)
        _set_roles(self, roles)
        _set_permissions(self, permissions)
        _set_source(self, source)
        _set_key_id(self, key_id)
        _set_known_roles(self, known_roles)
        _set_known_permissions(self, known_permissions)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Identity is immutable (cannot set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Identity is immutable (cannot delete {name})")

    @property
    def claims(self) -> Mapping[str, Any]:
        """The verified claims, read-only all the way down."""
        frozen = self._frozen
        if frozen is None:
            frozen = cast("Mapping[str, Any]", freeze_claims(self._claims))
            _set_frozen(self, frozen)
        return frozen

    def has_role(self, role: str) -> bool:
        """Whether the role was granted (directly or through ``includes``)."""
        return role in self.roles

    def has_permission(self, permission: str) -> bool:
        """Whether any granted role carries this permission."""
        return permission in self.permissions

    @property
    def is_authenticated(self) -> bool:
        """Always true; lets Starlette's and Django's idioms treat this as a user."""
        return True

    @property
    def display_name(self) -> str:
        """The subject, for Starlette's ``BaseUser`` protocol."""
        return self.subject

    @property
    def identity(self) -> str:
        """The subject, for Starlette's ``BaseUser`` protocol."""
        return self.subject

    def __repr__(self) -> str:
        roles = ", ".join(sorted(self.roles))
        return (
            f"Identity(subject={self.subject!r}, source={self.source!r}, "
            f"key_id={self.key_id!r}, roles={{{roles}}})"
        )


_set_subject = Identity.__dict__["subject"].__set__
_set_claims = Identity.__dict__["_claims"].__set__
_set_frozen = Identity.__dict__["_frozen"].__set__
_set_roles = Identity.__dict__["roles"].__set__
_set_permissions = Identity.__dict__["permissions"].__set__
_set_source = Identity.__dict__["source"].__set__
_set_key_id = Identity.__dict__["key_id"].__set__
_set_known_roles = Identity.__dict__["known_roles"].__set__
_set_known_permissions = Identity.__dict__["known_permissions"].__set__
