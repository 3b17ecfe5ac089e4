"""The ``oauth2-proxy`` source: oauth2-proxy's ``GAP-Signature`` (spec/providers.md).

    GAP-Signature: sha256 <base64 of HMAC(key, string to sign ‖ body)>

oauth2-proxy (``--signature-key = "<alg>:<secret>"``) signs each request it
forwards with the algorithm of mbland/hmacauth. The string to sign is, each
line ending in ``\\n``: the method; for every header of a fixed list, its
values joined with ``,`` (an empty line when absent); the path as Go's
``URL.Path`` holds it (percent-decoded) followed by ``?`` and the raw query
when there is one. The raw body bytes follow it in the HMAC input, so the
body is read (at most ``max_body`` bytes) and replayed to the app untouched
(:mod:`edgeclaims.body`).

What edgeclaims does beyond hmacauth's own verifier:

* the algorithm is the configured one: hmacauth lets the header's name pick
  it (``sha1`` where ``sha256`` was configured: a downgrade); here a header
  naming another algorithm is refused (``algorithm_not_allowed``);
* the base64 is decoded strictly (canonical, padded) and the whole digest is
  compared in constant time: a truncated or empty signature never passes;
* the header list is a setting (``signed_headers``): it changed between
  oauth2-proxy versions (v5.1 added ``X-Forwarded-Preferred-User``);
* identity is read only after the signature verified, and only from headers
  the signature covers: ``X-Forwarded-User`` (else ``Gap-Auth``) is the
  subject; ``user``, ``email`` and ``preferred_username`` the claims.

**Security:** GAP-Signature has no nonce and no timestamp of its own: a
captured request can be replayed (warning W014). ``max_age`` bounds that by
the signed ``Date`` header, which only API clients send (browsers do not).
The ``X-Forwarded-*`` identity headers, ``X-Forwarded-Access-Token`` and
``Gap-Auth`` are removed before the app runs, whatever the verdict.

Repeated header lines: Go joins a header's values with ``,``. Under ASGI the
lines arrive apart and are joined the same way. A WSGI environ holds one
value that the server already joined: with ``,`` (gunicorn, Werkzeug,
wsgiref) it verifies; with ``, `` (waitress) a signed header sent on two
lines no longer verifies (``bad_signature``: refused, never accepted).

Configuration keys (``type = "oauth2-proxy"``): exactly one of
``signature_key``, ``signature_key_env``, ``signature_key_file``;
``signed_headers``, ``max_body`` (1048576), ``max_age`` (0), ``leeway``
(30), ``name``, ``subject_claim``, ``required_claims``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from edgeclaims.config_table import Table
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    BodyTooLarge,
    ConfigurationError,
    Expired,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
)
from edgeclaims.keys import read_named_text
from edgeclaims.request import RequestView
from edgeclaims.sources import (
    Assertion,
    Source,
    Trace,
    read_optional_subject_settings,
    subject_of,
)

__all__ = [
    "DEFAULT_SIGNED_HEADERS",
    "HEADER",
    "OAuth2ProxySource",
    "from_table",
    "gap_signature",
    "string_to_sign",
]

HEADER = "gap-signature"
#: The header list of oauth2-proxy v7 (pkg/upstream/http.go ``SignatureHeaders``).
DEFAULT_SIGNED_HEADERS = (
    "Content-Length",
    "Content-Md5",
    "Content-Type",
    "Date",
    "Authorization",
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Preferred-User",
    "X-Forwarded-Access-Token",
    "Cookie",
    "Gap-Auth",
)
#: oauth2-proxy's identity headers: the app reads identity from edgeclaims instead.
UNSIGNED_HEADERS = (
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-user",
    "x-forwarded-access-token",
    "x-forwarded-groups",
    "gap-auth",
)
#: Signed header → claim it becomes.
IDENTITY_CLAIMS = (
    ("x-forwarded-user", "user"),
    ("x-forwarded-email", "email"),
    ("x-forwarded-preferred-user", "preferred_username"),
)
#: What oauth2-proxy's ``--signature-key`` may name (hashlib names).
ALGORITHMS = ("sha1", "sha256")
DEFAULT_MAX_BODY = 1048576
#: What ``edgeclaims verify`` adds under a refusal.
HINTS = (
    (
        "bad_signature",
        "signature_key must be oauth2-proxy's --signature-key, and signed_headers the list "
        "of that oauth2-proxy version (before v5.1 it lacks X-Forwarded-Preferred-User); "
        "the body is signed too",
    ),
    (
        "algorithm_not_allowed",
        "the GAP-Signature header names another algorithm than signature_key's prefix: "
        "use the same <alg> on both sides",
    ),
    (
        "malformed",
        "GAP-Signature covers the body: give it to edgeclaims verify with --body @file "
        "(byte for byte), or check that the adapter in front reads it",
    ),
)

_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# RFC 9110 §5.6.7 IMF-fixdate, the one form senders must generate.
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (" + "|".join(_MONTHS) + r") ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_KEY_SOURCES = ("signature_key", "signature_key_env", "signature_key_file")
_KEY_FORM = "must be oauth2-proxy's '<alg>:<secret>' with alg sha1 or sha256"


def string_to_sign(
    method: str, header_values: Iterable[Sequence[str]], path: bytes, raw_query: str | None
) -> bytes:
    """hmacauth's string to sign; ``header_values`` holds each signed header's lines, in order.

    Go's ``http.Header`` keeps repeated lines apart; hmacauth joins them
    with ``,``. ``path`` is the decoded path (Go's ``URL.Path``); the query
    is the raw one, and ``?`` only stands when it is not empty. A fragment
    never reaches a server. Raises ``UnicodeEncodeError`` for text that did
    not come off the wire (not latin-1).
    """
    lines = [method.encode("latin-1")]
    lines.extend(",".join(values).encode("latin-1") for values in header_values)
    target = path + (b"?" + raw_query.encode("latin-1") if raw_query else b"")
    lines.append(target)
    return b"\n".join(lines) + b"\n"


def _go_values(values: Iterable[str]) -> list[str]:
    # Go's header reader trims spaces and tabs around each value.
    return [value.strip(" \t") for value in values]


@dataclass(frozen=True, eq=False)
class OAuth2ProxySource(Source):
    """``type = "oauth2-proxy"``: verify oauth2-proxy's ``GAP-Signature``."""

    name: str
    algorithm: str  # "sha1" | "sha256"
    secret: bytes = field(repr=False)
    #: Lower-cased, in the order oauth2-proxy signs them.
    signed_headers: tuple[str, ...]
    max_body: int
    max_age: int
    leeway: int
    subject_claim: str | None = None
    required_claims: tuple[str, ...] = ()
    #: The key was written in the configuration itself (``signature_key``): W008.
    key_in_config: bool = False
    type = "oauth2-proxy"
    hints = HINTS  # not a field

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return (HEADER,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (HEADER, *UNSIGNED_HEADERS)

    @property
    def body_limit(self) -> int | None:
        """The body is signed: adapters read at most ``max_body`` bytes of it."""
        return self.max_body

    def risks(self) -> tuple[tuple[str, str], ...]:
        """W014 always (no nonce); W008 for a key written in the configuration."""
        window = (
            f"within max_age ({self.max_age} s) of its signed Date"
            if self.max_age
            else "for as long as the key is unchanged (set max_age to bound it by Date)"
        )
        risks = [
            (
                "W014",
                "GAP-Signature has no nonce: a captured request can be replayed "
                f"{window}; keep the hop from oauth2-proxy to the app private",
            )
        ]
        if self.key_in_config:
            risks.append(
                (
                    "W008",
                    "signature_key is a secret written in the configuration: anyone who can "
                    "read the file can sign identities; use signature_key_env or "
                    "signature_key_file",
                )
            )
        return tuple(risks)

    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        value = view.header(HEADER)
        if value is None:
            raise MissingIdentity("no GAP-Signature header")
        algorithm, _, encoded = value.partition(" ")
        if not encoded or " " in encoded:
            raise MalformedHeader("GAP-Signature is not '<alg> <base64>'")
        if algorithm != self.algorithm:
            # hmacauth would let the header pick the algorithm; here it is configured.
            raise AlgorithmNotAllowed(
                f"GAP-Signature must use {self.algorithm}, the algorithm of signature_key"
            )
        signature = _strict_b64decode(encoded)
        body = view.body
        if body is None:
            # Fail closed: an adapter that did not read the body cannot verify it.
            raise MalformedHeader("the request body was not read: GAP-Signature cannot be checked")
        if len(body) > self.max_body:
            raise BodyTooLarge("the request body is larger than max_body")
        try:
            message = string_to_sign(
                view.method,
                (_go_values(view.header_values(name)) for name in self.signed_headers),
                unquote_to_bytes(view.raw_path),
                view.raw_query,
            )
        except UnicodeEncodeError:
            raise MalformedHeader("a signed header is not latin-1 text") from None
        mac = hmac.new(self.secret, message, self.algorithm)
        mac.update(body)
        # Full length, constant time: compare_digest of unequal lengths is False.
        if not hmac.compare_digest(mac.digest(), signature):
            raise BadSignature("GAP-Signature does not verify")
        if trace:
            trace(
                "signature",
                f"GAP-Signature ({self.algorithm}) verifies over {len(self.signed_headers)} "
                f"headers, the path and {len(body)} body bytes",
            )
        if self.max_age:
            self._check_date(view, now, trace)
        # Verified: what the covered headers say is oauth2-proxy's word.
        claims: dict[str, Any] = {}
        for header, claim in IDENTITY_CLAIMS:
            if header in self.signed_headers:
                claim_value = _signed_text(view, header)
                if claim_value is not None:
                    claims[claim] = claim_value
        subject = self._subject(view, claims)
        if trace:
            trace("identity", f"subject {subject!r}")
        return Assertion(claims, None, None, subject)

    def _subject(self, view: RequestView, claims: Mapping[str, Any]) -> str:
        if self.subject_claim is not None:
            return subject_of(claims, self.subject_claim, self.required_claims)
        if "user" in claims or "gap-auth" not in self.signed_headers:
            return subject_of(claims, "user", self.required_claims)
        # oauth2-proxy sets Gap-Auth to the user, else the email: the fallback.
        subject_of(claims, None, self.required_claims)
        return subject_of({"gap_auth": _signed_text(view, "gap-auth")}, "gap_auth")

    def _check_date(self, view: RequestView, now: float, trace: Trace | None) -> None:
        text = view.header("date")
        if text is None:
            raise Expired("max_age is set and the request has no Date header")
        match = _IMF_FIXDATE.fullmatch(text)
        if match is None:
            raise MalformedHeader("the Date header is not an IMF-fixdate")
        day, month, year, hour, minute, second = (
            _MONTHS.index(g) + 1 if g in _MONTHS else int(g) for g in match.groups()
        )
        try:
            signed_at = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            raise MalformedHeader("the Date header is not a valid date") from None
        signed_at_seconds = signed_at.timestamp()
        if signed_at_seconds > now + self.leeway:
            raise NotYetValid("the Date header is in the future")
        if now - signed_at_seconds > self.max_age + self.leeway:
            raise Expired("the Date header is older than max_age")
        if trace:
            trace("time", f"Date is {now - signed_at_seconds:.0f} s old (max_age {self.max_age})")


def _strict_b64decode(text: str) -> bytes:
    """Padded standard base64 in its one canonical spelling, else ``MalformedHeader``."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise MalformedHeader("GAP-Signature is not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedHeader("GAP-Signature is not canonical base64")
    return raw


# -- configuration ------------------------------------------------------------------


def parse_signature_key(text: str, where: str) -> tuple[str, bytes]:
    """``<alg>:<secret>`` as oauth2-proxy reads ``--signature-key``; no error quotes it."""
    parts = text.strip().split(":")
    # oauth2-proxy splits on every ':' and wants two parts: a secret holding
    # one is refused there too, so it cannot be the one it signs with.
    if len(parts) != 2 or parts[0] not in ALGORITHMS or not parts[1]:
        raise ConfigurationError(where, _KEY_FORM)
    return parts[0], parts[1].encode("utf-8")


def _load_key(table: Table, base_dir: Path) -> tuple[str, bytes, bool]:
    given = [name for name in _KEY_SOURCES if name in table]
    if len(given) != 1:
        raise ConfigurationError(table.path, f"give exactly one of {', '.join(_KEY_SOURCES)}")
    source = given[0]
    where = table.child_path(source)
    if source == "signature_key":
        return (*parse_signature_key(table.str("signature_key"), where), True)
    # Read by name (not table.str(source)): docs/config.md's test finds settings so.
    named = (
        table.str("signature_key_env")
        if source == "signature_key_env"
        else table.str("signature_key_file")
    )
    if named.strip().startswith(tuple(f"{alg}:" for alg in ALGORITHMS)):
        # The errors below quote the variable name or the path: never a key.
        raise ConfigurationError(
            where, f"holds the key itself; {source} names where the key is kept"
        )
    return (*parse_signature_key(read_named_text(table, source, base_dir), where), False)


def _signed_headers(table: Table) -> tuple[str, ...]:
    names = table.str_list("signed_headers", DEFAULT_SIGNED_HEADERS)
    if not names:
        raise table.error("signed_headers", "must not be empty")
    lowered: list[str] = []
    for index, name in enumerate(names):
        where = f"{table.child_path('signed_headers')}[{index}]"
        if not _HEADER_NAME.fullmatch(name):
            raise ConfigurationError(where, "must be a header name")
        if name.lower() == HEADER:
            raise ConfigurationError(where, "GAP-Signature cannot sign itself")
        if name.lower() in lowered:
            raise ConfigurationError(where, f"{name} is listed twice")
        lowered.append(name.lower())
    return tuple(lowered)


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> OAuth2ProxySource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    algorithm, secret, in_config = _load_key(table, base_dir)
    signed = _signed_headers(table)
    max_age = table.int("max_age", 0, minimum=0)
    if max_age and "date" not in signed:
        raise table.error("max_age", "needs Date among signed_headers (the age is read from it)")
    subject_claim, required = read_optional_subject_settings(table)
    return OAuth2ProxySource(
        name=table.str("name", "oauth2-proxy"),
        algorithm=algorithm,
        secret=secret,
        signed_headers=signed,
        max_body=table.int("max_body", DEFAULT_MAX_BODY, minimum=0),
        max_age=max_age,
        leeway=table.int("leeway", 30, minimum=0),
        subject_claim=subject_claim,
        required_claims=required,
        key_in_config=in_config,
    )


# -- the signing side (tests; edgeclaims.testing_providers) -------------------------------


def _signed_text(view: RequestView, name: str) -> str | None:
    """A signed identity header as oauth2-proxy wrote it: UTF-8, trimmed of spaces and tabs.

    Not ``view.header``'s value: servers hand headers on as latin-1, and
    ``str.strip`` there would also eat ``\x85`` and ``\xa0`` — bytes of
    UTF-8 letters — making two signed users one subject.
    """
    if view.header(name) is None:  # absent or empty; ambiguous raises
        return None
    (raw,) = view.header_values(name)
    try:
        return raw.strip(" \t").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise MalformedHeader(f"the signed {name} header is not UTF-8") from None


def gap_signature(
    method: str,
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    key: str = "sha256:secret",
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
) -> dict[str, str]:
    """The ``GAP-Signature`` header oauth2-proxy would add to this request.

    ``headers`` are the ones the request will carry (pairs may repeat a
    name: its values are joined with ``,`` as Go joins them); ``key`` is
    oauth2-proxy's ``<alg>:<secret>``. A non-empty ``body`` without a
    ``Content-Length`` in ``headers`` is signed with the one a client sends.
    """
    algorithm, secret = parse_signature_key(key, "key")
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if body and not any(name.lower() == "content-length" for name, _ in pairs):
        pairs.append(("Content-Length", str(len(body))))
    parts = urlsplit(url)
    values = [
        _go_values(value for name, value in pairs if name.lower() == signed.lower())
        for signed in signed_headers
    ]
    message = string_to_sign(
        method, values, unquote_to_bytes(parts.path or "/"), parts.query or None
    )
    digest = hmac.new(secret, message + body, algorithm).digest()
    return {"GAP-Signature": f"{algorithm} {base64.b64encode(digest).decode('ascii')}"}
