"""Reading ``[edgeclaims.roles]``: rules, any/all groups, ``includes`` and its hierarchy.

This module turns the configuration into a small tree (:class:`RoleSpec`,
:class:`Group`, :class:`ClaimRule`) and refuses every mistake with the key
path that holds it. Evaluation lives elsewhere (``policy``): this tree is
only read at start-up, by the compiler, ``explain()`` and ``export()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError
from edgeclaims.rbac.matching import glob_regex, has_wildcard, is_array, scalar_text

__all__ = [
    "RESERVED_NAMES",
    "Authenticated",
    "ClaimRule",
    "Condition",
    "Group",
    "RoleSpec",
    "include_closure",
    "parse_roles",
]

#: Words with a meaning of their own in rules and routes; no role may take them.
RESERVED_NAMES = frozenset({"authenticated", "public"})


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """One comparison: the claim at ``path`` equals (or globs) ``pattern``."""

    path: tuple[str, ...]
    op: Literal["equals", "glob"]
    pattern: str

    def describe(self) -> str:
        """The rule as a user would write it."""
        plain = all("." not in s and "=" not in s for s in self.path)
        if plain and (self.op == "glob" or not has_wildcard(self.pattern)):
            return f"{'.'.join(self.path)}={self.pattern}"
        claim = json.dumps(list(self.path), ensure_ascii=False)
        return f"{claim} {self.op} {json.dumps(self.pattern, ensure_ascii=False)}"

    def as_dict(self) -> dict[str, object]:
        document: dict[str, object] = {"claim": list(self.path), self.op: self.pattern}
        if self.op == "glob":
            document["regex"] = f"^{glob_regex(self.pattern)}$"
        return document


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Matches any verified identity."""

    def describe(self) -> str:
        return "authenticated"

    def as_dict(self) -> dict[str, object]:
        return {"authenticated": True}


@dataclass(frozen=True, slots=True)
class Group:
    """Any (at least one) or all of some conditions."""

    mode: Literal["any", "all"]
    items: tuple[Condition, ...]

    def describe(self) -> str:
        return f"{self.mode}[{', '.join(item.describe() for item in self.items)}]"

    def as_dict(self) -> dict[str, object]:
        return {self.mode: [item.as_dict() for item in self.items]}


Condition = ClaimRule | Authenticated | Group


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """One role as configured.

    The role is granted directly when its ``any`` list (if given) has a match
    and every condition of its ``all`` list (if given) matches; with
    neither it is granted only through another role's ``includes``.
    """

    name: str
    any: tuple[Condition, ...] | None
    all: tuple[Condition, ...] | None
    includes: tuple[str, ...]
    #: Key path of each ``includes`` entry, to name the one that closes a cycle.
    include_paths: tuple[str, ...]

    @property
    def has_rules(self) -> bool:
        return self.any is not None or self.all is not None


def parse_roles(roles: Table) -> dict[str, RoleSpec]:
    """Every role of ``[edgeclaims.roles]``, in declaration order; includes checked."""
    specs: dict[str, RoleSpec] = {}
    names = roles.keys()
    for name in names:
        path = roles.child_path(name)
        if not name or name != name.strip():
            raise ConfigurationError(path, "a role name must be non-empty, without outer spaces")
        if name in RESERVED_NAMES:
            raise ConfigurationError(path, f"{name!r} is reserved and cannot name a role")
        specs[name] = _parse_role(name, roles.raw(name), path)
    roles.refuse_unknown()
    for spec in specs.values():
        for included, path in zip(spec.includes, spec.include_paths, strict=True):
            if included not in specs:
                raise ConfigurationError(path, f"unknown role {included!r}")
    _refuse_cycles(specs)
    return specs


def _parse_role(name: str, value: object, path: str) -> RoleSpec:
    if isinstance(value, Mapping) and "claim" not in value:
        table = Table(value, path)
        any_ = _optional_items(table, "any")
        all_ = _optional_items(table, "all")
        includes = table.str_list("includes", ())
        table.refuse_unknown()
        include_paths = tuple(f"{table.child_path('includes')}[{i}]" for i in range(len(includes)))
        return RoleSpec(name, any_, all_, includes, include_paths)
    if isinstance(value, str | Mapping):
        # One rule given on its own: the same as a one-item list.
        return RoleSpec(name, (_parse_item(value, path),), None, (), ())
    if is_array(value):
        items = _parse_items(value, path)
        # `role = []`: no rules of its own, granted only through includes.
        return RoleSpec(name, items or None, None, (), ())
    raise ConfigurationError(path, "expected a list of rules, one rule, or a table")


def _optional_items(table: Table, key: str) -> tuple[Condition, ...] | None:
    return _items(table, key) if key in table else None


def _items(table: Table, key: str) -> tuple[Condition, ...]:
    items = _parse_items(table.raw(key), table.child_path(key))
    if not items:
        # An empty `all` is vacuously true: it would grant the role to everyone.
        raise table.error(key, "must not be empty (leave it out, or use 'authenticated')")
    return items


def _parse_items(value: object, path: str) -> tuple[Condition, ...]:
    if not is_array(value):
        raise ConfigurationError(path, "expected a list of rules")
    return tuple(_parse_item(item, f"{path}[{i}]") for i, item in enumerate(value))


def _parse_item(item: object, path: str) -> Condition:
    if isinstance(item, str):
        return _parse_shorthand(item, path)
    if isinstance(item, Mapping):
        if "claim" in item:
            return _parse_rule_table(Table(item, path))
        if "any" in item and "all" in item:
            raise ConfigurationError(path, "a group takes either 'any' or 'all', not both")
        if "any" in item or "all" in item:
            table = Table(item, path)
            mode: Literal["any", "all"] = "any" if "any" in item else "all"
            group = Group(mode, _items(table, mode))
            table.refuse_unknown()
            return group
        raise ConfigurationError(path, "a rule table needs 'claim' (or 'any'/'all' for a group)")
    raise ConfigurationError(path, "expected a rule ('claim.path=pattern') or a rule table")


def _parse_shorthand(text: str, path: str) -> Condition:
    if text == "authenticated":
        return Authenticated()
    claim, sep, pattern = text.partition("=")
    if not sep:
        raise ConfigurationError(path, "expected 'claim.path=pattern' or 'authenticated'")
    if claim != claim.strip() or pattern != pattern.strip():
        raise ConfigurationError(path, "no spaces around '=' (use the table form for such values)")
    if not pattern:
        raise ConfigurationError(path, 'empty pattern (use the table form: equals = "")')
    segments = tuple(claim.split("."))
    if not all(segments):
        raise ConfigurationError(
            path,
            "empty claim path or segment (claim names with dots "
            'need the table form: claim = ["a.b", "c"])',
        )
    return ClaimRule(segments, "glob" if has_wildcard(pattern) else "equals", pattern)


def _parse_rule_table(table: Table) -> ClaimRule:
    raw_claim = table.raw("claim")
    claim_path = table.child_path("claim")
    if isinstance(raw_claim, str):
        segments = tuple(raw_claim.split("."))
        if not all(segments):
            raise ConfigurationError(claim_path, "empty claim path or segment")
    elif is_array(raw_claim):
        segments = tuple(table.str_list("claim"))
        if not segments:
            raise ConfigurationError(claim_path, "empty claim path")
        for index, segment in enumerate(segments):
            if not segment:
                raise ConfigurationError(f"{claim_path}[{index}]", "empty claim name")
    else:
        raise ConfigurationError(claim_path, "expected a dotted string or a list of claim names")
    given = [op for op in ("equals", "glob") if op in table]
    if len(given) != 1:
        raise ConfigurationError(table.path, "needs exactly one of 'equals' or 'glob'")
    op: Literal["equals", "glob"] = "equals" if given[0] == "equals" else "glob"
    if op == "glob":
        pattern = table.str("glob")
    else:
        value = table.raw("equals")
        # A TOML boolean or number compares by its JSON text, like claims do.
        if value is None or not isinstance(value, str | bool | int | float):
            raise table.error("equals", "expected a string, a boolean or a number")
        pattern = scalar_text(value) or ""
    table.refuse_unknown()
    return ClaimRule(segments, op, pattern)


def _refuse_cycles(specs: Mapping[str, RoleSpec]) -> None:
    """Raise for the first ``includes`` cycle met, naming every role on it."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        trail.append(name)
        spec = specs[name]
        for included, path in zip(spec.includes, spec.include_paths, strict=True):
            if included in trail:
                cycle = [*trail[trail.index(included) :], included]
                raise ConfigurationError(path, "include cycle: " + " → ".join(cycle))
            if included not in done:
                visit(included, trail)
        trail.pop()
        done.add(name)

    for name in specs:
        if name not in done:
            visit(name, [])


def include_closure(specs: Mapping[str, RoleSpec]) -> dict[str, tuple[str, ...]]:
    """Each role with every role it grants, itself first, then in declaration order."""
    order = {name: index for index, name in enumerate(specs)}
    closures: dict[str, set[str]] = {}

    def reach(name: str) -> set[str]:
        if name not in closures:
            found = {name}
            for included in specs[name].includes:
                found |= reach(included)
            closures[name] = found
        return closures[name]

    return {name: (name, *sorted(reach(name) - {name}, key=order.__getitem__)) for name in specs}
