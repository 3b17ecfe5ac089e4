"""edgeclaims sample: FastAPI.

Three routes: ``/healthz`` (public), ``/whoami`` (any verified identity),
``/admin`` (role ``admin``, checked by the ``require_roles`` dependency as
well as by ``[edgeclaims.routes]``). The configuration is the file named by
``EDGECLAIMS_CONFIG``, else ``edgeclaims.toml`` beside this module.

Locally, from this folder::

    uvicorn --host 127.0.0.1 --port 8000 main:app

Under IIS only HttpPlatformHandler can run it (``web.config``): wfastcgi
speaks WSGI, and an ASGI app fails there with a TypeError.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from edgeclaims.contrib.fastapi import CurrentIdentity, require_roles, setup_edgeclaims
from edgeclaims.identity import Identity

HERE = Path(__file__).resolve().parent

app = FastAPI(title="edgeclaims FastAPI sample")
setup_edgeclaims(app, os.environ.get("EDGECLAIMS_CONFIG") or str(HERE / "edgeclaims.toml"))


def _identity_document(identity: Identity) -> dict[str, Any]:
    return {
        "sub": identity.subject,
        "roles": sorted(identity.roles),
        "permissions": sorted(identity.permissions),
        "source": identity.source,
    }


@app.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/whoami")
async def whoami(identity: CurrentIdentity) -> dict[str, Any]:
    return _identity_document(identity)


@app.get("/admin")
async def admin(identity: Annotated[Identity, Depends(require_roles("admin"))]) -> dict[str, Any]:
    return {"admin": True, **_identity_document(identity)}
