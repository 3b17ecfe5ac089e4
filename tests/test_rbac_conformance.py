"""The RBAC conformance table: the same cases the edge's JavaScript evaluator must pass.

``tests/conformance/rbac.json`` holds a policy (in configuration form), the
document ``export()`` makes of it (what the EdgeWorker bundles) and cases:
claims (or null for anonymous) + method + path → roles, permissions,
outcome, matched route and, where present, the claims withheld by the
identity provider. The Python engine runs every case here; the EdgeWorker's
tests run the same cases against the ``export`` document.

After a deliberate change to the policy or to the export format, rewrite the
``export`` section with ``python tests/test_rbac_conformance.py --update``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeclaims.config_table import Table
from edgeclaims.rbac import EXPORT_FORMAT, EXPORT_VERSION, Policy, compile_policy

TABLE_PATH = Path(__file__).parent / "conformance" / "rbac.json"
TABLE: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = TABLE["cases"]


def build_policy(policy: dict[str, Any]) -> Policy:
    """Compile the table's policy the way the configuration loader does."""
    return compile_policy(
        Table(policy["roles"], "roles"),
        Table(policy.get("permissions", {}), "permissions"),
        Table(policy.get("routes", {}), "routes"),
        default_route=policy["default_route"],
        public_paths=policy.get("public_paths", ()),
    )


POLICY = build_policy(TABLE["policy"])


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    decision = POLICY.decide(case["claims"], case["method"], case["path"])
    got = {
        "roles": sorted(decision.roles),
        "permissions": sorted(decision.permissions),
        "outcome": decision.outcome,
        "route": decision.route,
        "overage": list(POLICY.overage(case["claims"])) if case["claims"] is not None else [],
    }
    want = {key: case.get(key, []) for key in got}
    assert got == want


def test_case_ids_are_unique_and_cases_complete() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    required = {"id", "claims", "method", "path", "roles", "permissions", "outcome", "route"}
    for case in CASES:
        assert required <= set(case) <= required | {"overage", "note"}, case["id"]
        assert case["outcome"] in ("allow", "unauthenticated", "forbidden", "ambiguous_request")


def test_the_table_covers_every_form() -> None:
    """The Done-when list of issue 5, checked against the table itself."""
    policy = TABLE["policy"]
    roles = policy["roles"]
    forms = {type(value).__name__ for value in roles.values()}
    assert {"list", "dict"} <= forms
    routes = list(policy["routes"])
    assert any(" " in key for key in routes)  # method-specific
    assert any("?" in key for key in routes)
    assert any(key.endswith("/*") for key in routes)
    assert any(case["route"] is None for case in CASES)  # the default
    assert any(case.get("overage") for case in CASES)
    assert any(case["claims"] is None for case in CASES)
    outcomes = {case["outcome"] for case in CASES}
    assert outcomes == {"allow", "unauthenticated", "forbidden", "ambiguous_request"}
    # Hierarchy deeper than two: some role grants another three includes away.
    deepest = max(len(_chain(roles, name)) for name in roles)
    assert deepest > 3


def _chain(roles: dict[str, Any], name: str) -> list[str]:
    value = roles[name]
    included = value.get("includes", []) if isinstance(value, dict) else []
    longest = max((_chain(roles, child) for child in included), key=len, default=[])
    return [name, *longest]


def test_export_matches_the_table() -> None:
    """The document in the file is exactly what export() produces (the JS runs it)."""
    exported = POLICY.export()
    assert exported["format"] == EXPORT_FORMAT
    assert exported["version"] == EXPORT_VERSION
    assert json.loads(json.dumps(exported)) == TABLE["export"], (
        "export() changed: if deliberate, run python tests/test_rbac_conformance.py --update"
    )


def test_export_is_json_and_stable() -> None:
    first = json.dumps(POLICY.export(), sort_keys=True, allow_nan=False)
    again = build_policy(json.loads(json.dumps(TABLE["policy"]))).export()
    assert json.dumps(again, sort_keys=True, allow_nan=False) == first
    assert json.dumps(POLICY.export(), sort_keys=True) == first  # no state kept between calls


def dump_table(table: dict[str, Any]) -> str:
    """The file's layout: one case per line, anything else inline when it fits in 100 columns."""
    return _dump(table, 0, one_per_line={"cases"}) + "\n"


def _dump(
    value: Any,
    indent: int,
    column: int = 0,
    *,
    one_per_line: frozenset[str] | set[str] = frozenset(),
) -> str:
    flat = json.dumps(value, ensure_ascii=False)
    if column + len(flat) <= 100 or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + _dump(item, indent + 2, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = []
    for key, item in value.items():
        label = json.dumps(key, ensure_ascii=False) + ": "
        if key in one_per_line:
            rows = [pad + "  " + json.dumps(row, ensure_ascii=False) for row in item]
            items.append(pad + label + "[\n" + ",\n".join(rows) + "\n" + pad + "]")
        else:
            items.append(pad + label + _dump(item, indent + 2, indent + 2 + len(label)))
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_rbac_conformance.py --update")
    TABLE["export"] = build_policy(TABLE["policy"]).export()
    TABLE_PATH.write_text(dump_table(TABLE), encoding="utf-8")
    print(f"rewrote the export section of {TABLE_PATH}")
