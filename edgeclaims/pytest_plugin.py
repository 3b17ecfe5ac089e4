"""Pytest fixtures for testing your own views behind edgeclaims.

Installed with edgeclaims, the plugin is active in every pytest run (it is
the ``pytest11`` entry point ``edgeclaims``; ``-p no:edgeclaims`` turns it
off). Ask for ``edgeclaims_signer``: an :class:`~edgeclaims.testing.EdgeSigner`
for the configuration ``EDGECLAIMS_CONFIG`` names (or override the
``edgeclaims_config`` fixture to return a mapping or a path).
"""

from __future__ import annotations

import pytest

from edgeclaims.config import Config, load_config
from edgeclaims.testing import EdgeSigner


@pytest.fixture
def edgeclaims_config() -> Config:
    """The configuration under test (``EDGECLAIMS_CONFIG`` unless overridden)."""
    return load_config()


@pytest.fixture
def edgeclaims_signer(edgeclaims_config: Config) -> EdgeSigner:
    """Signs requests as the edge would, with an HMAC key of the configuration."""
    return EdgeSigner.for_config(edgeclaims_config)
