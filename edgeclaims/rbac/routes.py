"""Reading ``[edgeclaims.routes]`` and deciding which requirement a request meets.

A route key is an optional method list and a path glob (``"POST /orders/*"``,
``"GET,HEAD /reports/*"``, ``"/admin/*"``); its value is ``"public"``,
``"authenticated"`` or a list of role and permission names (any of them).
Requests are matched on their percent-decoded path after removing dot
segments, so ``/public/../admin`` is judged as ``/admin``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from edgeclaims.errors import ConfigurationError
from edgeclaims.rbac.matching import compile_glob, glob_regex, is_array
from edgeclaims.rbac.rules import RESERVED_NAMES

__all__ = ["Route", "RouteRequirement", "parse_requirement", "parse_route", "remove_dot_segments"]

Kind = Literal["public", "authenticated", "roles"]

# RFC 9110 §5.6.2 token, upper-case only: methods are case-sensitive and a
# route written "post" would otherwise never match anything.
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Z-]+")


@dataclass(frozen=True, slots=True)
class RouteRequirement:
    """What a request must bring to reach a route.

    ``public``: anyone, even anonymous. ``authenticated``: any verified
    identity. ``roles``: a verified identity holding at least one of
    ``roles`` or at least one of ``permissions``. ``route`` is the pattern
    that matched (a ``routes`` key or a ``public_paths`` entry), None when
    the default applied.
    """

    kind: Kind
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    route: str | None = None

    def allows(self, roles: frozenset[str], permissions: frozenset[str]) -> bool:
        """Whether a *verified* identity with these roles and permissions may pass."""
        if self.kind != "roles":
            return True
        return not self.roles.isdisjoint(roles) or not self.permissions.isdisjoint(permissions)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "roles": sorted(self.roles),
            "permissions": sorted(self.permissions),
        }


@dataclass(frozen=True, slots=True)
class Route:
    """One compiled route: which methods, which paths, and the requirement."""

    methods: frozenset[str] | None
    glob: str
    matches: Callable[[str], bool]
    requirement: RouteRequirement

    def as_dict(self) -> dict[str, object]:
        return {
            "route": self.requirement.route,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "path": self.glob,
            "regex": f"^{glob_regex(self.glob, open_tail=True)}$",
            **self.requirement.as_dict(),
        }


def parse_route(
    key: str,
    value: object,
    path: str,
    *,
    roles: Collection[str],
    permissions: Collection[str],
) -> Route:
    """Compile one ``routes`` entry; ``path`` is its key path for errors."""
    methods: frozenset[str] | None = None
    glob = key
    if not key.startswith("/"):
        head, _, glob = key.partition(" ")
        names = head.split(",")
        for name in names:
            if not _METHOD.fullmatch(name):
                raise ConfigurationError(
                    path,
                    "expected '/path' or 'METHOD /path' (methods upper-case, "
                    "several joined by ',': 'GET,HEAD /reports/*')",
                )
        methods = frozenset(names)
    check_path_glob(glob, path)
    requirement = parse_requirement(value, path, route=key, roles=roles, permissions=permissions)
    return Route(methods, glob, compile_glob(glob, open_tail=True), requirement)


def check_path_glob(glob: str, path: str) -> None:
    """Refuse a path glob that could never match a normalized request path."""
    if not glob.startswith("/"):
        raise ConfigurationError(path, "a route's path must start with '/'")
    if any(segment in (".", "..") for segment in glob.split("/")):
        raise ConfigurationError(path, "'.' and '..' segments never match (paths are normalized)")


def parse_requirement(
    value: object,
    path: str,
    *,
    route: str | None,
    roles: Collection[str],
    permissions: Collection[str],
) -> RouteRequirement:
    """``"public"``, ``"authenticated"`` or a list of role/permission names."""
    if value == "public":
        return RouteRequirement("public", route=route)
    if value == "authenticated":
        return RouteRequirement("authenticated", route=route)
    if isinstance(value, str) or not is_array(value):
        raise ConfigurationError(
            path, "expected 'public', 'authenticated' or a list of roles and permissions"
        )
    names = value
    if not names:
        raise ConfigurationError(path, "an empty list would let no one in; name a role")
    wanted_roles: set[str] = set()
    wanted_permissions: set[str] = set()
    for index, name in enumerate(names):
        item_path = f"{path}[{index}]"
        if not isinstance(name, str):
            raise ConfigurationError(item_path, "expected a role or permission name")
        if name in RESERVED_NAMES:
            raise ConfigurationError(item_path, f"write {name!r} as the whole value, not in a list")
        known = False
        if name in roles:
            wanted_roles.add(name)
            known = True
        if name in permissions:
            wanted_permissions.add(name)
            known = True
        if not known:
            raise ConfigurationError(item_path, f"{name!r} is neither a role nor a permission")
    return RouteRequirement(
        "roles", frozenset(wanted_roles), frozenset(wanted_permissions), route=route
    )


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, so ``/public/../admin`` is judged as ``/admin``; ``""`` is ``/``."""
    if "/." not in path and not path.startswith("."):
        return path or "/"
    rest = path
    output: list[str] = []
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith(("./", "/./")):
            rest = rest[2:]
        elif rest == "/.":
            rest = "/"
        elif rest.startswith("/../"):
            rest = rest[3:]
            if output:
                output.pop()
        elif rest == "/..":
            rest = "/"
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            end = rest.find("/", 1)
            segment = rest if end < 0 else rest[:end]
            output.append(segment)
            rest = rest[len(segment) :]
    return "".join(output) or "/"
