"""Learned Signature-Input shapes: the edge's usual header read in one match.

An edge writes the same Signature-Input on every request but for a few
values: the same label, the same covered components, the same parameters in
the same order; only ``created``, ``nonce`` (and perhaps ``expires`` or
``keyid``) change. Once a request in some shape has *verified*, the source
compiles that shape into one pattern with those values as groups, and later
requests in the shape are read with one match instead of a parse.

A shape only ever accepts text the canonical-member path
(``structured.canonical_inner_list_member``) reads the same way: the label,
components and tag are literal, and each value group is the canonical RFC 8941
form of its RFC 9421 type. Only verified requests teach shapes, so a client
cannot fill the cache; it holds a few, and starts over when full.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from edgeclaims.sources.rfc9421_base import BaseStep

__all__ = ["MAX_SHAPES", "Parameters", "Shape"]

#: The signature parameters the source reads: created, keyid, nonce, expires, alg.
Parameters = tuple[int, str, str | None, int | None, str | None]

#: Shapes kept per source; an edge uses one, two while a change rolls out.
MAX_SHAPES = 4

_INTEGER = r"(0|-?[1-9][0-9]{0,14})"
_STRING = r'"([ !#-\[\]-~]*)"'
_NON_EMPTY_STRING = r'"([ !#-\[\]-~]+)"'
_GROUPS = {
    "created": _INTEGER,
    "expires": _INTEGER,
    "keyid": _NON_EMPTY_STRING,
    "nonce": _STRING,
    "alg": _STRING,
}


class Shape:
    """One learned Signature-Input shape and what it already knows."""

    __slots__ = ("_created", "_optional", "components", "label", "pattern", "plan")

    def __init__(
        self,
        label: str,
        components: tuple[str, ...],
        plan: tuple[BaseStep, ...],
        raw_params: Mapping[str, str],
    ) -> None:
        """Learn from a verified member: its label, components, and parameter texts in order.

        ``raw_params`` holds created, keyid, tag and perhaps nonce, expires
        and alg (the ones ``_canonical_signature_parameters`` accepted).
        """
        self.label = label
        self.components = components
        self.plan = plan
        pattern = re.escape(f"{label}=(" + " ".join(f'"{c}"' for c in components) + ")")
        group_of: dict[str, int] = {}
        for name, value in raw_params.items():
            if name in _GROUPS:
                group_of[name] = len(group_of) + 1
                pattern += f";{name}={_GROUPS[name]}"
            else:  # the tag: the source only reads the one it is configured for
                pattern += re.escape(f";{name}={value}")
        self.pattern = re.compile(pattern)
        self._created = group_of["created"]
        #: Group numbers of keyid, nonce, expires and alg (0 when absent).
        self._optional = tuple(group_of.get(n, 0) for n in ("keyid", "nonce", "expires", "alg"))

    def read(self, text: str) -> Parameters | None:
        """The parameters of a Signature-Input in this shape, or None when not in it."""
        match = self.pattern.fullmatch(text)
        if match is None:
            return None
        group = match.group
        keyid, nonce, expires, alg = self._optional
        return (
            int(group(self._created)),
            group(keyid),
            group(nonce) if nonce else None,
            int(group(expires)) if expires else None,
            group(alg) if alg else None,
        )
