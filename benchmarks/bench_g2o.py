"""The Akamai G2O origin gate: the whole WSGI call through it, next to PyJWT's HS256 decode.

    python benchmarks/bench_g2o.py

Budget (issue #15): the WSGI middleware's call for a request that passes
the gate (version 5, HMAC-SHA256; the route public once through it, so the
gate decides alone) ≤ 0.4× PyJWT ``jwt.decode`` of an HS256 token. Replay
off, as in bench_rfc9421.py's WSGI budget: the store's cost is the replay
benchmark's. Timed in alternating bursts in one run; medians.
"""

from __future__ import annotations

from typing import Any

import jwt
from common import interleaved_medians, report

from edgeclaims.config import load_config
from edgeclaims.testing import akamai_g2o_headers, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware

NOW = 1_782_000_000
KEY_TEXT = "3f9c0d2a7b1e4c58a6d0e2f4b7c9a1d3"  # a G2O key as Akamai's UI shows it
URL = "https://origin.example.com/orders/list?page=2"
SECRET = b"k" * 32
CLAIMS = {"sub": "alice", "groups": ["viewers"], "exp": NOW + 300}


def main() -> None:
    config = {
        "origin_gate": {
            "type": "akamai-g2o",
            "keys": [{"id": "g2o-2026", "secret": "utf8:" + KEY_TEXT}],
        },
        "public_paths": ["/*"],
        "replay": {"store": "off"},
    }

    def bare_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    middleware = EdgeClaimsMiddleware(bare_app, load_config(config), clock=lambda: NOW)
    headers = akamai_g2o_headers(URL, "g2o-2026", KEY_TEXT, clock=lambda: NOW)
    environ = build_wsgi_environ("GET", URL, headers)
    start = lambda status, headers, exc_info=None: None  # noqa: E731
    statuses: list[str] = []
    middleware(dict(environ), lambda status, headers, exc_info=None: statuses.append(status))
    if statuses != ["200 OK"]:
        raise SystemExit(f"the gate refused the benchmark's request: {statuses}")
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256")
    options = {"verify_exp": False}

    rows = interleaved_medians(
        {
            "WSGI call through the G2O gate (v5)": lambda: middleware(dict(environ), start),
            "bare WSGI app call": lambda: bare_app(dict(environ), start),
            "PyJWT decode HS256": lambda: jwt.decode(
                token, SECRET, algorithms=["HS256"], options=options
            ),
        }
    )
    print(f"PyJWT {jwt.__version__}")
    report(
        rows,
        [
            (
                "WSGI call through the G2O gate / PyJWT HS256 decode",
                "WSGI call through the G2O gate (v5)",
                "PyJWT decode HS256",
                0.4,
            )
        ],
    )


if __name__ == "__main__":
    main()
