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

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from edgeclaims.errors import ConfigurationError, Forbidden, MissingIdentity, VerificationError
from edgeclaims.identity import Identity

__all__ = ["Match", "Requirement", "renamed"]

Match = Literal["all", "any"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a view needs from the verified identity, checked in the view's own code.

    ``match = "all"`` (the default) needs every listed role and permission;
    ``"any"`` needs at least one of them. An empty requirement needs only a
    verified identity. ``name`` is the decorator, mixin or dependency that
    asked, for error messages.
    """

    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    match: Match = "all"
    name: str = "requirement"

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
            return cls(role_set, permission_set, "all", name)
        if match == "any":
            return cls(role_set, permission_set, "any", name)
        raise ValueError(f"{name}: match must be 'all' or 'any', not {match!r}")

    def unknown_names(
        self, role_names: frozenset[str], permission_names: frozenset[str]
    ) -> list[str]:
        """The roles and permissions named here that the policy does not define."""
        unknown = [f"role {r!r}" for r in sorted(self.roles - role_names)]
        unknown += [f"permission {p!r}" for p in sorted(self.permissions - permission_names)]
        return unknown

    def check_names(self, role_names: frozenset[str], permission_names: frozenset[str]) -> None:
        """Raise ``ConfigurationError`` when a name is unknown to the policy.

        ``roles_required("amdin")`` would otherwise be a silent 403 for
        everyone: a typo must fail as loudly as one in the configuration.
        """
        unknown = self.unknown_names(role_names, permission_names)
        if unknown:
            where = "[edgeclaims.roles] / [edgeclaims.permissions]"
            raise ConfigurationError(self.name, f"{', '.join(unknown)} not defined in {where}")

    def refusal(self, identity: Identity | None) -> VerificationError | None:
        """The error refusing this identity, or None when it satisfies the requirement.

        Raises ``ConfigurationError`` when the requirement names a role or
        permission the identity's policy does not define (at first use).
        """
        if identity is None:
            return MissingIdentity("this view requires a verified identity")
        if not self.roles and not self.permissions:
            return None  # a verified identity is all it asks
        if identity.known_roles is not None:
            self.check_names(identity.known_roles, identity.known_permissions or frozenset())
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


def renamed(module: str, names: Mapping[str, Callable[[], object]]) -> Callable[[str], object]:
    """A module ``__getattr__`` that still serves old names, with a ``DeprecationWarning``.

    ``names`` maps each old name to a function returning what it is now
    (looked up when asked, so the module's own globals are complete).
    """

    def __getattr__(name: str) -> object:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = new()
        current = getattr(value, "__name__", "?")
        warnings.warn(f"{module}.{name} is now {current}", DeprecationWarning, stacklevel=2)
        return value

    return __getattr__
