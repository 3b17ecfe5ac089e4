"""Claims → roles → permissions, and the route policy; compiled once, evaluated per request.

The rule language is specified in spec/config.md; docs/roles.md is the user
guide and the evaluator contract for the edge. The points the spec leaves
open are settled here:

Rules
    A role is a list of rules (any of them grants it), one rule, or a table
    ``{any = [...], all = [...], includes = [...]}``; with both ``any`` and
    ``all``, both must hold. A rule is ``"claim.path=pattern"``,
    ``"authenticated"``, a table ``{claim = "a.b" | ["a.b", "c"],
    equals = ... | glob = "..."}``, or a nested group ``{any = [...]}`` /
    ``{all = [...]}``. An empty ``any``/``all`` is refused (an empty
    ``all`` would grant everyone); ``role = []`` has no rules and is granted
    only through another role's ``includes``.
Patterns
    In the shorthand, a pattern with ``*`` or ``?`` is a glob (whole value,
    case-sensitive, ``*`` any run of characters, ``?`` one); the table form
    with ``equals`` is always literal — that is how a ``*`` is matched
    literally. There are no escapes. ``equals`` takes a string, a boolean or
    a number (compared by its JSON text).
Values
    Strings compare as themselves; ``true``, ``false``, ``null`` and numbers
    by their JSON text as JavaScript writes it (``1.0`` → ``1``, so both
    evaluators agree); objects never match. A path step into an array takes
    the member of each element that is an object (one level); an array at
    the end matches when any element matches. Absent is not ``null``.
Routes
    Keys are ``"/glob"`` or ``"METHOD[,METHOD…] /glob"``, upper-case; a
    rule naming GET covers HEAD too. Path globs: ``*`` any run including
    ``/``, ``?`` one character, a trailing ``/*`` also matches the bare
    prefix (``/admin/*`` covers ``/admin``). Values: ``"public"``,
    ``"authenticated"`` or a list of names, any of which suffices; each name
    must be a role or a permission (checked at start-up, so typos fail
    loudly). Order: the first matching route, then ``public_paths``, then
    the default. Paths are the percent-decoded path the framework routes
    on, as it is; a request with no single reading (dot or empty segments,
    backslashes, a path that is not UTF-8, a method that is not upper-case)
    is refused by :func:`ambiguity` instead of being matched.
Overage
    Entra ID replaces too large a ``groups`` claim by ``_claim_names`` (or
    ``hasgroups: true``); :meth:`Policy.overage` names such claims when
    rules read them, and ``explain()`` reports them.
"""

from __future__ import annotations

from edgeclaims.rbac.policy import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    Decision,
    Policy,
    compile_policy,
)
from edgeclaims.rbac.routes import RouteRequirement, ambiguity


def __getattr__(name: str) -> object:
    # The explanation types are the CLI's: loaded when asked for, not on import.
    if name in ("Explanation", "RoleExplanation", "RuleResult"):
        from edgeclaims.rbac import explain

        return getattr(explain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "Decision",
    "Explanation",
    "Policy",
    "RoleExplanation",
    "RouteRequirement",
    "RuleResult",
    "ambiguity",
    "compile_policy",
]
