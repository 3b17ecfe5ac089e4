"""Claim rules as the bits of one integer: their compiler and the per-request matcher.

Every distinct rule gets a bit (bit 0 is ``authenticated``, always set for a
verified identity); a nested ``any``/``all`` group gets a bit after its
members'. :class:`RuleMatcher` resolves each distinct claim path once per
request and looks each value's text up in that path's table: the literal
patterns, plus every text a glob was once tried on, with the bits of the
rules it satisfies. Roles are then integer tests on the result (``policy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edgeclaims.rbac.matching import (
    ABSENT,
    compile_glob,
    is_array,
    is_object,
    leaf_values,
    scalar_text,
)
from edgeclaims.rbac.rules import Authenticated, ClaimRule, Condition, Group

__all__ = ["MEMO_LIMIT", "RuleCompiler", "RuleMatcher"]

# The memos (claim text → matched rules per claim path, here; matched rules →
# roles and roles → permissions in ``policy``) hold what traffic repeats:
# group names, role sets. The cap bounds memory whatever claims arrive; past
# it, results are computed and not kept.
MEMO_LIMIT = 2048

_SCALARS = frozenset({bool, int, float, type(None)})
_Globs = tuple[tuple[Callable[[str], bool], int], ...]
# One distinct claim path: (first claim name, the rest of the path, memo,
# learns, globs). The memo maps a value's text to the bits of the rules that
# text satisfies; it starts with the literal patterns. `learns`: texts outside
# the memo may still match (a glob, or a pattern a boolean, number or null
# spells), so they are worked out once and remembered.
_Scan = tuple[str, tuple[str, ...], dict[str, int], bool, _Globs]


class RuleMatcher:
    """Which rules some claims satisfy, as bits; built by :class:`RuleCompiler`."""

    __slots__ = ("claim_names", "groups", "scans")

    def __init__(self, scans: tuple[_Scan, ...], groups: tuple[tuple[int, bool, int], ...]) -> None:
        self.scans = scans
        #: (bit, is "any", members' bits) for each nested group, members first.
        self.groups = groups
        #: The top-level claims some rule reads.
        self.claim_names = frozenset(scan[0] for scan in scans)

    def match(self, claims: Mapping[str, object]) -> int:
        """Bit 0 (authenticated) plus the bit of every rule and group the claims satisfy."""
        matched = 1
        if not is_object(claims):
            return matched
        get = claims.get
        for first, rest, memo, learns, globs in self.scans:
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
                # One look-up per value. A text never seen (KeyError) or an
                # object among the values (TypeError) takes the general path.
                try:
                    if learns:
                        for item in value:
                            matched |= memo[item]
                    else:
                        for item in value:
                            matched |= memo.get(item, 0)
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
        for bit, is_any, mask in self.groups:
            if (matched & mask) if is_any else (matched & mask == mask):
                matched |= bit
        return matched


class RuleCompiler:
    """Numbers rules and groups into bits, then builds the :class:`RuleMatcher`.

    Identical rules share a bit; a group's bit comes after its members', so
    one pass in order settles nested groups.
    """

    def __init__(self) -> None:
        self.count = 1  # bit 0 is authenticated
        self.rules: dict[ClaimRule, int] = {}
        self.paths: dict[tuple[str, ...], list[ClaimRule]] = {}
        self.groups: list[tuple[int, bool, int]] = []

    def mask(self, items: tuple[Condition, ...]) -> int:
        """The bits of some conditions (numbering any new ones)."""
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
        bit = 1 << self.count
        self.count += 1
        return bit

    def build(self) -> RuleMatcher:
        """The matcher for every rule numbered so far."""
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
        return RuleMatcher(tuple(scans), tuple(self.groups))


def _scalar_spelling(pattern: str) -> bool:
    """Whether some non-string JSON value has this text (``true``, ``null``, ``1e+21``)."""
    if pattern in ("true", "false", "null", "NaN", "Infinity", "-Infinity"):
        return True
    try:
        float(pattern)
    except ValueError:
        return False
    return True


def _glob_bits(text: str, globs: _Globs) -> int:
    found = 0
    for match, bit in globs:
        if match(text):
            found |= bit
    return found


def _learn(memo: dict[str, int], text: str, globs: _Globs) -> int:
    """The bits of a text not in the memo, remembered while the memo has room."""
    bits = _glob_bits(text, globs)
    if len(memo) < MEMO_LIMIT:
        memo[text] = bits
    return bits
