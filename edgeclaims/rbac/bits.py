"""Claim rules as the bits of one integer: their compiler and the per-request matcher.

Every distinct rule gets a bit (bit 0 is ``authenticated``, always set for a
verified identity); a nested ``any``/``all`` group gets a bit after its
members'. :class:`RuleMatcher` resolves each distinct claim path once per
request and looks each value's text up in that path's table of literal
patterns; a text outside it is tried against the globs once and its bits
kept in a :class:`~edgeclaims.caches.BoundedCache` (``role_cache_size``).
Roles are then integer tests on the result (``policy``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edgeclaims.caches import BoundedCache
from edgeclaims.rbac.matching import (
    ABSENT,
    compile_glob,
    is_array,
    is_object,
    leaf_values,
    scalar_text,
)
from edgeclaims.rbac.rules import Authenticated, ClaimRule, Condition, Group

__all__ = ["RuleCompiler", "RuleMatcher"]

_SCALARS = frozenset({bool, int, float, type(None)})
_Globs = tuple[tuple[Callable[[str], bool], int], ...]
# One distinct claim path: (first claim name, the rest of the path, literals,
# learned, globs). `literals` maps each literal pattern's text to the bits of
# the rules it satisfies (fixed at start-up). `learned` is None when no text
# outside them can match; otherwise one may (a glob, or a pattern a boolean,
# number or null spells), so it is worked out once and kept there.
_Scan = tuple[str, tuple[str, ...], dict[str, int], BoundedCache[str, int] | None, _Globs]


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
        for first, rest, literals, learned, globs in self.scans:
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
                bits = literals.get(value)
                if bits is None:
                    bits = _learned(learned, value, globs) if learned is not None else 0
                matched |= bits
                continue
            if type(value) is list:
                # One look-up per value. A text never seen (KeyError) or an
                # object among the values (TypeError) takes the general path.
                try:
                    if learned is not None:
                        for item in value:
                            matched |= literals[item]
                    else:
                        for item in value:
                            matched |= literals.get(item, 0)
                    continue
                except (KeyError, TypeError):
                    pass
            leaves = (value,) if type(value) in _SCALARS or not is_array(value) else value
            for leaf in leaves:
                text = scalar_text(leaf)
                if text is not None:
                    bits = literals.get(text)
                    if bits is None:
                        bits = _learned(learned, text, globs) if learned is not None else 0
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

    def build(self, cache_size: int) -> RuleMatcher:
        """The matcher for every rule so far; ``cache_size`` bounds each learned table."""
        scans = []
        for path, rules in self.paths.items():
            globs = tuple(
                (compile_glob(rule.pattern), self.rules[rule])
                for rule in rules
                if rule.op == "glob"
            )
            literals: dict[str, int] = {}
            for rule in rules:
                if rule.op == "equals":
                    text = rule.pattern
                    literals[text] = (
                        literals.get(text, 0) | self.rules[rule] | _glob_bits(text, globs)
                    )
            learns = bool(globs) or any(_scalar_spelling(text) for text in literals)
            learned = BoundedCache[str, int](cache_size) if learns else None
            scans.append((path[0], path[1:], literals, learned, globs))
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


def _learned(learned: BoundedCache[str, int], text: str, globs: _Globs) -> int:
    """The bits of a text outside the literals: worked out once, then kept (bounded)."""
    bits = learned.get(text)
    if bits is None:
        bits = _glob_bits(text, globs)
        learned.put(text, bits)
    return bits
