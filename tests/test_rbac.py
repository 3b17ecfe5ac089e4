"""Roles, permissions and routes: compile errors, explain(), overage, properties."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rbac_conformance import POLICY as CONFORMANCE_POLICY

from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError
from edgeclaims.identity import ClaimsView, freeze_claims
from edgeclaims.rbac import Policy, RouteRequirement, ambiguity, compile_policy
from edgeclaims.rbac.matching import scalar_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SPEC_TOML = """
[edgeclaims.roles]
admin  = ["groups=okta-admins", "roles=Admin"]                  # any of
editor = { any = ["groups=editors"], includes = ["viewer"] }
viewer = { all = ["email=*@example.com", "email_verified=true"] }
auditor = [{ claim = ["https://example.com/claims", "roles"], equals = "audit" }]
everyone = ["authenticated"]

[edgeclaims.permissions]
admin  = ["orders:write", "orders:read", "users:manage"]
viewer = ["orders:read"]

[edgeclaims.routes]           # first match wins, checked in order
"/admin/*" = ["admin"]
"POST /orders/*" = ["orders:write"]
"/api/*"   = "authenticated"
"/healthz" = "public"
"""


def policy_of(
    roles: Any,
    permissions: Any = None,
    routes: Any = None,
    *,
    default_route: object = "authenticated",
    public_paths: tuple[str, ...] = (),
) -> Policy:
    return compile_policy(
        Table(roles, "roles"),
        Table(permissions or {}, "permissions"),
        Table(routes or {}, "routes"),
        default_route=default_route,
        public_paths=public_paths,
    )


def spec_policy() -> Policy:
    table = tomllib.loads(SPEC_TOML)["edgeclaims"]
    return policy_of(table["roles"], table["permissions"], table["routes"])


# -- the spec's example -------------------------------------------------------------


def test_spec_example_compiles_and_decides() -> None:
    policy = spec_policy()
    editor = {"sub": "ed", "groups": ["editors"]}
    assert policy.roles_for(editor) == {"editor", "viewer", "everyone"}
    assert policy.permissions_for(policy.roles_for(editor)) == {"orders:read"}
    assert policy.decide(editor, "POST", "/orders/1").outcome == "forbidden"
    assert policy.decide(editor, "GET", "/orders/1").route is None
    admin = {"roles": ["Admin"]}
    assert policy.decide(admin, "POST", "/orders/1").outcome == "allow"
    assert policy.decide(None, "GET", "/healthz").outcome == "allow"
    assert policy.decide(None, "GET", "/api/x").outcome == "unauthenticated"


def test_through_load_config() -> None:
    from tables import config_mapping

    from edgeclaims import load_config

    policy = load_config(config_mapping()).policy
    assert policy.roles_for({"groups": ["okta-admins"]}) == {"admin"}
    assert policy.requirement_for("GET", "/healthz").kind == "public"
    assert policy.requirement_for("GET", "/elsewhere") == RouteRequirement("authenticated")


def test_read_only_claims_give_the_same_roles() -> None:
    claims = {
        "groups": ["editors"],
        "email": "a@example.com",
        "email_verified": True,
        "https://example.com/claims": {"roles": ("audit",)},
    }
    policy = spec_policy()
    frozen = freeze_claims(claims)
    assert isinstance(frozen, ClaimsView)
    assert (
        policy.roles_for(frozen)
        == policy.roles_for(claims)
        == {
            "editor",
            "viewer",
            "auditor",
            "everyone",
        }
    )


def test_permissions_for_expands_includes() -> None:
    policy = spec_policy()
    assert policy.permissions_for(frozenset({"editor"})) == {"orders:read"}
    assert policy.permissions_for(frozenset({"nobody"})) == frozenset()


def test_route_requirement_allows_any_listed_name() -> None:
    requirement = RouteRequirement("roles", frozenset({"admin"}), frozenset({"orders:write"}))
    assert requirement.allows(frozenset({"admin"}), frozenset())
    assert requirement.allows(frozenset(), frozenset({"orders:write"}))
    assert not requirement.allows(frozenset({"viewer"}), frozenset({"orders:read"}))
    assert RouteRequirement("authenticated").allows(frozenset(), frozenset())


def test_name_that_is_both_role_and_permission() -> None:
    policy = policy_of(
        {"reports": ["groups=reports"], "analyst": ["groups=analysts"]},
        {"analyst": ["reports"]},
        {"/r/*": ["reports"]},
    )
    requirement = policy.requirement_for("GET", "/r/1")
    assert requirement.roles == requirement.permissions == {"reports"}
    assert policy.decide({"groups": ["analysts"]}, "GET", "/r/1").outcome == "allow"
    assert policy.decide({"groups": ["reports"]}, "GET", "/r/1").outcome == "allow"


def test_default_route_list_and_public() -> None:
    policy = policy_of({"staff": ["groups=staff"]}, default_route=["staff"])
    assert policy.decide({"groups": ["staff"]}, "GET", "/x").outcome == "allow"
    assert policy.decide({}, "GET", "/x").outcome == "forbidden"
    assert policy_of({}, default_route="public").decide(None, "GET", "/x").outcome == "allow"


# -- compile errors: every mistake names its key path ------------------------------------

VIEWER = ["email=*@example.com"]


@pytest.mark.parametrize(
    ("roles", "permissions", "routes", "message"),
    [
        pytest.param(
            {"editor": {"any": ["groups=e"], "includes": ["viewer", "ghost"]}, "viewer": VIEWER},
            {},
            {},
            "roles.editor.includes[1]: unknown role 'ghost'",
            id="unknown-include",
        ),
        pytest.param(
            {"a": {"includes": ["b"]}, "b": {"includes": ["c"]}, "c": {"includes": ["a"]}},
            {},
            {},
            "roles.c.includes[0]: include cycle: a → b → c → a",
            id="include-cycle",
        ),
        pytest.param(
            {"a": {"any": ["g=x"], "includes": ["a"]}},
            {},
            {},
            "roles.a.includes[0]: include cycle: a → a",
            id="self-include",
        ),
        pytest.param(
            {"a": {"includes": [3]}},
            {},
            {},
            "roles.a.includes[0]: expected a string, got an integer",
            id="include-not-string",
        ),
        pytest.param(
            {"admin": ["groups"]},
            {},
            {},
            "roles.admin[0]: expected 'claim.path=pattern' or 'authenticated'",
            id="no-equals",
        ),
        pytest.param(
            {"admin": ["groups=x", "=x"]},
            {},
            {},
            "roles.admin[1]: empty claim path or segment (claim names with dots need the table "
            'form: claim = ["a.b", "c"])',
            id="empty-claim-path",
        ),
        pytest.param(
            {"admin": ["realm_access..roles=x"]},
            {},
            {},
            "roles.admin[0]: empty claim path or segment (claim names with dots need the table "
            'form: claim = ["a.b", "c"])',
            id="empty-segment",
        ),
        pytest.param(
            {"admin": ["groups = x"]},
            {},
            {},
            "roles.admin[0]: no spaces around '=' (use the table form for such values)",
            id="spaces",
        ),
        pytest.param(
            {"admin": ["groups="]},
            {},
            {},
            'roles.admin[0]: empty pattern (use the table form: equals = "")',
            id="empty-pattern",
        ),
        pytest.param(
            {"admin": [{"claim": "groups", "equals": "x", "equal": "y"}]},
            {},
            {},
            "roles.admin[0].equal: unknown setting",
            id="rule-unknown-key",
        ),
        pytest.param(
            {"admin": [{"claim": "groups", "equals": "x", "glob": "y*"}]},
            {},
            {},
            "roles.admin[0]: needs exactly one of 'equals' or 'glob'",
            id="equals-and-glob",
        ),
        pytest.param(
            {"admin": [{"claim": "groups"}]},
            {},
            {},
            "roles.admin[0]: needs exactly one of 'equals' or 'glob'",
            id="no-operator",
        ),
        pytest.param(
            {"auditor": [{"claim": [], "equals": "audit"}]},
            {},
            {},
            "roles.auditor[0].claim: empty claim path",
            id="empty-claim-list",
        ),
        pytest.param(
            {"auditor": [{"claim": ["https://example.com/claims", ""], "equals": "audit"}]},
            {},
            {},
            "roles.auditor[0].claim[1]: empty claim name",
            id="empty-claim-name",
        ),
        pytest.param(
            {"auditor": [{"claim": ["a", 2], "equals": "audit"}]},
            {},
            {},
            "roles.auditor[0].claim[1]: expected a string, got an integer",
            id="claim-name-not-string",
        ),
        pytest.param(
            {"auditor": [{"claim": 7, "equals": "audit"}]},
            {},
            {},
            "roles.auditor[0].claim: expected a dotted string or a list of claim names",
            id="claim-wrong-type",
        ),
        pytest.param(
            {"auditor": [{"claim": "a", "equals": ["x"]}]},
            {},
            {},
            "roles.auditor[0].equals: expected a string, a boolean or a number",
            id="equals-wrong-type",
        ),
        pytest.param(
            {"auditor": [{"claim": "a", "glob": 3}]},
            {},
            {},
            "roles.auditor[0].glob: expected a string, got an integer",
            id="glob-wrong-type",
        ),
        pytest.param(
            {"editor": {"anyy": ["groups=e"]}},
            {},
            {},
            "roles.editor.anyy: unknown setting",
            id="role-table-unknown-key",
        ),
        pytest.param(
            {"viewer": {"all": []}},
            {},
            {},
            "roles.viewer.all: must not be empty (leave it out, or use 'authenticated')",
            id="empty-all",
        ),
        pytest.param(
            {"viewer": {"any": "groups=x"}},
            {},
            {},
            "roles.viewer.any: expected a list of rules",
            id="any-not-list",
        ),
        pytest.param(
            {"admin": 5},
            {},
            {},
            "roles.admin: expected a list of rules, one rule, or a table",
            id="role-wrong-type",
        ),
        pytest.param(
            {"authenticated": ["groups=x"]},
            {},
            {},
            "roles.authenticated: 'authenticated' is reserved and cannot name a role",
            id="reserved-role-name",
        ),
        pytest.param(
            {"": ["groups=x"]},
            {},
            {},
            "roles.: a role name must be non-empty, without outer spaces",
            id="empty-role-name",
        ),
        pytest.param(
            {"admin": [None]},
            {},
            {},
            "roles.admin[0]: expected a rule ('claim.path=pattern') or a rule table",
            id="rule-wrong-type",
        ),
        pytest.param(
            {"admin": [{"equals": "x"}]},
            {},
            {},
            "roles.admin[0]: a rule table needs 'claim' (or 'any'/'all' for a group)",
            id="rule-table-without-claim",
        ),
        pytest.param(
            {"r": [{"any": ["a=1"], "all": ["b=2"]}]},
            {},
            {},
            "roles.r[0]: a group takes either 'any' or 'all', not both",
            id="group-both",
        ),
        pytest.param(
            {"r": [{"all": ["a=1", {"any": []}]}]},
            {},
            {},
            "roles.r[0].all[1].any: must not be empty (leave it out, or use 'authenticated')",
            id="nested-group-empty",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {"ghost": ["a"]},
            {},
            "permissions.ghost: unknown role 'ghost' (not in [edgeclaims.roles])",
            id="permission-unknown-role",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {"admin": ["a", 3]},
            {},
            "permissions.admin[1]: expected a string, got an integer",
            id="permission-not-string",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {"admin": ["public"]},
            {},
            "permissions.admin[0]: a permission name must be non-empty and not 'public' or "
            "'authenticated'",
            id="permission-reserved",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {},
            {"/x": 5},
            "routes./x: expected 'public', 'authenticated' or a list of roles and permissions",
            id="route-value-type",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {},
            {"/x": "admin"},
            "routes./x: expected 'public', 'authenticated' or a list of roles and permissions",
            id="route-value-bare-role",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {},
            {"/admin/*": ["admn"]},
            "routes./admin/*[0]: 'admn' is neither a role nor a permission",
            id="route-unknown-name",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {},
            {"/admin/*": []},
            "routes./admin/*: an empty list would let no one in; name a role",
            id="route-empty-list",
        ),
        pytest.param(
            {"admin": ["groups=x"]},
            {},
            {"/a": ["admin", "authenticated"]},
            "routes./a[1]: write 'authenticated' as the whole value, not in a list",
            id="route-reserved-in-list",
        ),
        pytest.param(
            {},
            {},
            {"admin/*": "public"},
            "routes.admin/*: expected '/path' or 'METHOD /path' (methods upper-case, several "
            "joined by ',': 'GET,HEAD /reports/*')",
            id="route-no-slash",
        ),
        pytest.param(
            {},
            {},
            {"post /orders/*": "public"},
            "routes.post /orders/*: expected '/path' or 'METHOD /path' (methods upper-case, "
            "several joined by ',': 'GET,HEAD /reports/*')",
            id="route-lower-case-method",
        ),
        pytest.param(
            {},
            {},
            {"POST orders/*": "public"},
            "routes.POST orders/*: a route's path must start with '/'",
            id="route-method-no-slash",
        ),
        pytest.param(
            {},
            {},
            {"POST  /orders": "public"},
            "routes.POST  /orders: a route's path must start with '/'",
            id="route-two-spaces",
        ),
        pytest.param(
            {},
            {},
            {"/public/../admin": "public"},
            "routes./public/../admin: empty, '.' and '..' segments and backslashes never match "
            "(such requests are refused)",
            id="route-dot-segment",
        ),
        pytest.param(
            {},
            {},
            {"/admin//x": "public"},
            "routes./admin//x: empty, '.' and '..' segments and backslashes never match "
            "(such requests are refused)",
            id="route-empty-segment",
        ),
    ],
)
def test_compile_errors_name_the_key(
    roles: Any, permissions: Any, routes: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        policy_of(roles, permissions, routes)
    assert str(caught.value) == message


def test_default_route_and_public_paths_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"^default_route: expected 'public'"):
        policy_of({}, default_route="everyone")
    with pytest.raises(ConfigurationError, match=r"^default_route\[0\]: 'x' is neither"):
        policy_of({}, default_route=["x"])
    with pytest.raises(ConfigurationError, match=r"^public_paths\[1\]: a route's path must"):
        policy_of({}, public_paths=("/ok", "static/*"))


def test_roles_table_itself_must_be_a_table() -> None:
    with pytest.raises(ConfigurationError, match=r"^roles: expected a table, got a list"):
        policy_of([])


# -- matching details ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (-7, "-7"),
        (1.0, "1"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1e-6, "0.000001"),
        (1.25e-7, "1.25e-7"),
        (5e-324, "5e-324"),
        (2**53, "9007199254740992"),
        (2**53 + 1, "9007199254740992"),
        (10**21, "1e+21"),
        (10**400, "Infinity"),
        (-(10**400), "-Infinity"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
        ({}, None),
        ([], None),
    ],
)
def test_scalar_text_is_what_javascript_writes(value: object, text: str | None) -> None:
    assert scalar_text(value) == text


@pytest.mark.parametrize(
    ("method", "path", "problem"),
    [
        pytest.param("GET", "/public/../admin", "the path has a dot segment", id="dot-dot"),
        pytest.param("GET", "/admin/..", "the path has a dot segment", id="trailing-dot-dot"),
        pytest.param("GET", "/a/./b", "the path has a dot segment", id="dot"),
        pytest.param("GET", "/a/.", "the path has a dot segment", id="trailing-dot"),
        pytest.param("GET", "//admin", "the path has an empty segment", id="leading-empty"),
        pytest.param("GET", "/admin//x", "the path has an empty segment", id="inner-empty"),
        pytest.param("GET", "/admin\\..\\x", "the path has a backslash", id="backslash"),
        pytest.param("GET", "/adm\ufffdin", "the path is not UTF-8", id="not-utf8"),
        pytest.param("GET", "admin", "the path is not absolute", id="relative"),
        pytest.param("post", "/orders/1", "the method is not an upper-case token", id="lower"),
        pytest.param("Post", "/orders/1", "the method is not an upper-case token", id="mixed"),
        pytest.param("GET ", "/x", "the method is not an upper-case token", id="space"),
        pytest.param("", "/x", "the method is not an upper-case token", id="empty-method"),
    ],
)
def test_requests_with_more_than_one_reading_are_refused(
    method: str, path: str, problem: str
) -> None:
    error = ambiguity(method, path)
    assert error is not None
    assert (error.code, error.status, error.detail) == ("ambiguous_request", 400, problem)
    policy = policy_of({"admin": ["groups=a"]}, routes={"/admin/*": ["admin"]})
    assert policy.decide(None, method, path).outcome == "ambiguous_request"
    assert policy.decide({"groups": ["a"]}, method, path).outcome == "ambiguous_request"


@pytest.mark.parametrize(
    "path",
    ["/", "/admin", "/admin/", "/a/.b/..c/...", "/a.b/c..", "/%2e", "/caf\u00e9", "/a;b=c"],
)
def test_paths_with_one_reading_pass(path: str) -> None:
    assert ambiguity("GET", path) is None
    assert ambiguity("M-SEARCH", path) is None


def test_a_get_rule_covers_head() -> None:
    policy = policy_of(
        {"admin": ["groups=a"], "viewer": ["groups=v"]},
        routes={"GET /reports/*": ["admin"], "POST /reports/*": ["viewer"]},
    )
    viewer = {"groups": ["v"]}
    assert policy.decide(viewer, "HEAD", "/reports/q3").outcome == "forbidden"
    assert policy.decide(viewer, "HEAD", "/reports/q3").route == "GET /reports/*"
    assert policy.decide(viewer, "POST", "/reports/q3").outcome == "allow"


def test_big_integers_compare_as_javascript_reads_them() -> None:
    policy = policy_of({"big": ["employee=9007199254740992"]})
    assert policy.roles_for({"employee": 9007199254740993}) == {"big"}


def test_catch_all_route_and_root() -> None:
    policy = policy_of({}, routes={"/*": "public"})
    for path in ("/", "/x", "/x/y/z", ""):
        assert policy.requirement_for("GET", path).route == "/*"


@pytest.mark.parametrize("cache_size", [1, 3, 2048])
def test_full_role_caches_change_nothing(cache_size: int) -> None:
    """With caches smaller than the traffic, results are computed again, and still right."""
    policy = compile_policy(
        Table({"eng": ["groups=eng-*"], "ops": ["groups=ops"], "flag": ["flags=true"]}, "roles"),
        Table({"eng": ["deploy"]}, "permissions"),
        Table({}, "routes"),
        default_route="authenticated",
        cache_size=cache_size,
    )
    for round_ in range(3):
        for n in range(10):
            groups = [f"team-{n}", f"eng-{n}" if n % 2 else "ops", True]
            expected = {"eng"} if n % 2 else {"ops"}
            assert policy.roles_for({"groups": groups}) == expected, (round_, n)
            assert policy.roles_for({"flags": [f"x{n}", True]}) == {"flag"}
            assert policy.permissions_for(frozenset(expected)) == (
                {"deploy"} if n % 2 else frozenset()
            )


# -- explain and overage ---------------------------------------------------------------


def test_explain_text() -> None:
    claims = {"sub": "ed", "groups": ["editors", "staff"], "email": "ed@example.org"}
    text = str(spec_policy().explain(claims))
    assert text == (
        "roles: editor, everyone, viewer\n"
        "permissions: orders:read\n"
        "\n"
        "✗ admin — not granted: none of its 2 'any' rules matched\n"
        "    ✗ any:\n"
        "      ✗ groups=okta-admins — no value matches (2 values)\n"
        "      ✗ roles=Admin — claim absent\n"
        "✓ editor — granted by groups=editors\n"
        "    ✓ any:\n"
        "      ✓ groups=editors\n"
        "✓ viewer — granted via editor (includes)\n"
        "    ✗ all:\n"
        "      ✗ email=*@example.com — no value matches (1 value)\n"
        "      ✗ email_verified=true — claim absent\n"
        "✗ auditor — not granted: its one 'any' rule did not match\n"
        "    ✗ any:\n"
        '      ✗ ["https://example.com/claims", "roles"] equals "audit" — claim absent\n'
        "✓ everyone — granted by authenticated\n"
        "    ✓ any:\n"
        "      ✓ authenticated\n"
    )
    # Claim values never appear: only names, counts and the configured patterns.
    assert "ed@example.org" not in text
    assert "staff" not in text


def test_explain_dict() -> None:
    explanation = CONFORMANCE_POLICY.explain(
        {"sub": "kc", "realm_access": {"roles": ["realm-owner"]}, "groups": {"x": 1}}
    )
    document = explanation.as_dict()
    assert json.loads(json.dumps(document)) == document
    details = {detail["role"]: detail for detail in document["details"]}  # type: ignore[attr-defined]
    assert details["owner"]["matched"]
    assert details["owner"]["via"] == []
    assert details["basic"] == {
        "role": "basic",
        "granted": True,
        "matched": False,
        "via": ["owner", "admin", "editor", "viewer"],
        "reason": "granted via owner → admin → editor → viewer (includes)",
        "rules": [],
    }
    support = details["support"]
    assert support["granted"] is False
    assert support["rules"] == [
        {
            "rule": "any",
            "matched": False,
            "reason": "its one 'any' rule did not match",
            "items": [
                {
                    "rule": "groups=support-*",
                    "matched": False,
                    "reason": "claim holds only objects or arrays, which never match",
                }
            ],
        }
    ]
    assert document["roles"] == sorted(explanation.roles)


def test_explain_nested_group_and_table_rule() -> None:
    claims = {"groups": ["analysts"], "amr": ["pwd"], "tags": ["*"]}
    details = {d.role: d for d in CONFORMANCE_POLICY.explain(claims).details}
    reporter = details["reporter"]
    assert not reporter.granted
    group = reporter.rules[0].items[0]
    assert group.rule == "all[groups=analysts, amr=mfa]"
    assert [(i.rule, i.matched) for i in group.items] == [
        ("groups=analysts", True),
        ("amr=mfa", False),
    ]
    assert details["star"].reason == 'granted by ["tags"] equals "*"'
    assert details["basic"].reason == (
        "not granted: it has no rules; only another role's includes can grant it"
    )


def test_overage_is_detected_and_explained() -> None:
    claims = {
        "sub": "big",
        "_claim_names": {"groups": "src1", "wids": "src1"},
        "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/x"}},
    }
    policy = spec_policy()
    assert policy.overage(claims) == ("groups",)  # wids: no rule reads it
    explanation = policy.explain(claims)
    assert explanation.overage == ("groups",)
    text = explanation.format()
    assert "warning: claim 'groups' was left out by the identity provider" in text
    assert "groups=okta-admins — claim left out by the identity provider (overage)" in text
    assert explanation.as_dict()["overage"] == ["groups"]
    assert policy.overage({"hasgroups": True}) == ("groups",)
    assert policy.overage({"groups": ["x"]}) == ()
    assert policy.overage({"_claim_names": "junk", "hasgroups": "yes"}) == ()


# -- properties ----------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        ["okta-admins", "editors", "audit", "realm-owner", "beta-1", "support-x", "acme", "3"]
    ),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(["roles", "id", "type"]), inner)
    ),
    max_leaves=25,
)
CLAIM_NAMES = st.sampled_from(
    [
        "groups",
        "roles",
        "email",
        "email_verified",
        "realm_access",
        "https://example.com/claims",
        "employment",
        "orgs",
        "features",
        "manager",
        "plan_level",
        "_claim_names",
        "hasgroups",
    ]
) | st.text(max_size=10)
CLAIMS = st.dictionaries(CLAIM_NAMES, JSON, max_size=8)


@pytest.mark.slow  # 300 examples of the whole policy: under CI's first Python only
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(claims=CLAIMS, method=st.sampled_from(["GET", "POST", "HEAD", "get"]), path=st.text())
def test_evaluation_never_raises_and_explain_agrees(
    claims: dict[str, Any], method: str, path: str
) -> None:
    policy = CONFORMANCE_POLICY
    roles = policy.roles_for(claims)
    assert roles <= set(policy.role_names)
    policy.decide(claims, method, path)
    policy.overage(claims)
    explanation = policy.explain(claims)
    json.dumps(explanation.as_dict())
    explanation.format()
    assert explanation.roles == roles
    # The talkative evaluator reaches the same grants as the compiled one.
    for detail in explanation.details:
        assert detail.granted == (detail.matched or bool(detail.via)), detail.role
    assert policy.roles_for(freeze_claims(claims)) == roles  # type: ignore[arg-type]


@given(claims=JSON)
def test_any_json_at_the_top_never_raises(claims: Any) -> None:
    assert "everyone" in CONFORMANCE_POLICY.roles_for(claims)
    CONFORMANCE_POLICY.explain(claims)
    CONFORMANCE_POLICY.overage(claims)


VOCABULARY = ["a", "b", "ab", "abc", "x-1", "x-22", "", "*", "true", "1"]
MONOTONE_POLICY = policy_of(
    {
        "r1": ["groups=a", "groups=x-?"],
        "r2": ["groups=ab*", "realm_access.roles=b"],
        "r3": [{"all": ["groups=*b*", "realm_access.roles=a"]}, "realm_access.roles=x-*"],
        "r4": {"any": ["groups=true", "groups=1"], "includes": ["r1"]},
        "r5": [{"claim": "groups", "equals": "*"}],
    }
)


@given(
    groups=st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=4), max_size=6),
    realm=st.lists(st.sampled_from(VOCABULARY), max_size=4),
    added=st.sampled_from(VOCABULARY) | st.text(max_size=4) | st.booleans() | st.integers(),
    where=st.sampled_from(["groups", "realm"]),
)
def test_adding_a_value_never_removes_a_role(
    groups: list[object], realm: list[object], added: object, where: str
) -> None:
    before = MONOTONE_POLICY.roles_for({"groups": groups, "realm_access": {"roles": realm}})
    if where == "groups":
        groups = [*groups, added]
    else:
        realm = [*realm, added]
    after = MONOTONE_POLICY.roles_for({"groups": groups, "realm_access": {"roles": realm}})
    assert before <= after


@st.composite
def role_dags(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Random acyclic includes over r0..rN (edges only to higher numbers), shuffled."""
    count = draw(st.integers(min_value=1, max_value=9))
    edges = {
        i: draw(st.sets(st.integers(min_value=i + 1, max_value=count - 1), max_size=3))
        if i < count - 1
        else set()
        for i in range(count)
    }
    order = draw(st.permutations(range(count)))
    roles = {
        f"r{i}": {"any": [f"groups=r{i}"], "includes": [f"r{j}" for j in sorted(edges[i])]}
        for i in order
    }
    return roles, {f"r{i}": {f"r{j}" for j in edges[i]} for i in range(count)}


@given(dag=role_dags(), data=st.data())
def test_includes_are_transitive(
    dag: tuple[dict[str, Any], dict[str, set[str]]], data: st.DataObject
) -> None:
    roles, edges = dag
    policy = policy_of(roles)
    direct = data.draw(st.sets(st.sampled_from(sorted(edges))))
    granted = policy.roles_for({"groups": sorted(direct)})
    expected: set[str] = set()
    pending = list(direct)
    while pending:
        role = pending.pop()
        if role not in expected:
            expected.add(role)
            pending.extend(edges[role])
    assert granted == expected
    for role in granted:
        assert edges[role] <= granted


@given(dag=role_dags(), data=st.data())
def test_any_back_edge_is_a_named_cycle(
    dag: tuple[dict[str, Any], dict[str, set[str]]], data: st.DataObject
) -> None:
    roles, edges = dag
    reachable = [(a, b) for a in edges for b in edges if b in _reach(edges, a)]
    if not reachable:
        return
    low, high = data.draw(st.sampled_from(reachable))
    roles[high]["includes"].append(low)  # closes low → … → high → low
    with pytest.raises(ConfigurationError, match="include cycle: "):
        policy_of(roles)


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    found: set[str] = set()
    pending = list(edges[start])
    while pending:
        role = pending.pop()
        if role not in found:
            found.add(role)
            pending.extend(edges[role])
    return found


MOUNT_POLICY = policy_of(
    {"admin": ["groups=a"], "ops": ["groups=o"]},
    routes={
        "/app/ops/*": ["ops"],
        "/admin/*": ["admin"],
        "/app/both/*": ["ops"],
        "/both/*": ["admin"],
        "/app/*": "public",
    },
    public_paths=("/healthz",),
)


@pytest.mark.parametrize(
    ("whole", "mounted", "kind", "needs"),
    [
        pytest.param("/app/admin/x", "/admin/x", "roles", [{"a"}], id="rule-on-the-mounted-path"),
        pytest.param("/app/ops/1", "/ops/1", "roles", [{"o"}], id="rule-on-the-whole-path"),
        pytest.param("/app/both/1", "/both/1", "roles", [{"a", "o"}], id="both-rules-must-hold"),
        pytest.param("/app/x", "/x", "public", [set()], id="default-adds-nothing"),
        pytest.param("/app/healthz", "/healthz", "public", [set()], id="public-either-way"),
        pytest.param("/admin/x", None, "roles", [{"a"}], id="not-mounted"),
    ],
)
def test_a_mounted_app_meets_the_rules_of_both_readings(
    whole: str, mounted: str | None, kind: str, needs: list[set[str]]
) -> None:
    requirement = MOUNT_POLICY.requirement_for("GET", whole, mounted)
    assert requirement.kind == kind
    for groups in needs:
        roles = MOUNT_POLICY.roles_for({"groups": sorted(groups)})
        assert requirement.allows(roles, frozenset())
    if kind == "roles":
        for held in ({"a"}, {"o"}):
            roles = MOUNT_POLICY.roles_for({"groups": sorted(held)})
            assert requirement.allows(roles, frozenset()) == (held == needs[0])
