"""The two families of failure: bad configuration and untrusted requests.

``ConfigurationError`` is raised once, at start-up, and names the offending
key path. ``VerificationError`` is raised per request; its ``code`` is a
stable identifier used in logs, metrics, the CLI and problem responses
(spec/signed-headers.md, "Error codes"). Messages never carry secrets, raw
tokens or claim values: they describe *what* was wrong, not the data.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AlgorithmNotAllowed",
    "AmbiguousHeader",
    "AmbiguousRequest",
    "BadAudience",
    "BadIssuer",
    "BadSignature",
    "BindingMismatch",
    "BodyTooLarge",
    "ConfigurationError",
    "EdgeClaimsError",
    "Expired",
    "Forbidden",
    "IncompleteClaims",
    "InsufficientCoverage",
    "KeySourceUnavailable",
    "MalformedHeader",
    "MissingIdentity",
    "NotYetValid",
    "ReplayStoreUnavailable",
    "Replayed",
    "TooLarge",
    "UnknownKey",
    "UnsupportedComponent",
    "UntrustedPeer",
    "VerificationError",
]


class EdgeClaimsError(Exception):
    """Base class of every error edgeclaims raises on purpose."""


class ConfigurationError(EdgeClaimsError):
    """The configuration is unusable; raised before the first request.

    ``path`` is the key path of the offending setting, e.g.
    ``sources[0].keys[1].secret_env``.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class VerificationError(EdgeClaimsError):
    """A request's identity could not be trusted.

    Subclasses fix ``code`` (stable, machine-readable) and ``status`` (the
    HTTP status the middleware answers with). ``detail`` is a short human
    explanation that is safe to log and to show to the caller.
    """

    code: ClassVar[str] = "malformed"
    status: ClassVar[int] = 401
    title: ClassVar[str] = "Invalid identity"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class MissingIdentity(VerificationError):
    code = "missing"
    title = "No identity header"


class MalformedHeader(VerificationError):
    code = "malformed"
    title = "Malformed identity header"


class AmbiguousHeader(VerificationError):
    code = "ambiguous"
    title = "Ambiguous identity header"


class AmbiguousRequest(VerificationError):
    """The request's path or method has more than one reading (docs/roles.md).

    A dot or empty segment, a backslash, a path that is not UTF-8, or a
    method that is not upper-case: servers and frameworks disagree on what
    such a request names, so no route decision about it can be trusted.
    """

    code = "ambiguous_request"
    status = 400
    title = "Ambiguous request path or method"


class IncompleteClaims(VerificationError):
    """Verified claims that name no one: no subject string, or a required claim missing.

    A signed ``{}`` is authentic but is not an identity; letting it through
    would hand views an ``Identity`` whose subject is empty.
    """

    code = "incomplete_claims"
    title = "Identity without a subject"


class InsufficientCoverage(VerificationError):
    code = "insufficient_coverage"
    title = "Signature does not cover the required components"


class UnsupportedComponent(VerificationError):
    code = "unsupported"
    title = "Unsupported signature component or parameter"


class UnknownKey(VerificationError):
    code = "unknown_key"
    title = "Unknown key"


class AlgorithmNotAllowed(VerificationError):
    code = "algorithm_not_allowed"
    title = "Algorithm not allowed"


class BadSignature(VerificationError):
    code = "bad_signature"
    title = "Bad signature"


class Expired(VerificationError):
    code = "expired"
    title = "Identity expired"


class NotYetValid(VerificationError):
    code = "not_yet_valid"
    title = "Identity not yet valid"


class BadIssuer(VerificationError):
    code = "bad_issuer"
    title = "Unexpected issuer"


class BadAudience(VerificationError):
    code = "bad_audience"
    title = "Unexpected audience"


class BindingMismatch(VerificationError):
    code = "binding_mismatch"
    title = "Identity is bound to another request"


class Replayed(VerificationError):
    code = "replayed"
    title = "Replayed identity"


class ReplayStoreUnavailable(VerificationError):
    code = "replay_store_unavailable"
    status = 503
    title = "Replay store unavailable"


class KeySourceUnavailable(VerificationError):
    code = "key_source_unavailable"
    status = 503
    title = "Key source unavailable"


class UntrustedPeer(VerificationError):
    code = "untrusted_peer"
    title = "Request did not come through a trusted peer"


class TooLarge(VerificationError):
    code = "too_large"
    status = 431
    title = "Identity header too large"


class BodyTooLarge(TooLarge):
    """A body a source signs (GAP-Signature) beyond its ``max_body``: same code, 413."""

    status = 413
    title = "Request body too large"


class Forbidden(VerificationError):
    code = "forbidden"
    status = 403
    title = "Forbidden"
