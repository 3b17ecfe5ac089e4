"""edgeclaims: trust identity established at the CDN edge.

    import edgeclaims
    config = edgeclaims.load_config("edgeclaims.toml")   # or a mapping, or EDGECLAIMS_CONFIG

Then wrap the app with :class:`edgeclaims.wsgi.EdgeClaimsMiddleware` or
:class:`edgeclaims.asgi.EdgeClaimsMiddleware`. Only the core dependencies
are needed to import this package; frameworks and Redis are extras.
"""

from __future__ import annotations

from edgeclaims.config import Config, load_config
from edgeclaims.errors import ConfigurationError, EdgeClaimsError, VerificationError
from edgeclaims.identity import Identity

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigurationError",
    "EdgeClaimsError",
    "Identity",
    "VerificationError",
    "__version__",
    "load_config",
]
