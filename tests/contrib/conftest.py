"""Parametrisation shared by the framework tests (tables in contrib_tables.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
for folder in (TESTS, TESTS / "contrib"):  # tables.py, servers.py, contrib_tables.py
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from contrib_tables import CASES, PRIVILEGES  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "table_case" in metafunc.fixturenames:
        metafunc.parametrize("table_case", CASES, ids=[c.id for c in CASES])
    if "privilege_case" in metafunc.fixturenames:
        metafunc.parametrize("privilege_case", PRIVILEGES, ids=[p.id for p in PRIVILEGES])
