"""The decision log: one record per decision, the JSON formatter, opt-in Prometheus counters."""

from __future__ import annotations

import importlib
import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from tables import NOW, ORIGIN, Case, cases, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.engine import Engine, Outcome
from edgeclaims.errors import Forbidden
from edgeclaims.identity import Identity
from edgeclaims.logs import DECISION_FIELDS, JSONFormatter, install_metrics, log_view_refusal
from edgeclaims.request import RequestView
from edgeclaims.testing import build_asgi_scope

CONFIG = load_config(config_mapping())
CASES = cases()
LOGGER = logging.getLogger("edgeclaims")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record on the ``edgeclaims`` logger, INFO and up."""
    handler = Collect()
    level = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)


def decide(case: Case, config: Any = CONFIG) -> Outcome:
    engine = Engine(config, clock=lambda: NOW)
    return engine.decide(
        RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))
    )


def decision_fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(record.edgeclaims)  # type: ignore[attr-defined]


def formatted(record: logging.LogRecord, **kwargs: Any) -> dict[str, Any]:
    line = JSONFormatter(**kwargs).format(record)
    assert "\n" not in line
    document: dict[str, Any] = json.loads(line)
    return document


# -- one record per decision ------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_one_record_per_decision(case: Case, records: list[logging.LogRecord]) -> None:
    decide(case)
    decisions = [r for r in records if hasattr(r, "edgeclaims")]
    assert len(decisions) == 1
    fields = decision_fields(decisions[0])
    assert set(fields) == set(DECISION_FIELDS) - {"stage"}
    expected = {"ok": "accepted", "anonymous": "anonymous"}.get(case.expect, "refused")
    assert fields["outcome"] == expected
    assert fields["code"] == (None if expected != "refused" else case.expect)
    assert decisions[0].levelno == (logging.WARNING if expected == "refused" else logging.INFO)
    # The subject only once verified.
    if fields["subject"] is not None:
        assert expected == "accepted" or case.expect == "forbidden"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_json_lines_hold_no_claim_or_token(case: Case, records: list[logging.LogRecord]) -> None:
    decide(case)
    line = "\n".join(JSONFormatter().format(r) for r in records)
    for name, value in case.headers:
        if value and name.lower().replace("_", "-") in (
            "x-edge-claims",
            "signature",
            "signature-input",
        ):
            assert value not in line
    for secret in ("alice@example.com", "okta-admins", '"staff"'):
        assert secret not in line


def test_request_id_header_is_logged_and_bounded(records: list[logging.LogRecord]) -> None:
    config = load_config(config_mapping(request_id_header="X-Request-Id"))
    ok = Case("ok", "GET", ORIGIN + "/whoami", [*signed(), ("X-Request-Id", "req-42")], "ok")
    long = Case("long", "GET", ORIGIN + "/whoami", [("X-Request-Id", "r" * 1000)], "missing")
    decide(ok, config)
    decide(long, config)
    assert [decision_fields(r)["request_id"] for r in records] == ["req-42", "r" * 128]
    assert formatted(records[0])["request_id"] == "req-42"


# -- the JSON formatter --------------------------------------------------------------


def test_json_formatter_shape(records: list[logging.LogRecord]) -> None:
    decide(Case("ok", "GET", ORIGIN + "/whoami", signed(), "ok"))
    document = formatted(records[0], static_fields={"service": "orders", "level": "spoofed"})
    assert document == {
        "service": "orders",
        "timestamp": document["timestamp"],
        "level": "INFO",
        "logger": "edgeclaims",
        "message": document["message"],
        "outcome": "accepted",
        "code": None,
        "source": "rfc9421",
        "key_id": "2026-11",
        "subject": "alice",
        "method": "GET",
        "path": "/whoami",
        "request_id": None,
    }
    assert document["timestamp"].endswith("Z")
    assert "T" in document["timestamp"]


def test_only_decision_fields_leave_the_record() -> None:
    record = logging.LogRecord("edgeclaims", logging.WARNING, __file__, 1, "m", None, None)
    record.edgeclaims = {"outcome": "refused", "email": "a@example.com", "token": "eyJ"}
    document = formatted(record)
    assert document["outcome"] == "refused"
    assert "email" not in document
    assert "token" not in document


def test_other_records_exceptions_and_non_ascii() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed for %s", ("Zoë",), sys.exc_info()
        )
    line = JSONFormatter().format(record)
    assert line.isascii()
    document = json.loads(line)
    assert document["message"] == "failed for Zoë"
    assert "RuntimeError: boom" in document["exception"]
    assert "outcome" not in document


@pytest.mark.parametrize(
    "entry",
    [
        {"()": "edgeclaims.logs.JSONFormatter", "static_fields": {"app": "x"}},
        {"class": "edgeclaims.logs.JSONFormatter", "format": "%(message)s"},
    ],
    ids=["factory", "class"],
)
def test_usable_from_dict_config(entry: dict[str, Any]) -> None:
    # What logging.config.dictConfig does with a "formatters" entry, without
    # reconfiguring the test run's logging.
    formatter = logging.config.DictConfigurator({}).configure_formatter(dict(entry))
    assert isinstance(formatter, JSONFormatter)
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
    document = json.loads(formatter.format(record))
    assert document["message"] == "hello"
    assert document.get("app") == entry.get("static_fields", {}).get("app")


def test_view_refusals_are_logged_with_their_stage(records: list[logging.LogRecord]) -> None:
    identity = Identity("alice", {"sub": "alice", "email": "a@x"}, source="rfc9421", key_id="k")
    log_view_refusal(Forbidden(), identity, method="GET", path="/admin")
    fields = decision_fields(records[0])
    assert fields == {
        "outcome": "refused",
        "code": "forbidden",
        "source": "rfc9421",
        "key_id": "k",
        "subject": "alice",
        "method": "GET",
        "path": "/admin",
        "request_id": None,
        "stage": "view",
    }


# -- Prometheus counters --------------------------------------------------------------


@pytest.fixture
def prometheus_client() -> ModuleType:
    """prometheus-client, or a skip — except under CI, where it must be installed."""
    if os.environ.get("CI"):
        return importlib.import_module("prometheus_client")
    return pytest.importorskip("prometheus_client")


@pytest.fixture
def registry(prometheus_client: ModuleType) -> Iterator[Any]:
    level = LOGGER.level
    LOGGER.setLevel(logging.NOTSET)
    registry = prometheus_client.CollectorRegistry()
    try:
        yield registry
    finally:
        for existing in list(LOGGER.filters):
            LOGGER.removeFilter(existing)
        LOGGER.setLevel(level)


def test_install_metrics_counts_decisions(registry: Any, prometheus_client: ModuleType) -> None:
    counter = install_metrics(registry)
    assert LOGGER.getEffectiveLevel() == logging.INFO  # else accepted requests go uncounted
    assert install_metrics(registry) is counter
    for case in CASES:
        decide(case)
    log_view_refusal(Forbidden(), None, method="GET", path="/x")

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    accepted = sum(c.expect == "ok" for c in CASES)
    bad = sum(c.expect == "bad_signature" for c in CASES)
    assert (
        value("edgeclaims_decisions_total", outcome="accepted", code="", source="rfc9421")
        == accepted
    )
    assert value("edgeclaims_decisions_total", outcome="anonymous", code="", source="") == 1
    assert (
        value(
            "edgeclaims_decisions_total", outcome="refused", code="bad_signature", source="rfc9421"
        )
        == bad
    )
    assert value("edgeclaims_view_refusals_total", code="forbidden", source="") == 1
    exposition = prometheus_client.generate_latest(registry).decode()
    assert "alice" not in exposition
    assert "/whoami" not in exposition

    counter.uninstall()
    decide(CASES[0])
    assert value("edgeclaims_decisions_total", outcome="accepted", code="", source="rfc9421") == 0
    assert counter not in LOGGER.filters


def test_metrics_never_change_what_logging_prints(registry: Any) -> None:
    install_metrics(registry)
    assert not [h for h in LOGGER.handlers if type(h).__module__ == "edgeclaims.logs"]


def test_install_metrics_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match="pip install prometheus-client"):
        install_metrics()


def test_importing_edgeclaims_needs_no_framework_and_registers_no_metric(
    prometheus_client: ModuleType,
) -> None:
    script = """
import importlib.abc, sys

BLOCKED = ("flask", "django", "fastapi", "starlette", "prometheus_client")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked: " + name)
        return None

sys.meta_path.insert(0, Block())
import edgeclaims, edgeclaims.wsgi, edgeclaims.asgi, edgeclaims.logs, edgeclaims.contrib
assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]
sys.meta_path.pop(0)
import prometheus_client
assert not [m for m in prometheus_client.REGISTRY.collect() if m.name.startswith("edgeclaims")]
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr
