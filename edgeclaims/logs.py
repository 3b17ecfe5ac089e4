"""The decision log, as JSON for log shippers, and opt-in Prometheus counters.

The engine writes one record per decision on the ``edgeclaims`` logger
(INFO when a request goes on, WARNING when it is refused or only monitored)
with a mapping in ``record.edgeclaims``: ``outcome``, ``code``, ``source``,
``key_id``, ``subject``, ``method``, ``path`` and ``request_id`` (the edge's
request id header, when ``request_id_header`` is configured). The framework
integrations add one record when a view-level requirement (a decorator, a
mixin, a dependency) refuses a request, with ``stage = "view"``.

:class:`JSONFormatter` turns each record into one line of JSON that
CloudWatch Logs, Splunk, Elastic or Loki read without a parsing rule::

    import logging
    from edgeclaims.logs import JSONFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter(static_fields={"service": "orders"}))
    logging.getLogger("edgeclaims").addHandler(handler)
    logging.getLogger("edgeclaims").setLevel(logging.INFO)   # accepted requests too

:func:`install_metrics` counts the same records with ``prometheus-client``;
nothing is registered until it is called.

**Security:** only the named decision fields leave the record — never a
secret, a token, a signature or a claim value other than the verified
subject, whatever else a caller put into ``record.edgeclaims``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from edgeclaims.errors import VerificationError
from edgeclaims.identity import Identity

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter

    from edgeclaims.engine import Outcome
    from edgeclaims.request import RequestView

__all__ = [
    "DECISION_FIELDS",
    "DecisionCounter",
    "JSONFormatter",
    "install_metrics",
    "log_outcome",
    "log_view_refusal",
]

LOGGER_NAME = "edgeclaims"

#: The fields of a decision record that are ever written out, in this order.
DECISION_FIELDS = (
    "outcome",
    "code",
    "source",
    "key_id",
    "subject",
    "method",
    "path",
    "request_id",
    "stage",
)

logger = logging.getLogger(LOGGER_NAME)


def _decision(record: logging.LogRecord) -> Mapping[str, object] | None:
    fields = getattr(record, "edgeclaims", None)
    return fields if isinstance(fields, Mapping) else None


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the decision fields.

    ``static_fields`` are added to every line (service name, environment,
    host) and never override the record's own fields. Usable from
    ``logging.config.dictConfig`` as ``{"()": "edgeclaims.logs.JSONFormatter"}``.
    Non-ASCII text is escaped, so a Windows console or a cp1252 log file
    never fails on a subject's name.
    """

    def __init__(
        self, *args: Any, static_fields: Mapping[str, object] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.static_fields = dict(static_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = dict(self.static_fields)
        document["timestamp"] = (
            datetime.fromtimestamp(record.created, tz=timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        document["level"] = record.levelname
        document["logger"] = record.name
        document["message"] = record.getMessage()
        fields = _decision(record)
        if fields is not None:
            for name in DECISION_FIELDS:
                if name in fields:
                    document[name] = fields[name]
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, separators=(",", ":"))


def printable(value: object) -> str:
    """A value as one line of plain ASCII for the text log line.

    The path is the client's, decoded (even on a refused request), and the
    subject is whatever the edge signed: a ``%0A`` in either would otherwise
    start a forged record in a text log. Control characters, non-ASCII and
    backslashes are written as Python escapes; the JSON fields keep the
    value itself, which JSON escapes on its own.
    """
    text = str(value)
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii")


def log_outcome(view: RequestView, outcome: Outcome, request_id_header: str | None) -> Outcome:
    """Write the engine's one record for a decision (fields: :data:`DECISION_FIELDS`).

    Returns ``outcome``, so the engine ends on it. Nothing is built when the
    logger would drop the record.
    """
    level = logging.WARNING if outcome.refusal or outcome.observed else logging.INFO
    if not logger.isEnabledFor(level):
        return outcome
    if outcome.refusal:
        verdict = "refused"
    elif outcome.observed:
        verdict = "monitored"
    else:
        verdict = "accepted" if outcome.identity else "anonymous"
    request_id = None
    if request_id_header:
        values = view.header_values(request_id_header.lower())
        # Bounded: the id is the edge's, but a client could send one too.
        request_id = values[0][:128] if values else None
    record = {
        "outcome": verdict,
        "code": outcome.code,
        "source": outcome.source,
        "key_id": outcome.key_id,
        # Subject only once verified; never other claim values.
        "subject": outcome.identity.subject if outcome.identity else None,
        "method": view.method,
        "path": view.route_path,
        "request_id": request_id,
    }
    logger.log(
        level,
        "edgeclaims %s code=%s source=%s key_id=%s subject=%s path=%s",
        record["outcome"],
        record["code"],
        record["source"],
        printable(record["key_id"]),
        printable(record["subject"]),
        printable(record["path"]),
        extra={"edgeclaims": record},
    )
    return outcome


def log_view_refusal(
    error: VerificationError,
    identity: Identity | None,
    *,
    method: str,
    path: str,
) -> None:
    """Record that a view-level requirement refused a request the engine let through."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    record = {
        "outcome": "refused",
        "code": error.code,
        "source": identity.source if identity else None,
        "key_id": identity.key_id if identity else None,
        "subject": identity.subject if identity else None,
        "method": method,
        "path": path,
        "request_id": None,
        "stage": "view",
    }
    logger.warning(
        "edgeclaims refused by the view code=%s subject=%s path=%s",
        error.code,
        printable(record["subject"]),
        printable(path),
        extra={"edgeclaims": record},
    )


class DecisionCounter(logging.Filter):
    """Counts decision records as they pass the ``edgeclaims`` logger; see :func:`install_metrics`.

    A filter rather than a handler: it lets every record through and adds
    no handler, so logging behaves exactly as before (Python's last-resort
    handler still prints warnings when nothing else is configured).
    """

    def __init__(
        self, decisions: Counter, view_refusals: Counter, registry: CollectorRegistry
    ) -> None:
        super().__init__()
        self.decisions = decisions
        self.view_refusals = view_refusals
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _decision(record)
        if fields is None:
            return True
        code = str(fields.get("code") or "")
        source = str(fields.get("source") or "")
        try:
            if fields.get("stage") == "view":
                self.view_refusals.labels(code=code, source=source).inc()
            else:
                outcome = str(fields.get("outcome") or "")
                self.decisions.labels(outcome=outcome, code=code, source=source).inc()
        except Exception:  # a metrics failure must never fail a request
            logger.debug("edgeclaims: could not count a decision", exc_info=True)
        return True

    def uninstall(self) -> None:
        """Stop counting: detach from the logger and unregister the counters."""
        logger.removeFilter(self)
        for collector in (self.decisions, self.view_refusals):
            with contextlib.suppress(KeyError):  # already gone
                self.registry.unregister(collector)


def install_metrics(registry: CollectorRegistry | None = None) -> DecisionCounter:
    """Count decisions with ``prometheus-client``: call once at start-up.

    Registers, in ``registry`` (default: the global ``REGISTRY``):

    * ``edgeclaims_decisions_total{outcome,code,source}`` — one per engine
      decision: ``outcome`` is ``accepted``, ``anonymous``, ``refused`` or
      ``monitored``; ``code`` the stable code (empty when accepted);
    * ``edgeclaims_view_refusals_total{code,source}`` — refusals by a
      decorator, mixin or dependency after the engine let the request in.

    Labels are bounded (codes and configured source names): never a subject
    or a path. Calling it again with the same registry returns the same
    counter. The counters read the decision log, so the ``edgeclaims``
    logger is set to INFO when it would drop INFO records (accepted requests
    would go uncounted); those records then also reach the handlers of the
    root logger — set ``propagate = False`` on ``edgeclaims`` and give it its
    own handler if they should not. With several worker processes (IIS
    FastCGI ``maxInstances``), use prometheus-client's multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR``).

    Raises ``ImportError`` when prometheus-client is not installed.
    """
    try:
        from prometheus_client import REGISTRY, Counter
    except ImportError as exc:  # an opt-in feature: say what is missing
        raise ImportError(
            "edgeclaims.logs.install_metrics needs prometheus-client "
            "(pip install prometheus-client)"
        ) from exc
    target = REGISTRY if registry is None else registry
    for existing in logger.filters:
        if isinstance(existing, DecisionCounter) and existing.registry is target:
            return existing
    decisions = Counter(
        "edgeclaims_decisions",
        "Decisions of the edgeclaims engine, one per request.",
        ("outcome", "code", "source"),
        registry=target,
    )
    view_refusals = Counter(
        "edgeclaims_view_refusals",
        "Requests refused by an edgeclaims view requirement (decorator, mixin, dependency).",
        ("code", "source"),
        registry=target,
    )
    counter = DecisionCounter(decisions, view_refusals, target)
    logger.addFilter(counter)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    return counter
