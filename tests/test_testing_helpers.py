"""edgeclaims.testing and the pytest plugin, as a user's test suite uses them."""

from __future__ import annotations

from typing import Any

import pytest
from tables import config_mapping

from edgeclaims.config import Config, load_config
from edgeclaims.testing import EdgeSigner
from edgeclaims.wsgi import EdgeClaimsMiddleware

# The plugin is active through its pytest11 entry point (installed with edgeclaims).


@pytest.fixture
def edgeclaims_config() -> Config:
    return load_config(config_mapping())


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    identity = environ["edgeclaims.identity"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [identity.subject.encode() if identity else b"anonymous"]


def test_fixture_signs_for_the_configuration(
    edgeclaims_signer: EdgeSigner, edgeclaims_config: Config
) -> None:
    app = EdgeClaimsMiddleware(_app, edgeclaims_config)
    environ = edgeclaims_signer.wsgi_environ(
        "GET", "https://app.example.com/whoami", {"sub": "carol"}
    )
    statuses: list[str] = []
    body = b"".join(app(environ, lambda s, h, e=None: statuses.append(s)))
    assert (statuses, body) == (["200 OK"], b"carol")


def test_werkzeug_test_client_with_signed_headers(edgeclaims_config: Config) -> None:
    from werkzeug.test import Client

    signer = EdgeSigner.for_config(edgeclaims_config)
    client = Client(EdgeClaimsMiddleware(_app, edgeclaims_config))
    headers = signer.headers("GET", "http://localhost/whoami", {"sub": "dave"})
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 200
    assert response.get_data() == b"dave"
    assert client.get("/whoami", headers=headers).status_code == 401  # replayed


def test_for_config_without_hmac_key_says_so() -> None:
    mapping = config_mapping()
    mapping["sources"][0]["keys"] = [
        k for k in mapping["sources"][0]["keys"] if k["alg"] != "hmac-sha256"
    ]  # type: ignore[index]
    with pytest.raises(LookupError, match="HMAC key"):
        EdgeSigner.for_config(load_config(mapping))
