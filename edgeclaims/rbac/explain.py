"""Why a set of claims got the roles it got: ``Policy.explain()`` and ``edgeclaims roles``.

This is the slow, talkative twin of ``Policy.roles_for``: it walks the
configured rules one by one and records, for each, whether it matched and,
when not, why (claim absent, withheld by the identity provider, no value
matching). It never quotes claim values — they may be personal data and
explanations end up in tickets and logs — only names, counts and kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeclaims.rbac.matching import compile_glob, leaf_values, scalar_text
from edgeclaims.rbac.rules import Authenticated, ClaimRule, Condition, Group, RoleSpec

__all__ = ["Explanation", "RoleExplanation", "RuleResult", "explain_roles"]


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule or group and whether it matched; ``reason`` says why not."""

    rule: str
    matched: bool
    reason: str = ""
    items: tuple[RuleResult, ...] = ()

    def as_dict(self) -> dict[str, object]:
        document: dict[str, object] = {
            "rule": self.rule,
            "matched": self.matched,
            "reason": self.reason,
        }
        if self.items:
            document["items"] = [item.as_dict() for item in self.items]
        return document

    def lines(self, depth: int, *, heading: bool = False) -> list[str]:
        """Indented text; a ``heading`` (a role's own any/all) leaves the reason to the role."""
        mark = "✓" if self.matched else "✗"
        why = f" — {self.reason}" if self.reason and not heading else ""
        own = f"{'  ' * depth}{mark} {self.rule}{':' if heading else ''}{why}"
        return [own, *(line for item in self.items for line in item.lines(depth + 1))]


@dataclass(frozen=True, slots=True)
class RoleExplanation:
    """One role: granted or not, by its own rules (``matched``) or ``via`` others."""

    role: str
    granted: bool
    #: Its own rules matched.
    matched: bool
    #: The include chain that grants it, from a role whose rules matched; empty if none.
    via: tuple[str, ...]
    reason: str
    #: Its ``any`` and/or ``all`` group, with every rule's result.
    rules: tuple[RuleResult, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "granted": self.granted,
            "matched": self.matched,
            "via": list(self.via),
            "reason": self.reason,
            "rules": [rule.as_dict() for rule in self.rules],
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which roles and permissions some claims get, and why, role by role."""

    roles: frozenset[str]
    permissions: frozenset[str]
    details: tuple[RoleExplanation, ...]
    #: Claims the identity provider left out (Entra ID overage) that rules read.
    overage: tuple[str, ...]

    def format(self) -> str:
        """Readable text, as ``edgeclaims roles`` prints it."""
        lines = [
            f"roles: {', '.join(sorted(self.roles)) or '(none)'}",
            f"permissions: {', '.join(sorted(self.permissions)) or '(none)'}",
        ]
        lines += [f"warning: {overage_warning(name)}" for name in self.overage]
        lines.append("")
        for detail in self.details:
            mark = "✓" if detail.granted else "✗"
            lines.append(f"{mark} {detail.role} — {detail.reason}")
            lines += [line for rule in detail.rules for line in rule.lines(2, heading=True)]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    def as_dict(self) -> dict[str, object]:
        """A JSON-able document (``edgeclaims roles --json``)."""
        return {
            "roles": sorted(self.roles),
            "permissions": sorted(self.permissions),
            "overage": list(self.overage),
            "details": [detail.as_dict() for detail in self.details],
        }


def overage_warning(claim: str) -> str:
    """The sentence for a claim the identity provider withheld."""
    return (
        f"claim {claim!r} was left out by the identity provider (too many values: "
        "Entra ID group overage, see _claim_names); rules reading it cannot match"
    )


def explain_roles(
    specs: Mapping[str, RoleSpec],
    closures: Mapping[str, tuple[str, ...]],
    claims: Mapping[str, object],
    *,
    roles: frozenset[str],
    permissions: frozenset[str],
    overage: tuple[str, ...],
) -> Explanation:
    """Walk every role's rules against ``claims``; ``roles`` is what ``roles_for`` granted."""
    withheld = frozenset(overage)
    results: dict[str, tuple[bool, tuple[RuleResult, ...]]] = {}
    for name, spec in specs.items():
        groups = []
        if spec.any is not None:
            groups.append(_group(Group("any", spec.any), claims, withheld, "any"))
        if spec.all is not None:
            groups.append(_group(Group("all", spec.all), claims, withheld, "all"))
        results[name] = (bool(groups) and all(g.matched for g in groups), tuple(groups))
    matched = [name for name, (ok, _) in results.items() if ok]
    details = []
    for name, spec in specs.items():
        ok, rules = results[name]
        via = _shortest_chain(name, matched, specs, closures)
        details.append(
            RoleExplanation(
                role=name,
                granted=name in roles,
                matched=ok,
                via=via,
                reason=_role_reason(spec, ok, via, rules),
                rules=rules,
            )
        )
    return Explanation(roles, permissions, tuple(details), overage)


def _role_reason(
    spec: RoleSpec, matched: bool, via: tuple[str, ...], rules: tuple[RuleResult, ...]
) -> str:
    chain = f"via {' → '.join(via)} (includes)" if via else ""
    if matched:
        hits = [item.rule for group in rules for item in group.items if item.matched]
        granted = f"granted by {', '.join(hits)}"
        return f"{granted}; also {chain}" if chain else granted
    if chain:
        return f"granted {chain}"
    if not spec.has_rules:
        return "not granted: it has no rules; only another role's includes can grant it"
    failed = [group.reason for group in rules if not group.matched]
    return "not granted: " + "; ".join(failed)


def _group(
    group: Group, claims: Mapping[str, object], withheld: frozenset[str], label: str = ""
) -> RuleResult:
    items = tuple(_condition(item, claims, withheld) for item in group.items)
    misses = sum(not item.matched for item in items)
    count = len(items)
    if group.mode == "any":
        ok = misses < count
        reason = "" if ok else f"none of its {count} 'any' rules matched"
    else:
        ok = misses == 0
        reason = "" if ok else f"{misses} of its {count} 'all' rules did not match"
    if count == 1 and not ok:
        reason = f"its one '{group.mode}' rule did not match"
    return RuleResult(label or group.describe(), ok, reason, items)


def _condition(
    condition: Condition, claims: Mapping[str, object], withheld: frozenset[str]
) -> RuleResult:
    if isinstance(condition, Authenticated):
        return RuleResult("authenticated", True)
    if isinstance(condition, Group):
        return _group(condition, claims, withheld)
    return _claim_rule(condition, claims, withheld)


def _claim_rule(
    rule: ClaimRule, claims: Mapping[str, object], withheld: frozenset[str]
) -> RuleResult:
    values = leaf_values(claims, rule.path)
    texts = [text for text in map(scalar_text, values) if text is not None]
    match = compile_glob(rule.pattern) if rule.op == "glob" else rule.pattern.__eq__
    if any(match(text) for text in texts):
        return RuleResult(rule.describe(), True)
    if rule.path[0] in withheld:
        reason = "claim left out by the identity provider (overage)"
    elif not values:
        reason = "claim absent"
    elif not texts:
        reason = "claim holds only objects or arrays, which never match"
    else:
        count = len(texts)
        reason = f"no value matches ({count} value{'s' if count != 1 else ''})"
    return RuleResult(rule.describe(), False, reason)


def _shortest_chain(
    name: str,
    matched: list[str],
    specs: Mapping[str, RoleSpec],
    closures: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...]:
    """The shortest include chain from another role whose rules matched to ``name``."""
    starts = [start for start in matched if start != name and name in closures[start]]
    if not starts:
        return ()
    # Breadth-first from every start at once; the hierarchy is small and acyclic.
    frontier: list[tuple[str, ...]] = [(start,) for start in starts]
    while frontier:
        following: list[tuple[str, ...]] = []
        for chain in frontier:
            for included in specs[chain[-1]].includes:
                if included == name:
                    return chain
                following.append((*chain, included))
        frontier = following
    return ()  # unreachable: every start's closure holds name
