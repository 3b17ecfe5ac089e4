"""Tokens shaped like IAP's, Cloudflare Access's, Pomerium's and AWS ALB's, for your tests.

Exposed as :class:`edgeclaims.testing.ProviderTokens`::

    from edgeclaims.testing import ProviderTokens

    with ProviderTokens.serving() as tokens:        # its public keys on a loopback JWKS URL
        settings = {"sources": [{"type": "gcp-iap", "audience": AUDIENCE,
                                 "jwks_url": tokens.jwks_url}]}
        ...                                          # build your app with these settings
        client.get("/whoami", headers=tokens.gcp_iap(AUDIENCE, email="alice@example.com"))

The keys are made for the test run (a P-256 key for ES256, an RSA key for
RS256, an Ed25519 key for Pomerium's EdDSA); the JWK Set holds their public
halves. Headers, claims and their shapes follow the providers' own
(spec/providers.md); ``**claims`` adds or replaces claims (``None`` removes one).

Azure App Service's principal is not signed: :func:`easyauth_principal`
(``edgeclaims.testing.easyauth_principal``) builds its header, no key needed.

AWS ALB's ``x-amzn-oidc-data`` (:meth:`ProviderTokens.aws_alb`) is signed
by the same P-256 key; ALB serves one PEM per key id instead of a JWK Set,
and :meth:`ProviderTokens.serving` serves it at ``alb_key_base_url + "/" +
ALB_KID`` (else serve :meth:`ProviderTokens.alb_public_key_pem` yourself)::

    settings = {"sources": [{"type": "aws-alb", "signer_arn": ARN,
                             "key_base_url": tokens.alb_key_base_url}]}
    client.get("/whoami", headers=tokens.aws_alb(ARN, email="alice@example.com"))

oauth2-proxy signs with a shared key: :func:`gap_signature`
(``edgeclaims.sources.oauth2_proxy.gap_signature``) computes the
``GAP-Signature`` header it would add, for the key given as its own
``"<alg>:<secret>"``::

    headers = {"X-Forwarded-User": "alice", "X-Forwarded-Email": "alice@example.com"}
    headers |= gap_signature("POST", "/orders", headers, b'{"n": 1}', key="sha256:" + SECRET)
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from edgeclaims.algorithms import SignKey
from edgeclaims.jose import sign_jws
from edgeclaims.jwks import jwks_document
from edgeclaims.sources.aws_alb import mint_alb_token
from edgeclaims.sources.oauth2_proxy import gap_signature

__all__ = ["ALB_KID", "ProviderTokens", "easyauth_principal", "gap_signature"]

_KIDS = {"ES256": "edgeclaims-test-es256", "RS256": "edgeclaims-test-rs256", "EdDSA": "ed-test"}
#: The key id of :meth:`ProviderTokens.aws_alb` tokens (ALB's kids are UUIDs).
ALB_KID = "6c1f8f0e-9a5b-4d3e-8f21-3b7a0c2d4e5f"
_ALB_KEYS_PATH = "/alb-keys"


class ProviderTokens:
    """Mint provider-shaped tokens; each method returns the request header that carries one.

    ``clock`` gives ``iat``; tokens are valid for ``lifetime`` seconds.
    ``jwks_url`` is set by :meth:`serving` (else serve :meth:`jwks` yourself).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, lifetime: int = 600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.jwks_url: str | None = None
        #: The ``key_base_url`` of an ``aws-alb`` source, set by :meth:`serving`.
        self.alb_key_base_url: str | None = None

    @cached_property
    def ec_key(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    @cached_property
    def rsa_key(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @cached_property
    def ed_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        """The JWK Set of the public keys (also a valid Cloudflare certs document)."""
        keys: list[tuple[str, str, SignKey]] = [
            (_KIDS["ES256"], "ES256", self.ec_key),
            (_KIDS["RS256"], "RS256", self.rsa_key),
            (_KIDS["EdDSA"], "EdDSA", self.ed_key),
        ]
        return dict(jwks_document(keys))

    @classmethod
    @contextlib.contextmanager
    def serving(cls, **options: Any) -> Iterator[ProviderTokens]:
        """Tokens whose JWK Set an HTTP server on 127.0.0.1 serves at ``jwks_url`` meanwhile."""
        tokens = cls(**options)
        body = json.dumps(tokens.jwks()).encode()
        alb_pem = tokens.alb_public_key_pem().encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, answer, kind = 200, body, "application/json"
                if self.path.startswith(_ALB_KEYS_PATH + "/"):
                    # ALB's key endpoint: one PEM per kid, 404 for any other.
                    known = self.path == f"{_ALB_KEYS_PATH}/{ALB_KID}"
                    status, answer, kind = (200 if known else 404), alb_pem, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer) if status == 200 else 0))
                self.end_headers()
                if status == 200:
                    self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        tokens.jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        tokens.alb_key_base_url = f"http://127.0.0.1:{server.server_address[1]}{_ALB_KEYS_PATH}"
        try:
            yield tokens
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    def gcp_iap(
        self,
        audience: str,
        *,
        email: str | None = "alice@example.com",
        sub: str = "accounts.google.com:118204235421157233421",
        hd: str | None = "example.com",
        **claims: Any,
    ) -> dict[str, str]:
        """``x-goog-iap-jwt-assertion`` for ``audience`` (``/projects/<NUMBER>/…``)."""
        payload = {
            "aud": audience,
            "azp": audience,
            "email": email,
            "hd": hd,
            "identity_source": "GOOGLE",
            "iss": "https://cloud.google.com/iap",
            "sub": sub,
        }
        return {"x-goog-iap-jwt-assertion": self._sign("ES256", payload, claims)}

    def cloudflare_access(
        self,
        team_domain: str,
        audience: str,
        *,
        email: str | None = "alice@example.com",
        common_name: str | None = None,
        **claims: Any,
    ) -> dict[str, str]:
        """``Cf-Access-Jwt-Assertion`` for the AUD tag ``audience``.

        With ``common_name`` (and no ``email``) the token is a service token's:
        ``sub`` is ``""`` and ``common_name`` names the client.
        """
        service = common_name is not None
        payload: dict[str, Any] = {
            "aud": [audience],
            "iss": f"https://{team_domain}",
            "type": "app",
            "sub": "" if service else str(uuid.uuid4()),
        }
        if service:
            payload["common_name"] = common_name
        else:
            payload.update(email=email, identity_nonce=uuid.uuid4().hex[:16], country="US")
        return {"Cf-Access-Jwt-Assertion": self._sign("RS256", payload, claims, nbf=True)}

    def pomerium(
        self,
        route_domain: str,
        *,
        email: str = "alice@example.com",
        sub: str = "CgVhbGljZRIEbG9jYWw",
        issuer: str | None = None,
        alg: str = "ES256",
        **claims: Any,
    ) -> dict[str, str]:
        """``X-Pomerium-Jwt-Assertion`` for the route ``route_domain`` (v0.22+: iss = route)."""
        payload = {
            "aud": route_domain,
            "iss": issuer or route_domain,
            "sub": sub,
            "user": sub,
            "email": email,
            "groups": [],
            "jti": str(uuid.uuid4()),
        }
        return {"X-Pomerium-Jwt-Assertion": self._sign(alg, payload, claims)}

    def alb_public_key_pem(self) -> str:
        """The PEM ALB's key endpoint answers for :data:`ALB_KID` (the ES256 key's public half)."""
        from cryptography.hazmat.primitives import serialization

        return (
            self.ec_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def aws_alb(
        self,
        signer_arn: str,
        *,
        email: str | None = "alice@example.com",
        sub: str = "9f3c1e2a-5b7d-4c8e-a1f0-2d4b6c8e0a1b",
        issuer: str = "https://idp.example.com",
        client_id: str = "edgeclaims-test-client",
        kid: str = ALB_KID,
        **claims: Any,
    ) -> dict[str, str]:
        """``x-amzn-oidc-data`` as the load balancer ``signer_arn`` writes it (padded ES256).

        The header holds ``kid``, ``signer``, ``iss`` (the IdP), ``client``
        and ``exp``; the payload is the IdP's user info with ``exp`` and ``iss``.
        """
        now = int(self.clock())
        header = {
            "typ": "JWT",
            "kid": kid,
            "alg": "ES256",
            "iss": issuer,
            "client": client_id,
            "signer": signer_arn,
            "exp": now + self.lifetime,
        }
        payload: dict[str, Any] = {
            "sub": sub,
            "email": email,
            "email_verified": "true",
            "exp": now + self.lifetime,
            "iss": issuer,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return {"x-amzn-oidc-data": mint_alb_token(header, payload, self.ec_key)}

    def _sign(
        self, alg: str, payload: dict[str, Any], claims: dict[str, Any], *, nbf: bool = False
    ) -> str:
        now = int(self.clock())
        payload.update(iat=now, exp=now + self.lifetime)
        if nbf:
            payload["nbf"] = now
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        if alg not in _KIDS:
            raise ValueError(f"ProviderTokens signs with {', '.join(_KIDS)}, not {alg!r}")
        # Only the key asked for is made (an RSA key takes a while).
        key: SignKey = (
            self.ec_key if alg == "ES256" else self.rsa_key if alg == "RS256" else self.ed_key
        )
        return sign_jws(payload, _KIDS[alg], alg, key)


def easyauth_principal(
    subject: str = "alice@example.com",
    *,
    claims: dict[str, str | list[str]] | None = None,
    roles: Sequence[str] = (),
    shape: str = "app-service",
    identity_provider: str = "aad",
) -> dict[str, str]:
    """``X-MS-CLIENT-PRINCIPAL`` as Azure App Service (or Static Web Apps) sets it.

    For the ``azure-easyauth`` source, which trusts it unsigned: the header
    is padded standard base64 of compact JSON. ``shape = "app-service"``:
    ``auth_typ`` is ``identity_provider``, ``subject`` is the claim of
    ``name_typ`` (.NET's name claim URI), each role a claim of ``role_typ``
    (the role URI), and ``claims`` adds claims by typ (a list: one claim per
    value). ``shape = "static-web-apps"``: ``subject`` is ``userId`` and
    ``userDetails``, ``userRoles`` is ``anonymous``, ``authenticated`` and
    ``roles``, and ``claims`` fills the optional ``claims`` list.
    """
    name_typ = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
    role_typ = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    listed = [
        {"typ": typ, "val": val}
        for typ, value in (claims or {}).items()
        for val in ([value] if isinstance(value, str) else value)
    ]
    principal: dict[str, Any]
    if shape == "app-service":
        principal = {
            "auth_typ": identity_provider,
            "claims": [
                {"typ": name_typ, "val": subject},
                *listed,
                *({"typ": role_typ, "val": role} for role in roles),
            ],
            "name_typ": name_typ,
            "role_typ": role_typ,
        }
    elif shape == "static-web-apps":
        principal = {
            "identityProvider": identity_provider,
            "userId": subject,
            "userDetails": subject,
            "userRoles": ["anonymous", "authenticated", *roles],
        }
        if listed:
            principal["claims"] = listed
    else:
        raise ValueError(f"shape is 'app-service' or 'static-web-apps', not {shape!r}")
    text = json.dumps(principal, separators=(",", ":")).encode("utf-8")
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(text).decode("ascii")}
