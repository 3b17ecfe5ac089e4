"""web.config.example and every sample's web.config: well-formed, and only IIS schema names.

Commented-out blocks (the optional ipSecurity and URL Rewrite rules, the
wfastcgi alternative) are checked too: a comment with a line that starts
with ``<`` is parsed from that line on, in the place where it stands.
"""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from iis_schema import ENUMS, SCHEMA

from edgeclaims.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WEB_CONFIGS = sorted(
    [
        ROOT / "web.config.example",
        *ROOT.glob("samples/*/web.config"),
        *ROOT.glob("samples/*/web.*.config"),
    ]
)
HTTP_PLATFORM_CONFIGS = [p for p in WEB_CONFIGS if p.name in ("web.config", "web.config.example")]
WFASTCGI_CONFIGS = [p for p in WEB_CONFIGS if p.name == "web.wfastcgi.config"]
IDS = [str(p.relative_to(ROOT)) for p in WEB_CONFIGS]


def _parse(path: Path) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    return ET.parse(path, parser).getroot()


def _problems(element: ET.Element, path: str) -> list[str]:
    """Schema problems of ``element`` (at ``path``) and everything under it."""
    problems: list[str] = []
    schema = SCHEMA.get(path)
    if schema is None:
        return [f"{path}: element not in the schema list"]
    for attribute, value in element.attrib.items():
        if attribute not in schema.attributes:
            problems.append(f"{path}: unknown attribute {attribute!r}")
        allowed = ENUMS.get(f"{path}@{attribute}")
        if allowed is not None and value not in allowed:
            problems.append(f"{path}@{attribute}: {value!r} not one of {sorted(allowed)}")
    for child in element:
        if child.tag is ET.Comment:
            problems.extend(_comment_problems(child.text or "", path))
            continue
        if child.tag not in schema.children:
            problems.append(f"{path}: unknown child element <{child.tag}>")
            continue
        problems.extend(_problems(child, f"{path}/{child.tag}"))
    return problems


def _comment_problems(text: str, parent: str) -> list[str]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("<")), None)
    if start is None:
        return []
    fragment = "\n".join(lines[start:])
    try:
        wrapper = ET.fromstring(f"<fragment>{fragment}</fragment>")
    except ET.ParseError as error:
        return [f"{parent}: commented-out block is not well-formed XML: {error}"]
    # The block stands where the comment is: check it as children of the parent.
    holder = ET.Element(parent.rpartition("/")[2])
    holder.extend(list(wrapper))
    return _problems(holder, parent)


@pytest.mark.parametrize("path", WEB_CONFIGS, ids=IDS)
def test_web_config_uses_only_schema_names(path: Path) -> None:
    root = _parse(path)
    assert root.tag == "configuration"
    assert _problems(root, "configuration") == []


def test_the_schema_check_catches_typos(tmp_path: Path) -> None:
    bad = tmp_path / "web.config"
    bad.write_text(
        "<configuration><system.webServer>"
        '<httpPlatform processPath="x" processPerApplication="2" />'
        "<security><!-- optional:\n"
        '<ipSecurity allowUnlisted="false"><add ipAdress="192.0.2.1" /></ipSecurity>\n-->'
        '</security><handlers><add name="h" resourceType="Any" /></handlers>'
        "</system.webServer></configuration>"
    )
    ws = "configuration/system.webServer"
    assert _problems(_parse(bad), "configuration") == [
        f"{ws}/httpPlatform: unknown attribute 'processPerApplication'",
        f"{ws}/security/ipSecurity/add: unknown attribute 'ipAdress'",
        f"{ws}/handlers/add@resourceType: 'Any' not one of "
        "['Directory', 'Either', 'File', 'Unspecified']",
    ]


@pytest.mark.parametrize(
    "path", HTTP_PLATFORM_CONFIGS, ids=[str(p.relative_to(ROOT)) for p in HTTP_PLATFORM_CONFIGS]
)
def test_http_platform_settings(path: Path) -> None:
    platform = _parse(path).find("system.webServer/httpPlatform")
    assert platform is not None
    arguments = shlex.split(platform.attrib["arguments"])
    # Bound to loopback on the port IIS chose; never 0.0.0.0.
    joined = " ".join(arguments)
    assert "%HTTP_PLATFORM_PORT%" in joined
    assert "127.0.0.1" in joined
    assert "0.0.0.0" not in joined
    if "waitress" in arguments:
        assert "--trusted-proxy-headers=x-forwarded-for x-forwarded-proto" in arguments
    assert int(platform.attrib["startupTimeLimit"]) >= 10
    assert platform.attrib["stdoutLogEnabled"] == "true"
    names = {e.attrib["name"] for e in platform.iter("environmentVariable")}
    assert "EDGECLAIMS_CONFIG" in names
    limits = {
        e.attrib["header"].lower()
        for e in _parse(path).iterfind(
            "system.webServer/security/requestFiltering/requestLimits/headerLimits/add"
        )
    }
    assert {"x-edge-claims", "signature", "signature-input"} <= limits
    if path.parent.parent.name == "samples":
        # Several processes share replay state, and the decoded path needs the normalized form.
        config = load_config(str(path.parent / "edgeclaims.toml"))
        assert int(platform.attrib["processesPerApplication"]) > 1
        assert config.replay.store == "sqlite"
        assert {s.path_form for s in config.sources} == {"normalized"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", WFASTCGI_CONFIGS, ids=[str(p.relative_to(ROOT)) for p in WFASTCGI_CONFIGS]
)
def test_wfastcgi_settings(path: Path) -> None:
    root = _parse(path)
    settings = {e.attrib["key"]: e.attrib["value"] for e in root.iterfind("appSettings/add")}
    assert {"WSGI_HANDLER", "PYTHONPATH", "EDGECLAIMS_CONFIG"} <= set(settings)
    assert not settings["WSGI_HANDLER"].endswith("()")
    (handler,) = root.iterfind("system.webServer/handlers/add")
    assert handler.attrib["modules"] == "FastCgiModule"
    assert handler.attrib["scriptProcessor"].endswith("wfastcgi.py")


def test_sample_demo_keys_are_marked_demo_only() -> None:
    for toml in ROOT.glob("samples/*/edgeclaims.toml"):
        if toml.parent.name == "minimal_wsgi":
            continue
        text = toml.read_text()
        assert "DEMO ONLY" in text
        table = tomllib.loads(text)["edgeclaims"]
        (key,) = table["sources"][0]["keys"]
        assert key["secret"].startswith("hex:")
