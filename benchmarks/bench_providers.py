"""gcp-iap, cloudflare-access, pomerium and aws-alb verification next to PyJWT's ``jwt.decode``.

    python benchmarks/bench_providers.py

For each provider the same provider-shaped token (edgeclaims.testing's
ProviderTokens: IAP ES256, Access RS256 with its ``aud`` list, Pomerium
ES256, ALB's padded ES256) goes through:

* the provider's source, keys fetched once from a real JWKS server on
  127.0.0.1 (warm JWKS cache), its verified-token cache off: every call
  parses, checks the header, verifies the signature and the claims;
* the same source with the verified-token cache on, the token already seen;
* PyJWT ``jwt.decode`` with the same public key already in hand, checking
  exp, iss and aud (ALB: the same header and claims signed by the same key
  without padding, as PyJWT reads a JWT; exp and iss).

Budget (issue #15): each provider's warm verification ≤ 0.8× PyJWT decode
(the cache-off row: the cache hit is far below it). Sides are timed in
alternating bursts (``interleaved_medians``) so load on a shared machine
falls on both alike.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from common import interleaved_medians, report

from edgeclaims.config_table import Table
from edgeclaims.request import RequestView
from edgeclaims.sources import Source, parse_source_config
from edgeclaims.testing import ProviderTokens

NOW = 1_795_731_572
IAP_AUDIENCE = "/projects/123456789012/global/backendServices/4567890123456789"
CF_TEAM = "myteam.cloudflareaccess.com"
CF_AUDIENCE = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
ROUTE = "orders.corp.example.com"
ALB_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
)
ALB_ISSUER = "https://login.example.com"
ALB_CLIENT = "0oa1b2c3d4e5f6g7h8i9"


def _source(table: dict[str, Any], cache_size: int) -> Source:
    return parse_source_config(
        Table({**table, "cache_size": cache_size}, "sources[0]"),
        base_dir=Path.cwd(),
        replay_enabled=False,
    )


def _view(headers: dict[str, str]) -> RequestView:
    return RequestView(
        method="GET",
        scheme="https",
        authority="app.example.com",
        raw_path="/api/orders",
        raw_query=None,
        route_path="/api/orders",
        peer=None,
        headers={name.lower(): [value] for name, value in headers.items()},
    )


def _unpadded_alb(headers: dict[str, str], tokens: ProviderTokens) -> dict[str, str]:
    """The ALB token's header and claims, signed by the same key without padding (a plain JWT)."""
    (token,) = headers.values()
    header, claims = (json.loads(base64.urlsafe_b64decode(part)) for part in token.split(".")[:2])
    del header["alg"]  # PyJWT sets it from `algorithm`
    plain = jwt.encode(claims, tokens.ec_key, algorithm="ES256", headers=header)
    return {"x-amzn-oidc-data": plain}


def main() -> None:
    with ProviderTokens.serving(clock=lambda: NOW) as tokens:
        live = ProviderTokens(clock=time.time)  # PyJWT checks exp against the real clock
        live.ec_key, live.rsa_key = tokens.ec_key, tokens.rsa_key  # type: ignore[misc]
        url = tokens.jwks_url
        providers: list[tuple[str, dict[str, Any], dict[str, str], dict[str, str], Any, str, dict[str, str]]] = [
            (
                "gcp-iap ES256",
                {"type": "gcp-iap", "audience": IAP_AUDIENCE, "jwks_url": url},
                tokens.gcp_iap(IAP_AUDIENCE),
                live.gcp_iap(IAP_AUDIENCE),
                tokens.ec_key.public_key(),
                "ES256",
                {"audience": IAP_AUDIENCE, "issuer": "https://cloud.google.com/iap"},
            ),
            (
                "cloudflare-access RS256",
                {"type": "cloudflare-access", "team_domain": CF_TEAM, "audience": CF_AUDIENCE, "jwks_url": url},
                tokens.cloudflare_access(CF_TEAM, CF_AUDIENCE),
                live.cloudflare_access(CF_TEAM, CF_AUDIENCE),
                tokens.rsa_key.public_key(),
                "RS256",
                {"audience": CF_AUDIENCE, "issuer": f"https://{CF_TEAM}"},
            ),
            (
                "pomerium ES256",
                {"type": "pomerium", "route_domain": ROUTE, "jwks_url": url},
                tokens.pomerium(ROUTE),
                live.pomerium(ROUTE),
                tokens.ec_key.public_key(),
                "ES256",
                {"audience": ROUTE, "issuer": ROUTE},
            ),
            (
                "aws-alb ES256 (padded)",
                {"type": "aws-alb", "signer_arn": ALB_ARN, "key_base_url": tokens.alb_key_base_url,
                 "issuer": ALB_ISSUER, "client_id": ALB_CLIENT},
                tokens.aws_alb(ALB_ARN, issuer=ALB_ISSUER, client_id=ALB_CLIENT),
                # PyJWT gets the same header and claims, unpadded (the form it reads as a JWT).
                _unpadded_alb(live.aws_alb(ALB_ARN, issuer=ALB_ISSUER, client_id=ALB_CLIENT), live),
                tokens.ec_key.public_key(),
                "ES256",
                {"issuer": ALB_ISSUER},
            ),
        ]  # fmt: skip
        for label, table, headers, live_headers, public_key, alg, expect in providers:
            view = _view(headers)
            cold = _source(table, cache_size=0)
            warm = _source(table, cache_size=1024)
            assert cold.verify(view, NOW).subject
            assert warm.verify(view, NOW).subject
            (live_token,) = live_headers.values()

            def pyjwt_decode(
                token: str = live_token,
                key: Any = public_key,
                alg: str = alg,
                expect: dict[str, str] = expect,
            ) -> object:
                return jwt.decode(token, key, algorithms=[alg], **expect)

            pyjwt_decode()
            verify_cold: Callable[[], object] = lambda s=cold, v=view: s.verify(v, NOW)  # noqa: E731
            verify_warm: Callable[[], object] = lambda s=warm, v=view: s.verify(v, NOW)  # noqa: E731
            names = (
                f"edgeclaims {label} verify (JWKS warm, token cache off)",
                f"PyJWT decode {label} (key in hand; exp, iss, aud)",
                f"edgeclaims {label} token cache hit",
            )
            print(label)
            rows = interleaved_medians(
                dict(zip(names, (verify_cold, pyjwt_decode, verify_warm), strict=True)),
                number=100,
            )
            report(
                rows,
                [
                    (f"{label}: edgeclaims verify / PyJWT decode", names[0], names[1], 0.8),
                    (f"{label}: edgeclaims cache hit / PyJWT decode", names[2], names[1], 0.8),
                ],
            )
            print()


if __name__ == "__main__":
    main()
