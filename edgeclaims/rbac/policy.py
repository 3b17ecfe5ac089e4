"""The compiled policy: claims → roles → permissions, and route → requirement.

:func:`compile_policy` reads the three tables once and builds a
:class:`Policy` whose per-request methods only look things up. Rules are
numbered into bits of one integer: a request resolves each distinct claim
path once, sets the bit of every rule a value matches (literal patterns by
dictionary look-up, globs by a compiled matcher), and each role then costs
two integer tests. ``includes`` is expanded at start-up into one mask per
role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import repeat
from operator import or_
from typing import Literal

from edgeclaims.errors import ConfigurationError
from edgeclaims.rbac.explain import Explanation, explain_roles
from edgeclaims.rbac.matching import (
    ABSENT,
    compile_glob,
    is_array,
    is_object,
    leaf_values,
    scalar_text,
)
from edgeclaims.rbac.routes import (
    Route,
    RouteRequirement,
    check_path_glob,
    parse_requirement,
    parse_route,
    remove_dot_segments,
)
from edgeclaims.rbac.rules import (
    RESERVED_NAMES,
    Authenticated,
    ClaimRule,
    Condition,
    Group,
    RoleSpec,
    include_closure,
    parse_roles,
)
from edgeclaims.settings import Table

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "Decision", "Policy", "compile_policy"]

EXPORT_FORMAT = "edgeclaims-policy"
#: Bumped whenever the document or its meaning changes; evaluators refuse other versions.
EXPORT_VERSION = 1

# The memos (claim text → matched rules per claim path, matched rules →
# roles, roles → permissions) hold what real traffic repeats: group names,
# role sets. The cap bounds memory whatever claims arrive; past it, results
# are computed and not kept.
_MEMO_LIMIT = 2048

Outcome = Literal["allow", "unauthenticated", "forbidden"]
_SCALARS = frozenset({bool, int, float, type(None)})
# A distinct claim path, as Policy._match walks it: (first claim name, the
# rest of the path, memo, learns, globs). The memo maps a value's text to the
# bits of the rules that text satisfies; it starts with the literal patterns.
# `learns`: texts outside the memo may still match (a glob, or a pattern a
# boolean, number or null spells), so they are worked out once and remembered.
_Scan = tuple[
    str, tuple[str, ...], dict[str, int], bool, tuple[tuple[Callable[[str], bool], int], ...]
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The whole verdict on one request, as the edge's evaluator also reaches it.

    ``unauthenticated`` (401): no identity where one is needed.
    ``forbidden`` (403): an identity without any of the required roles or
    permissions. ``route`` is the pattern that decided, None for the default.
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
    return Policy(specs, granted, compiled, tuple(public), default)


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
    """Roles, permissions and routes, compiled once; immutable.

    ``roles_for`` and ``requirement_for`` are on every request's path and
    only evaluate what ``compile_policy`` prepared.
    """

    __slots__ = (
        "_closures",
        "_default",
        "_groups",
        "_names",
        "_permission_memo",
        "_permissions",
        "_public",
        "_read_claims",
        "_role_memo",
        "_routes",
        "_scans",
        "_specs",
        "_tests",
        "permission_names",
        "role_names",
    )

    #: Every configured role, in declaration order.
    role_names: tuple[str, ...]
    #: Every permission some role carries.
    permission_names: frozenset[str]
    _specs: dict[str, RoleSpec]
    _closures: dict[str, tuple[str, ...]]
    _permissions: dict[str, frozenset[str]]
    _names: tuple[str, ...]
    _tests: tuple[tuple[int, int, int], ...]
    _scans: tuple[_Scan, ...]
    _groups: tuple[tuple[int, bool, int], ...]
    _read_claims: frozenset[str]
    _routes: tuple[Route, ...]
    _public: tuple[Route, ...]
    _default: RouteRequirement
    _role_memo: dict[int, frozenset[str]]
    _permission_memo: dict[frozenset[str], frozenset[str]]

    def __init__(
        self,
        specs: Mapping[str, RoleSpec],
        permissions: Mapping[str, frozenset[str]],
        routes: tuple[Route, ...],
        public: tuple[Route, ...],
        default: RouteRequirement,
    ) -> None:
        # Use compile_policy(); this constructor trusts its arguments.
        setter = object.__setattr__
        closures = include_closure(specs)
        names = tuple(specs)
        index = {name: i for i, name in enumerate(names)}
        bits = _RuleBits()
        tests = []
        for name, spec in specs.items():
            if not spec.has_rules:
                continue  # granted only through includes
            grant = sum(1 << index[r] for r in closures[name])
            any_mask = bits.mask(spec.any) if spec.any is not None else 0
            all_mask = bits.mask(spec.all) if spec.all is not None else 0
            tests.append((any_mask, all_mask, grant))
        setter(self, "role_names", names)
        setter(self, "permission_names", frozenset(p for s in permissions.values() for p in s))
        setter(self, "_specs", dict(specs))
        setter(self, "_closures", closures)
        setter(self, "_permissions", dict(permissions))
        setter(self, "_names", names)
        setter(self, "_tests", tuple(tests))
        setter(self, "_scans", bits.scans())
        setter(self, "_groups", tuple(bits.groups))
        setter(self, "_read_claims", frozenset(path[0] for path in bits.paths))
        setter(self, "_routes", routes)
        setter(self, "_public", public)
        setter(self, "_default", default)
        setter(self, "_role_memo", {})
        setter(self, "_permission_memo", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Policy is immutable (cannot set {name})")

    def __repr__(self) -> str:
        return f"Policy(roles={len(self.role_names)}, routes={len(self._routes)})"

    # -- claims → roles → permissions ---------------------------------------------

    def roles_for(self, claims: Mapping[str, object]) -> frozenset[str]:
        """The roles a verified identity with these claims holds, expanded through includes.

        Never raises for any decoded JSON: values of unexpected types simply
        match nothing. ``authenticated`` rules always match here, since only
        verified identities reach this call.
        """
        matched = self._match(claims)
        # Keyed by the matched rules: the same rules always grant the same roles.
        memo: dict[int, frozenset[str]] = self._role_memo
        roles = memo.get(matched)
        if roles is None:
            granted = 0
            for any_mask, all_mask, grant in self._tests:
                if (not any_mask or matched & any_mask) and matched & all_mask == all_mask:
                    granted |= grant
            names = self._names
            roles = frozenset(names[i] for i in range(len(names)) if granted >> i & 1)
            if len(memo) < _MEMO_LIMIT:
                memo[matched] = roles
        return roles

    def permissions_for(self, roles: frozenset[str]) -> frozenset[str]:
        """Every permission of these roles and of the roles they include."""
        memo: dict[frozenset[str], frozenset[str]] = self._permission_memo
        found = memo.get(roles)
        if found is None:
            expanded = {r for role in roles if role in self._closures for r in self._closures[role]}
            found = frozenset(p for role in expanded for p in self._permissions.get(role, ()))
            if len(memo) < _MEMO_LIMIT:
                memo[frozenset(roles)] = found
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
            found.update(n for n in names if isinstance(n, str) and n in self._read_claims)
        if claims.get("hasgroups") is True and "groups" in self._read_claims:
            found.add("groups")
        return tuple(sorted(found))

    def _match(self, claims: Mapping[str, object]) -> int:
        """Bit 0 (authenticated) plus the bit of every rule and group the claims satisfy."""
        matched = 1
        if not is_object(claims):
            return matched
        get = claims.get
        for first, rest, memo, learns, globs in self._scans:
            value = get(first, ABSENT)
            if value is ABSENT:
                continue
            if rest:
                if len(rest) == 1 and type(value) is dict:
                    value = value.get(rest[0], ABSENT)  # the common case, inlined
                    if value is ABSENT:
                        continue
                else:
                    value = leaf_values(value, rest)
            # Fast paths for the usual shapes: one string, a list of strings.
            if type(value) is str:
                bits = memo.get(value)
                if bits is None:
                    bits = _learn(memo, value, globs) if learns else 0
                matched |= bits
                continue
            if type(value) is list:
                try:
                    # One look-up per value, all in C. A value never seen
                    # (KeyError) or an object among them (TypeError) takes the
                    # general path below.
                    if learns:
                        matched |= reduce(or_, map(memo.__getitem__, value), 0)
                    else:
                        matched |= reduce(or_, map(memo.get, value, repeat(0)), 0)
                    continue
                except (KeyError, TypeError):
                    pass
            leaves = (value,) if type(value) in _SCALARS or not is_array(value) else value
            for leaf in leaves:
                text = scalar_text(leaf)
                if text is not None:
                    bits = memo.get(text)
                    if bits is None:
                        bits = _learn(memo, text, globs) if learns else 0
                    matched |= bits
        for bit, is_any, mask in self._groups:
            if (matched & mask) if is_any else (matched & mask == mask):
                matched |= bit
        return matched

    # -- routes -----------------------------------------------------------------

    def requirement_for(self, method: str, path: str) -> RouteRequirement:
        """The first route matching (method, path), else a public path, else the default.

        ``path`` is the percent-decoded path the application routes on; dot
        segments are removed first. Methods compare case-sensitively.
        """
        path = remove_dot_segments(path)
        for route in self._routes:
            if (route.methods is None or method in route.methods) and route.matches(path):
                return route.requirement
        for route in self._public:
            if route.matches(path):
                return route.requirement
        return self._default

    def decide(self, claims: Mapping[str, object] | None, method: str, path: str) -> Decision:
        """The route decision for a request; ``claims`` None means anonymous."""
        requirement = self.requirement_for(method, path)
        if claims is None:
            outcome: Outcome = "allow" if requirement.kind == "public" else "unauthenticated"
            return Decision(outcome, frozenset(), frozenset(), requirement.route)
        roles = self.roles_for(claims)
        permissions = self.permissions_for(roles)
        outcome = "allow" if requirement.allows(roles, permissions) else "forbidden"
        return Decision(outcome, roles, permissions, requirement.route)

    # -- diagnostics and export ----------------------------------------------------

    def explain(self, claims: Mapping[str, object]) -> Explanation:
        """Role by role: granted or not, by which rule or include chain, and why not."""
        roles = self.roles_for(claims)
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
            "overage_claims": sorted(self._read_claims),
        }


def _conditions(items: tuple[Condition, ...] | None) -> list[dict[str, object]] | None:
    return None if items is None else [item.as_dict() for item in items]


class _RuleBits:
    """Numbers rules and groups into bits; collects what ``Policy._match`` scans.

    Bit 0 is ``authenticated``; identical rules share a bit; a group's bit
    comes after its members', so one pass in order settles nested groups.
    """

    def __init__(self) -> None:
        self.next = 1
        self.rules: dict[ClaimRule, int] = {}
        self.paths: dict[tuple[str, ...], list[ClaimRule]] = {}
        self.groups: list[tuple[int, bool, int]] = []

    def mask(self, items: tuple[Condition, ...]) -> int:
        return sum({self.bit(item) for item in items})

    def bit(self, condition: Condition) -> int:
        if isinstance(condition, Authenticated):
            return 1
        if isinstance(condition, Group):
            members = self.mask(condition.items)
            bit = self._new()
            self.groups.append((bit, condition.mode == "any", members))
            return bit
        if condition not in self.rules:
            self.rules[condition] = self._new()
            self.paths.setdefault(condition.path, []).append(condition)
        return self.rules[condition]

    def _new(self) -> int:
        bit = 1 << self.next
        self.next += 1
        return bit

    def scans(self) -> tuple[_Scan, ...]:
        scans = []
        for path, rules in self.paths.items():
            globs = tuple(
                (compile_glob(rule.pattern), self.rules[rule])
                for rule in rules
                if rule.op == "glob"
            )
            memo: dict[str, int] = {}
            for rule in rules:
                if rule.op == "equals":
                    text = rule.pattern
                    memo[text] = memo.get(text, 0) | self.rules[rule] | _glob_bits(text, globs)
            learns = bool(globs) or any(_scalar_spelling(text) for text in memo)
            scans.append((path[0], path[1:], memo, learns, globs))
        return tuple(scans)


def _scalar_spelling(pattern: str) -> bool:
    """Whether some non-string JSON value has this text (``true``, ``null``, ``1e+21``)."""
    if pattern in ("true", "false", "null", "NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(pattern)
    except ValueError:
        return False
    return True


def _glob_bits(text: str, globs: tuple[tuple[Callable[[str], bool], int], ...]) -> int:
    found = 0
    for match, bit in globs:
        if match(text):
            found |= bit
    return found


def _learn(
    memo: dict[str, int], text: str, globs: tuple[tuple[Callable[[str], bool], int], ...]
) -> int:
    """The bits of a text not in the memo, remembered while the memo has room."""
    bits = _glob_bits(text, globs)
    if len(memo) < _MEMO_LIMIT:
        memo[text] = bits
    return bits
