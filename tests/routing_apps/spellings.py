"""Spellings of request targets and methods under and around the protected prefixes.

Deterministic: the same list, in the same order, on every run. Each
spelling carries the classes of trick it uses (``Spelling.classes``), so a
report can say which kinds of request get through.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "ALL_METHODS",
    "CORE_METHODS",
    "PLAIN",
    "Spelling",
    "method_class",
    "socket_sample",
    "spellings",
]

#: Every method the differential sends; lower and mixed case are one-letter-different
#: spellings Werkzeug and Django upper-case before they dispatch.
ALL_METHODS = ("GET", "HEAD", "POST", "OPTIONS", "get", "post", "Post", "head")
#: The methods every spelling is sent with; ALL_METHODS go with a subset.
CORE_METHODS = ("GET", "POST", "HEAD")


@dataclass(frozen=True, order=True)
class Spelling:
    """A raw request target (path and optional query, as on the request line)."""

    target: str
    classes: tuple[str, ...] = ()
    #: Written out by hand (PLAIN and the hand-written lists), not generated.
    handwritten: bool = field(default=False, compare=False)


def method_class(method: str) -> str:
    if method.isupper():
        return f"method-{method}"
    if method.islower():
        return "method-lower-case"
    return "method-mixed-case"


#: Ways to write a ``..`` segment, and the class of each.
DOT_DOTS = {
    "..": "dot-segment",
    "%2e%2e": "encoded-dot",
    "%2E%2E": "encoded-dot",
    ".%2e": "encoded-dot",
    "%2e.": "encoded-dot",
    ".%2E": "encoded-dot",
    "%2E.": "encoded-dot",
}
DOTS = {".": "dot-segment", "%2e": "encoded-dot", "%2E": "encoded-dot"}
#: What may follow a dot segment.
SEPARATORS = {
    "/": None,
    "%2f": "encoded-slash",
    "%2F": "encoded-slash",
    "//": "empty-segment",
    "\\": "backslash",
    "%5c": "backslash",
    "%5C": "backslash",
}
#: Where a protected view lives; traversal starts below these.
PROTECTED_HEADS = ("/admin", "/admin/x", "/admin/users/7", "/orders/7", "/reports/q")
#: Protected targets reached from elsewhere (no leading slash).
PROTECTED_TAILS = ("admin", "admin/", "admin/x", "admin/users/7", "orders/7", "reports/q")
#: Public or open places a traversal may aim for or start from (no leading slash).
PUBLIC_TAILS = ("healthz", "static/a.css", "")
PUBLIC_HEADS = ("/healthz", "/static", "/static/a", "/whoami", "/x")

PLAIN = (
    "/admin",
    "/admin/",
    "/admin/users/7",
    "/admin/x",
    "/admin/x/y",
    "/orders/7",
    "/reports/q",
    "/healthz",
    "/static/a.css",
    "/whoami",
    "/",
    "/elsewhere",
)

HANDWRITTEN = {
    "param": (
        "/admin;x=1",
        "/admin;/x",
        "/admin/;x",
        "/admin/..;/healthz",
        "/admin/x/..;/..;/healthz",
        "/admin/users/7;x=1",
        "/admin;x=1/users/7",
        "/healthz;/../admin",
        "/static;/../admin/x",
        "/orders/7;x=1",
        "/reports/q;a",
        "/reports;/q",
        "/admin/.;/x",
        "/admin%3bx/y",
        "/admin/..%3b/healthz",
    ),
    "trailing": (
        "/admin/.",
        "/admin/./",
        "/admin/x/",
        "/admin/x/.",
        "/admin/users/7/",
        "/admin/users/7/.",
        "/orders/7/",
        "/reports/q/",
        "/reports/q/.",
        "/admin/%2e",
        "/admin/..",
        "/admin/x/..",
        "/orders/7/..",
        "/reports/q/..",
    ),
    "case": (
        "/ADMIN",
        "/Admin",
        "/aDmin/x",
        "/ADMIN/users/7",
        "/admin/USERS/7",
        "/%41dmin",
        "/%41DMIN/x",
        "/%61dmin",
        "/%61dmin/x",
        "/%61%64%6d%69%6e/users/7",
        "/%61%64%6D%69%6E/",
        "/ORDERS/7",
        "/Orders/7",
        "/REPORTS/q",
        "/%72eports/q",
        "/%6frders/7",
    ),
    "unicode": (
        "/%EF%BD%81dmin",  # fullwidth a
        "/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E/x",  # fullwidth admin
        "/adm%C4%B1n",  # dotless i
        "/%E2%80%8Badmin",  # zero-width space
        "/admin%E2%80%8B/x",
        "/admin/%EF%BC%8E%EF%BC%8E/healthz",  # fullwidth full stops
        "/admin/%E2%80%A5/healthz",  # two dot leader
        "/admin/%E3%80%82%E3%80%82/healthz",  # ideographic full stops
        "/admin%EF%BC%8Fx",  # fullwidth solidus
        "/admin%E2%88%95x",  # division slash
        "/admin/%EF%BC%8E%EF%BC%8E%EF%BC%8Fhealthz",
        "/%D0%B0dmin",  # Cyrillic a
        "/orders/7%EF%BC%8F..",
        "/reports/%EF%BD%91",
    ),
    "invalid-utf8": (
        "/admin/%c0%ae%c0%ae/healthz",  # overlong '.'
        "/admin/%C0%AE%C0%AE%C0%AFhealthz",  # overlong '.' and '/'
        "/admin/%e0%80%ae%e0%80%ae/healthz",
        "/admin%c0%afx",
        "/admin%c0%af..%c0%afhealthz",
        "/admin/%ff",
        "/admin%ff",
        "/admin/%80/..",
        "/%ff/../admin",
        "/%ff/admin",
        "/admin/x/%ff/../..",
        "/admin%00",
        "/admin/%00/..",
        "/healthz%00/../admin",
        "/static/%c0%ae%c0%ae/admin",
        "/orders/%ff",
        "/reports/%c0%ae",
    ),
    "double-encoding": (
        "/admin/%252e%252e/healthz",
        "/admin/%252E%252E%252fhealthz",
        "/admin%252fx",
        "/%2561dmin",
        "/%2541dmin/x",
        "/static/%252e%252e/admin",
        "/static/%252e%252e%252fadmin",
        "/healthz%252f..%252fadmin",
        "/admin/%25%32%65%25%32%65/healthz",
        "/admin/%255c..%255chealthz",
        "/orders/7%252f..",
        "/reports/%252e%252e",
    ),
    "empty-segment": (
        "//admin",
        "//admin/x",
        "///admin/users/7",
        "/admin//",
        "/admin//x",
        "/admin/users//7",
        "/admin/x//",
        "//orders/7",
        "/orders//7",
        "//reports/q",
        "/reports//q",
        "//healthz/../admin",
        "/healthz//../admin",
        "/static//../admin/x",
        "/admin//../healthz",
        "/admin/x//..//..//healthz",
        "/%2fadmin",
        "/%2F%2Fadmin/x",
        "//",
        "/./admin",
        "/%2e/admin/x",
    ),
    "public-traversal": (
        "/healthz/../admin",
        "/healthz/../admin/x",
        "/static/..%2fadmin/x",
        "/static/%2e%2e/admin",
        "/static/%2e%2e%2fadmin/users/7",
        "/static/../admin/users/7",
        "/static/..%2f..%2fadmin",
        "/static/a/../../admin/x",
        "/healthz%2f..%2fadmin",
        "/healthz/..%2fadmin/x",
        "/whoami/../admin",
        "/static/..%5cadmin",
        "/static/..\\admin",
        "/healthz/.%2e/orders/7",
        "/static/%2e%2e/reports/q",
    ),
}

QUERIES = ("?x=1", "?/../healthz", "?q=%2e%2e/admin", "?", "?a=1&a=2#frag")


def _add(seen: dict[str, set[str]], target: str, *classes: str | None) -> None:
    seen.setdefault(target, set()).update(c for c in classes if c)


def _generated() -> Iterator[tuple[str, tuple[str | None, ...]]]:
    # Out of a protected view's prefix, towards something public or open.
    for head in PROTECTED_HEADS:
        for dots, dots_class in DOT_DOTS.items():
            for sep, sep_class in SEPARATORS.items():
                for tail in PUBLIC_TAILS:
                    yield f"{head}/{dots}{sep}{tail}", (dots_class, sep_class)
            yield f"{head}/{dots}", (dots_class, "trailing")
            yield f"{head}/x/{dots}/{dots}/healthz", (dots_class,)
        for dot, dot_class in DOTS.items():
            for sep, sep_class in SEPARATORS.items():
                yield f"{head}/{dot}{sep}x", (dot_class, sep_class)
            yield f"{head}/{dot}", (dot_class, "trailing")
    # From something public or open, into a protected view's prefix (fewer
    # spellings: here the router sees the public view and the policy the protected one).
    for head in PUBLIC_HEADS:
        for dots, dots_class in list(DOT_DOTS.items())[::3]:
            for sep, sep_class in list(SEPARATORS.items())[::2]:
                for tail in PROTECTED_TAILS:
                    yield f"{head}/{dots}{sep}{tail}", (dots_class, sep_class, "public-traversal")
    for dot, dot_class in DOTS.items():
        for sep, sep_class in SEPARATORS.items():
            for tail in PROTECTED_TAILS:
                yield f"/{dot}{sep}{tail}", (dot_class, sep_class)
    # Every slash of a protected path doubled, or (after the first) encoded.
    for path in PLAIN[:7]:
        for index, char in enumerate(path):
            if char == "/":
                yield path[:index] + "//" + path[index + 1 :], ("empty-segment",)
                if index:
                    yield path[:index] + "%2f" + path[index + 1 :], ("encoded-slash",)
                    yield path[:index] + "\\" + path[index + 1 :], ("backslash",)


def spellings() -> list[Spelling]:
    """Every target spelling (several thousand), plain ones first."""
    seen: dict[str, set[str]] = {}
    for target in PLAIN:
        _add(seen, target, "plain")
    for name, targets in HANDWRITTEN.items():
        for target in targets:
            _add(seen, target, name)
    handwritten = set(seen)
    for target, classes in _generated():
        _add(seen, target, *classes)
    # Query strings never change the route, but they change what is signed and parsed.
    with_query = list(seen)[:: max(1, len(seen) // 150)]
    for index, target in enumerate(with_query):
        query = QUERIES[index % len(QUERIES)].partition("#")[0]  # no fragment on the wire
        _add(seen, target + query, "query", *sorted(seen[target]))
    return [
        Spelling(target, tuple(sorted(classes)), target in handwritten)
        for target, classes in seen.items()
    ]


def socket_sample(all_spellings: list[Spelling], size: int = 48) -> list[Spelling]:
    """A few dozen spellings for real servers: the plain ones and some of every class."""
    chosen: dict[str, Spelling] = {}
    by_class: dict[str, list[Spelling]] = {}
    for spelling in all_spellings:
        for name in spelling.classes:
            by_class.setdefault(name, []).append(spelling)
    for spelling in all_spellings:
        if "plain" in spelling.classes and spelling.target in PLAIN[:7]:
            chosen[spelling.target] = spelling
    for must in (
        "/admin/../healthz",
        "/admin/%2e%2e/healthz",
        "/admin/..%2fhealthz",
        "/admin/..",
        "/reports/q/..",
        "/admin/x/..",
        "//admin",
        "/admin//x",
        "/admin;x=1",
        "/admin/..;/healthz",
        "/healthz/../admin",
        "/static/..%2fadmin/x",
        "/static/%2e%2e/admin",
        "/admin/%c0%ae%c0%ae/healthz",
        "/admin/%ff",
        "/admin/%252e%252e/healthz",
        "/admin\\..\\healthz",
        "/admin%5c..%5chealthz",
        "/ADMIN",
        "/%61dmin",
        "/%EF%BD%81dmin",
    ):
        if must in {s.target for s in all_spellings}:
            chosen.setdefault(must, next(s for s in all_spellings if s.target == must))
    for name in sorted(by_class):
        for spelling in by_class[name][1::7][:2]:
            if len(chosen) < size:
                chosen.setdefault(spelling.target, spelling)
    return sorted(chosen.values(), key=lambda s: all_spellings.index(s))
