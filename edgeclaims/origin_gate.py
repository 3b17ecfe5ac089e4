"""The origin gate: proof that a request came through the CDN, checked before any source.

Akamai's Signature Header Authentication ("G2O", ghost-to-origin) adds two
headers to every request it forwards (spec/providers.md):

    X-Akamai-G2O-Auth-Data: 5, 203.0.113.7, 198.51.100.2, 1782000000, -1646207363.5706, g2o-2026
    X-Akamai-G2O-Auth-Sign: <base64 of the MAC over data ‖ sign string>

The data header holds six fields joined by ", ": version, edge IP, client
IP, time (Unix seconds), a unique id and the key name (Akamai's UI calls it
"nonce"; it names the secret). The MAC of each version: 1 MD5(key ‖ m),
2 MD5(key ‖ MD5(key ‖ m)), 3 HMAC-MD5, 4 HMAC-SHA1, 5 HMAC-SHA256, where
``m`` is the data header exactly as received followed by the sign string
(the raw path and query as on the request line, or the path alone).

The gate carries no user identity: a request that passes it goes on to the
sources (or anonymously, where the route is public). It runs on every path,
public ones included — the point is that nothing reaches the origin except
through Akamai — except the configured ``exempt_paths`` (a load balancer's
health probe). It refuses, with the common codes:

* ``missing`` — no data or sign header;
* ``malformed`` — a data header that is not six fields of the right shapes,
  a sign header that is not canonical padded base64;
* ``algorithm_not_allowed`` — a version not in ``versions`` (1 and 2, keyed
  MD5, only with ``allow_md5 = true``);
* ``unknown_key`` — a key name that is not configured;
* ``expired`` / ``not_yet_valid`` — a time more than ``window`` seconds from now;
* ``bad_signature`` — the MAC differs (compared over its full length in
  constant time: a truncated or empty signature never passes);
* ``replayed`` — the same data header seen before within the window (the
  engine records it in the configured replay store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeclaims import structured
from edgeclaims.config_table import Table
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    ConfigurationError,
    Expired,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
    TooLarge,
    UnknownKey,
)
from edgeclaims.keys import load_shared_secret
from edgeclaims.rbac.matching import compile_glob
from edgeclaims.rbac.routes import check_path_glob
from edgeclaims.request import RequestView
from edgeclaims.sources import ReplayTicket, Trace

__all__ = ["G2O_MACS", "G2OGate", "g2o_signature", "parse_origin_gate"]

GATE_TYPES = ("akamai-g2o",)
#: The longest data header read: six short fields, two of them IPv6 addresses.
MAX_DATA_BYTES = 512
#: A replayed data header is found for this long after its last valid second.
REPLAY_MARGIN = 1.0
#: Below this many bytes ``edgeclaims check`` warns about a G2O secret.
SHORT_SECRET_BYTES = 16

# Field shapes: an integer time, addresses and ids without spaces or commas.
_TIME = re.compile(r"[0-9]{1,12}")
_FIELD = re.compile(r"[!-+\--~]{1,128}")  # visible ASCII but ","


def _md5(key: bytes, message: bytes) -> bytes:
    return hashlib.md5(key + message).digest()


def _double_md5(key: bytes, message: bytes) -> bytes:
    return hashlib.md5(key + hashlib.md5(key + message).digest()).digest()


def _hmac(digest: str) -> Callable[[bytes, bytes], bytes]:
    def mac(key: bytes, message: bytes) -> bytes:
        # hmac.new, not hmac.digest: the latter drops the GIL (algorithms.py).
        return hmac.new(key, message, digest).digest()

    return mac


#: G2O version → its MAC over ``data ‖ sign string``.
G2O_MACS: Mapping[int, Callable[[bytes, bytes], bytes]] = {
    1: _md5,
    2: _double_md5,
    3: _hmac("md5"),
    4: _hmac("sha1"),
    5: _hmac("sha256"),
}
_MD5_VERSIONS = frozenset({1, 2})


def g2o_signature(version: int, secret: bytes, data: str, sign_string: str) -> str:
    """The ``X-Akamai-G2O-Auth-Sign`` value for a data header (the edge's side; tests)."""
    message = (data + sign_string).encode("latin-1")
    return base64.b64encode(G2O_MACS[version](secret, message)).decode("ascii")


@dataclass(frozen=True, eq=False)
class G2OGate:
    """``[edgeclaims.origin_gate]`` with ``type = "akamai-g2o"``."""

    name: str
    #: Key name → secret (the text's bytes). Never in a repr.
    keys: Mapping[str, bytes] = field(repr=False)
    versions: frozenset[int]
    sign_string: str  # "path_and_query" or "path"
    window: int
    exempt_paths: tuple[str, ...]
    data_header: str
    sign_header: str
    #: Keys written in the configuration itself (``edgeclaims check`` warns).
    keys_in_config: tuple[str, ...] = ()
    _exempt: tuple[Callable[[str], bool], ...] = field(init=False, repr=False, default=())

    type = "akamai-g2o"

    def __post_init__(self) -> None:
        matchers = tuple(compile_glob(glob, open_tail=True) for glob in self.exempt_paths)
        object.__setattr__(self, "_exempt", matchers)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (self.data_header, self.sign_header)

    def exempts(self, view: RequestView) -> bool:
        """Whether the path the application routes on is an exempt path.

        For a mounted app that is the path below ``SCRIPT_NAME`` /
        ``root_path`` — the one reading that decides which view runs. Not
        either reading: a prefix a proxy header can set (``X-Forwarded-Prefix``
        through ``ProxyFix``) would otherwise exempt any route under it.
        """
        path = view.mounted_path if view.mounted_path is not None else view.route_path
        return any(matches(path) for matches in self._exempt)

    def check(self, view: RequestView, now: float, trace: Trace | None = None) -> ReplayTicket:
        """Refuse unless the G2O headers prove the request came through Akamai.

        Returns what the replay store must see once: the whole data header,
        until the last second its time is within the window.
        """
        data = view.header(self.data_header)
        signature_text = view.header(self.sign_header)
        if data is None or signature_text is None:
            raise MissingIdentity("no Akamai G2O headers (the request did not come through Akamai)")
        if len(data) > MAX_DATA_BYTES or len(signature_text) > MAX_DATA_BYTES:
            raise TooLarge("the Akamai G2O headers are too large")
        fields = data.split(", ")
        if len(fields) != 6:
            raise MalformedHeader("the G2O data header is not six fields joined by ', '")
        version_text, edge_ip, client_ip, time_text, unique_id, key_name = fields
        if version_text not in ("1", "2", "3", "4", "5") or not _TIME.fullmatch(time_text):
            raise MalformedHeader("the G2O data header's version or time is not a number")
        if not all(_FIELD.fullmatch(f) for f in (edge_ip, client_ip, unique_id, key_name)):
            raise MalformedHeader("a G2O data header field is empty or holds spaces")
        version = int(version_text)
        if version not in self.versions:
            raise AlgorithmNotAllowed(f"G2O version {version} is not allowed")
        secret = self.keys.get(key_name)
        if secret is None:
            raise UnknownKey("the G2O key name is not configured")
        signed_at = int(time_text)
        if signed_at > now + self.window:
            raise NotYetValid("the G2O time is ahead of the window")
        if now - signed_at > self.window:
            raise Expired("the G2O time is outside the window")
        if trace:
            trace("gate", f"{self.name}: version {version}, key {key_name!r}, time {signed_at}")
        # Canonical padded base64 or nothing: another spelling of the same
        # bytes is another header, and would slip past the replay check.
        signature = structured.canonical_base64(signature_text)
        if signature is None or not signature_text:
            raise MalformedHeader("the G2O sign header is not padded base64")
        sign_string = view.raw_path
        if self.sign_string == "path_and_query" and view.raw_query is not None:
            sign_string += "?" + view.raw_query
        try:
            message = (data + sign_string).encode("latin-1")
        except UnicodeEncodeError:
            raise MalformedHeader("the G2O data header is not latin-1 text") from None
        expected = G2O_MACS[version](secret, message)
        # Full length, constant time: compare_digest of unequal lengths is False.
        if not hmac.compare_digest(expected, signature):
            raise BadSignature("the G2O signature does not verify")
        if trace:
            trace("gate", f"{self.name}: the signature over {self.sign_string} verifies")
        ttl = max(signed_at + self.window - now, 0.0) + REPLAY_MARGIN
        return ReplayTicket(key_name, data, ttl)

    def risks(self) -> tuple[tuple[str, str], ...]:
        """Valid but risky choices (``edgeclaims check``)."""
        risks = []
        md5 = sorted(self.versions & {1, 2, 3})  # 3 is HMAC-MD5
        if md5:
            risks.append(
                (
                    "W012",
                    f"G2O versions {md5} use MD5: allow version 5 (HMAC-SHA256) only, "
                    "once Akamai's property sends it",
                )
            )
        for key_name, secret in self.keys.items():
            if len(secret) < SHORT_SECRET_BYTES:
                risks.append(
                    (
                        "W013",
                        f"G2O key {key_name!r} is shorter than {SHORT_SECRET_BYTES} bytes: "
                        "a short secret can be guessed from signed requests",
                    )
                )
        return tuple(risks)


def parse_origin_gate(table: Table, *, base_dir: Path) -> G2OGate:
    """Build the gate an ``[edgeclaims.origin_gate]`` table describes."""
    gate_type = table.str("type")
    if gate_type not in GATE_TYPES:
        raise table.error("type", f"unknown origin gate type {gate_type!r}; known: akamai-g2o")
    allow_md5 = table.bool("allow_md5", False)
    versions = table.raw("versions", [5])
    if (
        not isinstance(versions, list)
        or not versions
        or any(type(v) is not int or v not in G2O_MACS for v in versions)
    ):
        raise table.error("versions", "must be a non-empty list of G2O versions 1 to 5")
    if not allow_md5 and _MD5_VERSIONS & set(versions):
        raise table.error("versions", "versions 1 and 2 (keyed MD5) need allow_md5 = true")
    keys: dict[str, bytes] = {}
    in_config: list[str] = []
    key_tables = table.tables("keys")
    if not key_tables:
        raise table.error("keys", "at least one key is required")
    for key_table in key_tables:
        key_name = key_table.str("id")
        if not _FIELD.fullmatch(key_name):
            raise key_table.error("id", "must be the key name Akamai sends: no spaces or commas")
        if key_name in keys:
            raise ConfigurationError(key_table.child_path("id"), f"duplicate key {key_name!r}")
        secret, written_here = load_shared_secret(key_table, base_dir=base_dir)
        if not secret:
            raise key_table.error("secret", "must not be empty")
        key_table.refuse_unknown()
        keys[key_name] = secret
        if written_here:
            in_config.append(key_name)
    exempt = table.str_list("exempt_paths", ())
    for index, glob in enumerate(exempt):
        if not glob.startswith("/"):
            raise ConfigurationError(
                f"{table.child_path('exempt_paths')}[{index}]", "a path must start with '/'"
            )
        check_path_glob(glob, f"{table.child_path('exempt_paths')}[{index}]")
    data_header = table.str("data_header", "X-Akamai-G2O-Auth-Data").lower()
    sign_header = table.str("sign_header", "X-Akamai-G2O-Auth-Sign").lower()
    for key, header in (("data_header", data_header), ("sign_header", sign_header)):
        if not re.fullmatch(r"[a-z0-9-]+", header):
            raise table.error(key, "must be a header name made of letters, digits and '-'")
    gate = G2OGate(
        name=table.str("name", gate_type),
        keys=keys,
        versions=frozenset(versions),
        sign_string=table.str("sign_string", "path_and_query", choices=("path_and_query", "path")),
        window=table.int("window", 30, minimum=1),
        exempt_paths=exempt,
        data_header=data_header,
        sign_header=sign_header,
        keys_in_config=tuple(in_config),
    )
    table.refuse_unknown()
    return gate
