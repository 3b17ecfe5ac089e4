"""RFC 9421 signature bases, shared by the verifier and the signer.

Both sides must build the same bytes from the same request, so this is the
one place that turns a request view and a list of covered components into
the signature base of RFC 9421 §2.5.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from edgeclaims import structured
from edgeclaims.errors import (
    BadSignature,
    InsufficientCoverage,
    MalformedHeader,
    UnsupportedComponent,
)
from edgeclaims.request import RequestView

__all__ = [
    "DERIVED_COMPONENTS",
    "HEADER_NAME",
    "KNOWN_PARAMETERS",
    "build_signature_base",
    "check_component",
    "check_components",
    "signature_base",
]

#: A lower-case field name (RFC 9110 token): how RFC 9421 names covered headers.
HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")

#: The signature parameters of the RFC 9421 registry (§6.3); others are refused.
KNOWN_PARAMETERS = frozenset({"created", "expires", "nonce", "alg", "keyid", "tag"})


def _target_uri(view: RequestView, path_form: str) -> str:
    query = "" if view.raw_query is None else "?" + view.raw_query
    return f"{view.scheme}://{view.authority}{view.path_for_signature(path_form)}{query}"


def _request_target(view: RequestView, path_form: str) -> str:
    query = "" if view.raw_query is None else "?" + view.raw_query
    return view.path_for_signature(path_form) + query


#: Derived components this profile supports (RFC 9421 §2.2), by identifier.
DERIVED_COMPONENTS: dict[str, Callable[[RequestView, str], str]] = {
    "@method": lambda view, _: view.method,
    "@authority": lambda view, _: view.authority,
    "@scheme": lambda view, _: view.scheme.lower(),
    "@target-uri": _target_uri,
    "@request-target": _request_target,
    "@path": lambda view, form: view.path_for_signature(form),
    "@query": lambda view, _: view.query_for_signature(),
}


#: One step of a signature base: the line's prefix, how to derive the value
#: (None for a header field), and the component's name.
BaseStep = tuple[str, Callable[[RequestView, str], str] | None, str]


@functools.lru_cache(maxsize=64)
def check_components(
    components: tuple[str, ...], required: tuple[str, ...] = ()
) -> tuple[BaseStep, ...]:
    """Check covered component identifiers and plan their signature base lines.

    Each must be a supported derived component or a lower-case header name,
    none may be covered twice (RFC 9421 §2.5), and every ``required`` one
    must be there. A pure function of the lists, cached: an edge covers the
    same few lists on every request.
    """
    seen: set[str] = set()
    for name in components:
        check_component(name, seen)
    missing = [name for name in required if name not in seen]
    if missing:
        raise InsufficientCoverage(f"the signature does not cover {', '.join(missing)}")
    return tuple((f'"{name}": ', DERIVED_COMPONENTS.get(name), name) for name in components)


def check_component(name: str, seen: set[str]) -> None:
    """One covered identifier, after those in ``seen`` (which it joins)."""
    if name.startswith("@"):
        if name not in DERIVED_COMPONENTS:
            raise UnsupportedComponent("unsupported derived component")
    elif not HEADER_NAME.fullmatch(name):
        raise MalformedHeader("a covered header name is not a lower-case field name")
    if name in seen:
        raise MalformedHeader("a component is covered twice")  # RFC 9421 §2.5
    seen.add(name)


def _field_value(view: RequestView, name: str) -> str:
    value = view.field_value(name)
    if value is None:
        raise BadSignature(f"covered header {name} is absent")
    return value


def build_signature_base(
    view: RequestView, plan: tuple[BaseStep, ...], signature_params: str, path_form: str
) -> bytes:
    """The RFC 9421 §2.5 signature base of ``view``, from ``check_components(components)``.

    ``signature_params`` is the ``@signature-params`` value: the inner list
    as the Signature-Input carried it when canonical, else re-serialized.
    """
    lines = []
    for prefix, derive, name in plan:
        value = derive(view, path_form) if derive is not None else _field_value(view, name)
        if "\n" in value or "\r" in value:
            # A line break would let one value forge further lines of the base.
            raise MalformedHeader(f"component {name} contains a line break")
        lines.append(prefix + value)
    lines.append('"@signature-params": ' + signature_params)
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError:
        # Header values are ASCII on the wire (RFC 9110 §5.5); anything else
        # arrived through a server that decoded it differently from the edge.
        raise MalformedHeader("a covered component is not ASCII") from None


def signature_base(
    view: RequestView,
    components: Sequence[str],
    inner: structured.InnerList,
    *,
    path_form: str,
) -> bytes:
    """The RFC 9421 §2.5 signature base of ``view`` for these covered components."""
    return build_signature_base(
        view, check_components(tuple(components)), structured.serialize_inner_list(inner), path_form
    )
