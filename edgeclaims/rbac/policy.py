"""The compiled policy: claims → roles → permissions, and route → requirement.

:func:`compile_policy` reads the three tables once and builds a
:class:`Policy` whose per-request methods only look things up. Rules are
numbered into bits of one integer. A request resolves each distinct claim
path once and looks each value's text up in that path's table (literal
patterns, plus every text a glob was once tried on, with the bits of the
rules it satisfies); each role then costs two integer tests, and
``includes`` was expanded at start-up into one mask per role. Memos keep
the role and permission sets that repeat from request to request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from edgeclaims.caches import BoundedCache
from edgeclaims.config_table import Table
from edgeclaims.errors import AmbiguousRequest, ConfigurationError
from edgeclaims.rbac.bits import RuleCompiler
from edgeclaims.rbac.matching import compile_glob, is_object
from edgeclaims.rbac.routes import (
    Route,
    RouteRequirement,
    ambiguity,
    check_path_glob,
    parse_requirement,
    parse_route,
)
from edgeclaims.rbac.rules import (
    RESERVED_NAMES,
    Condition,
    RoleSpec,
    include_closure,
    parse_roles,
)

if TYPE_CHECKING:
    from edgeclaims.rbac.explain import Explanation

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "Decision", "Grant", "Policy", "compile_policy"]

EXPORT_FORMAT = "edgeclaims-policy"
#: Bumped whenever the document or its meaning changes; evaluators refuse other versions.
#: 2: requests with no single reading are refused; GET routes list HEAD too.
EXPORT_VERSION = 2

#: Entries of each role cache (``role_cache_size``): distinct role sets and claim texts.
DEFAULT_ROLE_CACHE_SIZE = 2048

Outcome = Literal["allow", "unauthenticated", "forbidden", "ambiguous_request"]


class Grant(NamedTuple):
    """What a verified identity holds, and whether the route's requirement is met."""

    roles: frozenset[str]
    permissions: frozenset[str]
    allowed: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """The whole verdict on one request, as the edge's evaluator also reaches it.

    ``unauthenticated`` (401): no identity where one is needed.
    ``forbidden`` (403): an identity without any of the required roles or
    permissions. ``ambiguous_request`` (400): the path or method has no
    single reading (:func:`~edgeclaims.rbac.routes.ambiguity`), whoever asks.
    ``route`` is the pattern that decided, None for the default or a refusal.
    """

    outcome: Outcome
    roles: frozenset[str]
    permissions: frozenset[str]
    route: str | None


def compile_policy(
    roles: Table,
    permissions: Table,
    routes: Table,
    *,
    default_route: object,
    default_route_path: str = "default_route",
    public_paths: Sequence[str] = (),
    cache_size: int = DEFAULT_ROLE_CACHE_SIZE,
) -> Policy:
    """Read ``roles``, ``permissions`` and ``routes`` and compile them, once, at start-up.

    Raises ConfigurationError, naming the key path, for any mistake: bad rule
    syntax, an unknown role in ``includes`` or ``permissions``, an include
    cycle, a route name that is neither a role nor a permission, a route
    value or pattern of the wrong shape.
    """
    specs = parse_roles(roles)
    granted = _parse_permissions(permissions, specs)
    known = frozenset(p for names in granted.values() for p in names)
    keys = routes.keys()  # in order: the first matching route wins
    compiled = tuple(
        parse_route(key, routes.raw(key), routes.child_path(key), roles=specs, permissions=known)
        for key in keys
    )
    routes.refuse_unknown()
    public = []
    for index, glob in enumerate(public_paths):
        check_path_glob(glob, f"public_paths[{index}]")
        requirement = RouteRequirement("public", route=glob)
        public.append(Route(None, glob, compile_glob(glob, open_tail=True), requirement))
    default = parse_requirement(
        default_route, default_route_path, route=None, roles=specs, permissions=known
    )
    return Policy(specs, granted, compiled, tuple(public), default, cache_size=cache_size)


def _parse_permissions(table: Table, specs: Mapping[str, RoleSpec]) -> dict[str, frozenset[str]]:
    granted: dict[str, frozenset[str]] = {}
    roles = table.keys()
    for role in roles:
        if role not in specs:
            raise table.error(role, f"unknown role {role!r} (not in [edgeclaims.roles])")
        names = table.str_list(role)
        for index, name in enumerate(names):
            if not name or name in RESERVED_NAMES:
                raise ConfigurationError(
                    f"{table.child_path(role)}[{index}]",
                    "a permission name must be non-empty and not 'public' or 'authenticated'",
                )
        granted[role] = frozenset(names)
    table.refuse_unknown()
    return granted


class Policy:
    """Roles, permissions and routes, compiled once by :func:`compile_policy`.

    ``roles_for`` and ``requirement_for`` are on every request's path and
    only evaluate what was prepared here. Roles and permissions found for a
    set of matched rules are kept in bounded caches (``role_cache_size``).
    """

    __slots__ = (
        "_closures",
        "_default",
        "_expanded",
        "_matcher",
        "_permission_cache",
        "_permissions",
        "_public",
        "_role_by_bit",
        "_role_cache",
        "_routes",
        "_specs",
        "_tests",
        "cache_size",
        "permission_names",
        "role_name_set",
        "role_names",
    )

    def __init__(
        self,
        specs: Mapping[str, RoleSpec],
        permissions: Mapping[str, frozenset[str]],
        routes: tuple[Route, ...],
        public: tuple[Route, ...],
        default: RouteRequirement,
        *,
        cache_size: int = DEFAULT_ROLE_CACHE_SIZE,
    ) -> None:
        # Use compile_policy(); this constructor trusts its arguments.
        closures = include_closure(specs)
        names = tuple(specs)
        index = {name: i for i, name in enumerate(names)}
        bits = RuleCompiler()
        tests = []
        for name, spec in specs.items():
            if not spec.has_rules:
                continue  # granted only through includes
            grant = sum(1 << index[r] for r in closures[name])
            any_mask = bits.mask(spec.any) if spec.any is not None else 0
            all_mask = bits.mask(spec.all) if spec.all is not None else 0
            tests.append((any_mask, all_mask, grant))
        #: Every configured role, in declaration order.
        self.role_names: tuple[str, ...] = names
        #: The same, as a set (for membership checks).
        self.role_name_set = frozenset(names)
        #: Every permission some role carries.
        self.permission_names = frozenset(p for s in permissions.values() for p in s)
        self.cache_size = cache_size
        self._specs = dict(specs)
        self._closures = closures
        self._permissions = dict(permissions)
        self._role_by_bit = {1 << i: name for i, name in enumerate(names)}
        # Each role's permissions together with those of every role it includes.
        self._expanded = {
            name: frozenset(p for r in closures[name] for p in permissions.get(r, ()))
            for name in names
        }
        self._tests = tuple(tests)
        self._matcher = bits.build(cache_size)
        self._routes = routes
        self._public = public
        self._default = default
        # Keyed by matched rules and by role sets: what traffic repeats.
        self._role_cache: BoundedCache[int, frozenset[str]] = BoundedCache(cache_size)
        self._permission_cache: BoundedCache[frozenset[str], frozenset[str]] = BoundedCache(
            cache_size
        )

    def __repr__(self) -> str:
        return f"Policy(roles={len(self.role_names)}, routes={len(self._routes)})"

    # -- claims → roles → permissions ---------------------------------------------

    def roles_for(self, claims: Mapping[str, object]) -> frozenset[str]:
        """The roles a verified identity with these claims holds, expanded through includes.

        Never raises for any decoded JSON: values of unexpected types simply
        match nothing. ``authenticated`` rules always match here, since only
        verified identities reach this call.
        """
        matched = self._matcher.match(claims)
        # Keyed by the matched rules: the same rules always grant the same roles.
        roles = self._role_cache.get(matched)
        if roles is None:
            granted = 0
            for any_mask, all_mask, grant in self._tests:
                if (not any_mask or matched & any_mask) and matched & all_mask == all_mask:
                    granted |= grant
            by_bit = self._role_by_bit
            found = []
            while granted:
                lowest = granted & -granted
                found.append(by_bit[lowest])
                granted ^= lowest
            roles = frozenset(found)
            self._role_cache.put(matched, roles)
        return roles

    def permissions_for(self, roles: frozenset[str]) -> frozenset[str]:
        """Every permission of these roles and of the roles they include."""
        found = self._permission_cache.get(roles)
        if found is None:
            expanded = self._expanded
            found = frozenset(p for role in roles if role in expanded for p in expanded[role])
            self._permission_cache.put(frozenset(roles), found)
        return found

    def overage(self, claims: Mapping[str, object]) -> tuple[str, ...]:
        """Claims that rules read but the identity provider left out (Entra ID overage).

        With too many groups, Entra ID sends ``_claim_names: {"groups": …}``
        (and a ``_claim_sources`` URL) instead of ``groups``, or, in the
        implicit flow, ``hasgroups: true``. Roles depending on those claims
        are then not granted; the caller should say so, not stay silent.
        """
        if not is_object(claims) or ("_claim_names" not in claims and "hasgroups" not in claims):
            return ()
        found: set[str] = set()
        names = claims.get("_claim_names")
        if is_object(names):
            found.update(n for n in names if isinstance(n, str) and n in self._matcher.claim_names)
        if claims.get("hasgroups") is True and "groups" in self._matcher.claim_names:
            found.add("groups")
        return tuple(sorted(found))

    # -- routes -----------------------------------------------------------------

    def requirement_for(
        self, method: str, path: str, mounted_path: str | None = None
    ) -> RouteRequirement:
        """The first route matching (method, path), else a public path, else the default.

        ``path`` is the whole percent-decoded path, as the client asked for
        it. ``mounted_path`` is what the framework routes on when the app is
        mounted under a prefix (``SCRIPT_NAME``, ASGI ``root_path``): a rule
        written against either reading applies, and when both match a rule
        the request must meet both — never the friendlier one. Raises
        :class:`~edgeclaims.errors.AmbiguousRequest` when the request has no
        single reading (docs/roles.md). An empty path is ``/``.
        """
        requirement = self._match(method, path or "/")
        if mounted_path is None:
            return requirement
        inner = self._match(method, mounted_path or "/")
        if inner.route is None:  # the default adds nothing to a rule, nor to itself
            return requirement
        if requirement.route is None:
            return inner
        return requirement.together_with(inner)

    def _match(self, method: str, path: str) -> RouteRequirement:
        problem = ambiguity(method, path)
        if problem is not None:
            raise problem
        for route in self._routes:
            if (route.methods is None or method in route.methods) and route.matches(path):
                return route.requirement
        for route in self._public:
            if route.matches(path):
                return route.requirement
        return self._default

    def with_public_routes(self, paths: Sequence[str]) -> Policy:
        """This policy with these exact paths public, ahead of every route.

        For an integration's own endpoints (FastAPI's ``/docs`` and
        ``/openapi.json``), never for configuration: rules stay in ``routes``.
        """
        added = []
        for path in paths:
            check_path_glob(path, path)
            requirement = RouteRequirement("public", route=path)
            added.append(Route(None, path, path.__eq__, requirement))
        return Policy(
            self._specs,
            self._permissions,
            (*added, *self._routes),
            self._public,
            self._default,
            cache_size=self.cache_size,
        )

    def grant(self, requirement: RouteRequirement, claims: Mapping[str, object]) -> Grant:
        """A verified identity's roles and permissions, and whether ``requirement`` lets it in.

        The one authorization step: the engine and :meth:`decide` both call it.
        """
        roles = self.roles_for(claims)
        permissions = self.permissions_for(roles)
        return Grant(roles, permissions, requirement.allows(roles, permissions))

    def decide(self, claims: Mapping[str, object] | None, method: str, path: str) -> Decision:
        """The route decision for a request; ``claims`` None means anonymous."""
        try:
            requirement = self.requirement_for(method, path)
        except AmbiguousRequest:
            return Decision("ambiguous_request", frozenset(), frozenset(), None)
        if claims is None:
            outcome: Outcome = "allow" if requirement.kind == "public" else "unauthenticated"
            return Decision(outcome, frozenset(), frozenset(), requirement.route)
        grant = self.grant(requirement, claims)
        outcome = "allow" if grant.allowed else "forbidden"
        return Decision(outcome, grant.roles, grant.permissions, requirement.route)

    # -- diagnostics and export ----------------------------------------------------

    def explain(self, claims: Mapping[str, object]) -> Explanation:
        """Role by role: granted or not, by which rule or include chain, and why not."""
        roles = self.roles_for(claims)
        from edgeclaims.rbac.explain import explain_roles  # the CLI's, never a request's

        return explain_roles(
            self._specs,
            self._closures,
            claims,
            roles=roles,
            permissions=self.permissions_for(roles),
            overage=self.overage(claims),
        )

    def export(self) -> dict[str, object]:
        """The policy as a versioned JSON document for the edge's evaluator (docs/roles.md)."""
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "roles": [
                {
                    "name": name,
                    "any": _conditions(spec.any),
                    "all": _conditions(spec.all),
                    "includes": list(spec.includes),
                    "grants": list(self._closures[name]),
                }
                for name, spec in self._specs.items()
            ],
            "permissions": [
                {"role": role, "permissions": sorted(names)}
                for role, names in self._permissions.items()
            ],
            "routes": [route.as_dict() for route in self._routes],
            "public_paths": [route.as_dict() for route in self._public],
            "default": self._default.as_dict(),
            "overage_claims": sorted(self._matcher.claim_names),
        }


def _conditions(items: tuple[Condition, ...] | None) -> list[dict[str, object]] | None:
    return None if items is None else [item.as_dict() for item in items]
