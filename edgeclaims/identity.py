"""The verified identity handed to the application."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClaimsView", "Identity", "freeze_claims"]


class ClaimsView(Mapping[str, Any]):
    """Decoded JSON claims, read-only all the way down.

    A view, not a copy: nested objects are read through further views and
    arrays as tuples, as they are reached, so building one costs nothing and
    no claim is copied that the application never reads. Its repr names no
    value (claims may be personal data).
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getitem__(self, name: str) -> Any:
        return freeze_claims(self._data[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<ClaimsView of {len(self._data)} claims>"


def freeze_claims(value: object) -> Any:
    """Decoded JSON as read-only: objects become :class:`ClaimsView`, arrays tuples."""
    if isinstance(value, ClaimsView):
        return value
    if isinstance(value, Mapping):
        return ClaimsView(value)
    if isinstance(value, list | tuple):
        return tuple(freeze_claims(item) for item in value)
    return value


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Identity:
    """Who the edge vouched for, after every check passed.

    ``claims`` is a read-only view (nested objects and arrays too). The repr
    shows the subject, source, key id and roles — never other claim values.
    ``known_roles`` and ``known_permissions`` are every name the policy
    defines (None outside the engine): view requirements check their names
    against them, so a typo fails loudly instead of refusing everyone.
    """

    subject: str
    _claims: Mapping[str, Any]
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    source: str = ""
    key_id: str | None = None
    known_roles: frozenset[str] | None = field(default=None, kw_only=True)
    known_permissions: frozenset[str] | None = field(default=None, kw_only=True)

    @property
    def claims(self) -> Mapping[str, Any]:
        """The verified claims, read-only all the way down."""
        return ClaimsView(self._claims)

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
