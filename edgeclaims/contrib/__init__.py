"""Framework integrations: Flask, Django, FastAPI/Starlette.

Each integration only gives idiomatic access to what the engine decided —
``current_identity``, ``request.edgeclaims``, dependencies — and view-level
requirements (decorators, mixins, dependencies) for roles and permissions.
None of them verifies anything again. This module holds the one
framework-neutral rule those requirements share, so that a decorator in
Flask, a mixin in Django and a dependency in FastAPI refuse with the same
codes as the engine: ``missing`` (401) without an identity, ``forbidden``
(403) when it lacks a role or a permission.

Importing ``edgeclaims.contrib`` needs no framework; each submodule needs its
own (``pip install edgeclaims[flask]``, ``[django]``, ``[fastapi]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from edgeclaims.errors import Forbidden, MissingIdentity, VerificationError
from edgeclaims.identity import Identity

__all__ = ["Match", "Requirement"]

Match = Literal["all", "any"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a view needs from the verified identity, checked in the view's own code.

    ``match = "all"`` (the default) needs every listed role and permission;
    ``"any"`` needs at least one of them. An empty requirement needs only a
    verified identity.
    """

    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    match: Match = "all"

    @classmethod
    def build(
        cls,
        *,
        roles: Iterable[object] = (),
        permissions: Iterable[object] = (),
        match: str = "all",
        name: str = "requirement",
    ) -> Requirement:
        """Check a decorator's or dependency's arguments once, at import time."""
        role_set = _names(roles, name)
        permission_set = _names(permissions, name)
        if match == "all":
            return cls(role_set, permission_set, "all")
        if match == "any":
            return cls(role_set, permission_set, "any")
        raise ValueError(f"{name}: match must be 'all' or 'any', not {match!r}")

    def refusal(self, identity: Identity | None) -> VerificationError | None:
        """The error refusing this identity, or None when it satisfies the requirement."""
        if identity is None:
            return MissingIdentity("this view requires a verified identity")
        wanted = [identity.has_role(r) for r in self.roles]
        wanted += [identity.has_permission(p) for p in self.permissions]
        if not wanted:
            return None
        granted = all(wanted) if self.match == "all" else any(wanted)
        if granted:
            return None
        return Forbidden("the identity lacks a role or permission this view requires")


def _names(values: Iterable[object], name: str) -> frozenset[str]:
    names: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value:
            # `@roles_required` without parentheses lands here with the view.
            raise TypeError(
                f"{name}: expected role or permission names (non-empty strings), "
                f"got {type(value).__name__}; write {name}('admin'), not {name}"
            )
        names.add(value)
    return frozenset(names)
