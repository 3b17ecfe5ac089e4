"""Reading ``[edgeclaims.routes]`` and deciding which requirement a request meets.

A route key is an optional method list and a path glob (``"POST /orders/*"``,
``"GET /reports/*"``, ``"/admin/*"``); its value is ``"public"``,
``"authenticated"`` or a list of role and permission names (any of them).

A route rule protects every request the framework would dispatch to a view
under it, so requests are matched on the percent-decoded path the framework
routes on, as it is — and a request that has no single reading is refused
(:func:`ambiguity`) rather than matched by a friendlier one: no server or
framework removes dot segments or merges slashes the same way, and Django
and Werkzeug upper-case a method that Starlette does not. A rule naming
``GET`` also covers ``HEAD``, which every framework serves with the GET view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from edgeclaims.errors import AmbiguousRequest, ConfigurationError
from edgeclaims.rbac.matching import compile_glob, glob_regex, is_array
from edgeclaims.rbac.rules import RESERVED_NAMES

__all__ = ["Route", "RouteRequirement", "ambiguity", "parse_requirement", "parse_route"]

Kind = Literal["public", "authenticated", "roles"]

# RFC 9110 §5.6.2 token, upper-case only: methods are case-sensitive and a
# route written "post" would otherwise never match anything.
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Z-]+")


@dataclass(frozen=True, slots=True)
class RouteRequirement:
    """What a request must bring to reach a route.

    ``public``: anyone, even anonymous. ``authenticated``: any verified
    identity. ``roles``: a verified identity holding at least one of
    ``roles`` or at least one of ``permissions`` — and meeting ``also``,
    when a request read two ways matched two such rules. ``route`` is the
    pattern that matched (a ``routes`` key or a ``public_paths`` entry),
    None when the default applied.
    """

    kind: Kind
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    route: str | None = None
    also: RouteRequirement | None = None

    def allows(self, roles: frozenset[str], permissions: frozenset[str]) -> bool:
        """Whether a *verified* identity with these roles and permissions may pass."""
        if self.kind != "roles":
            return True
        if self.roles.isdisjoint(roles) and self.permissions.isdisjoint(permissions):
            return False
        return self.also is None or self.also.allows(roles, permissions)

    def together_with(self, other: RouteRequirement) -> RouteRequirement:
        """The requirement of meeting both: the stricter kind, both lists when both are roles."""
        order = ("public", "authenticated", "roles")
        if order.index(self.kind) != order.index(other.kind):
            return max(self, other, key=lambda r: order.index(r.kind))
        if self.kind != "roles" or self == other:
            return self
        return RouteRequirement(
            "roles", self.roles, self.permissions, route=f"{self.route} & {other.route}", also=other
        )

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
        # Every framework answers HEAD with the GET view (Django under
        # waitress even sends the body): a rule on GET must cover it.
        methods = frozenset(names) | ({"HEAD"} if "GET" in names else set())
    check_path_glob(glob, path)
    requirement = parse_requirement(value, path, route=key, roles=roles, permissions=permissions)
    return Route(methods, glob, compile_glob(glob, open_tail=True), requirement)


def check_path_glob(glob: str, path: str) -> None:
    """Refuse a path glob that could only match requests :func:`ambiguity` refuses."""
    if not glob.startswith("/"):
        raise ConfigurationError(path, "a route's path must start with '/'")
    if "//" in glob or "\\" in glob or any(s in (".", "..") for s in glob.split("/")):
        raise ConfigurationError(
            path,
            "empty, '.' and '..' segments and backslashes never match (such requests are refused)",
        )


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


def ambiguity(method: str, path: str) -> AmbiguousRequest | None:
    """Why a request has more than one reading; None when it has exactly one.

    ``path`` is the percent-decoded path the framework routes on. Refused:
    a method that is not an upper-case token (Django and Werkzeug upper-case
    ``post`` and run the POST view, uvicorn's h11 passes it on as is); a dot
    segment (``/admin/../healthz``: routers match it literally, ``<path:>``
    converters serve it, proxies and IIS remove it); an empty segment
    (``//admin``: Werkzeug merges slashes, others do not); a backslash (IIS
    and browsers read it as ``/``); U+FFFD, which is what a path that is not
    UTF-8 decodes to (Django re-encodes such bytes instead). Encoded
    spellings (``%2e%2e``, ``..%2f``) are caught because the path is decoded.
    """
    if not _METHOD.fullmatch(method):
        return AmbiguousRequest("the method is not an upper-case token")
    if not path.startswith("/"):
        return AmbiguousRequest("the path is not absolute")
    if "//" in path:
        return AmbiguousRequest("the path has an empty segment")
    if "\\" in path:
        return AmbiguousRequest("the path has a backslash")
    if "\ufffd" in path:
        return AmbiguousRequest("the path is not UTF-8")
    if "/." in path:
        for segment in path.split("/"):
            if segment in (".", ".."):
                return AmbiguousRequest("the path has a dot segment")
    return None
