"""The shipped web.config files: well-formed, only IIS schema names, each one complete.

The files are web.config.example (HttpPlatformHandler), web.wfastcgi.config.example
(wfastcgi) and every sample's web.config / web.wfastcgi.config. Commented-out
blocks (the optional ipSecurity and URL Rewrite rules, a secret, SCRIPT_NAME)
are checked too: a comment with a line that starts with ``<`` is parsed from
that line on, in the place where it stands — and uncommenting every one of
them must still leave one valid web.config (never a second system.webServer).
docs/iis.md and the samples' READMEs are checked where they name the same
paths: the replay store's folder is where the pool is granted Modify.
"""

from __future__ import annotations

import ntpath
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from iis_schema import APPHOST_ONLY, ENUMS, SCHEMA

from edgeclaims.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WEB_CONFIGS = sorted(
    [
        *ROOT.glob("web*.config.example"),
        *ROOT.glob("samples/*/web.config"),
        *ROOT.glob("samples/*/web.*.config"),
    ]
)
HTTP_PLATFORM_CONFIGS = [p for p in WEB_CONFIGS if p.name in ("web.config", "web.config.example")]
WFASTCGI_CONFIGS = [
    p for p in WEB_CONFIGS if p.name in ("web.wfastcgi.config", "web.wfastcgi.config.example")
]
IDS = [str(p.relative_to(ROOT)) for p in WEB_CONFIGS]
#: Samples deployed on IIS (they have a web.config); minimal_wsgi and the EdgeWorker are not.
IIS_SAMPLES = sorted(p.parent.name for p in ROOT.glob("samples/*/web.config"))
IIS_DOC = ROOT / "docs" / "iis.md"


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
        if child.tag in APPHOST_ONLY:
            problems.append(
                f"{path}: <{child.tag}> belongs in applicationHost.config (500.19 here)"
            )
            continue
        if child.tag not in schema.children:
            problems.append(f"{path}: unknown child element <{child.tag}>")
            continue
        problems.extend(_problems(child, f"{path}/{child.tag}"))
    return problems


def _commented_block(text: str) -> list[ET.Element] | None:
    """The elements a comment holds from its first line starting with ``<``; None if none."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("<")), None)
    if start is None:
        return None
    fragment = "\n".join(lines[start:])
    return list(ET.fromstring(f"<fragment>{fragment}</fragment>"))


def _comment_problems(text: str, parent: str) -> list[str]:
    try:
        block = _commented_block(text)
    except ET.ParseError as error:
        return [f"{parent}: commented-out block is not well-formed XML: {error}"]
    if block is None:
        return []
    # The block stands where the comment is: check it as children of the parent.
    holder = ET.Element(parent.rpartition("/")[2])
    holder.extend(block)
    return _problems(holder, parent)


def _uncommented(element: ET.Element) -> ET.Element:
    """A copy of ``element`` with every commented-out block put in the comment's place."""
    copy = ET.Element(element.tag, element.attrib)
    for child in element:
        if child.tag is ET.Comment:
            copy.extend(_uncommented(e) for e in _commented_block(child.text or "") or ())
        else:
            copy.append(_uncommented(child))
    return copy


def _structure_problems(root: ET.Element) -> list[str]:
    """Why ``root`` is not one complete web.config for one Python handler."""
    problems = []
    for section in ("system.webServer", "appSettings"):
        count = len(root.findall(section))
        if count > 1 or (section == "system.webServer" and count != 1):
            problems.append(f"configuration: {count} <{section}> sections")
    for tag in ("configuration", "system.webServer"):
        expected = {id(e) for e in [root, *root.findall(tag)]}
        if any(id(e) not in expected for e in root.iter(tag)):
            problems.append(f"<{tag}> nested inside another section")
    modules = [e.attrib.get("modules") for e in root.iterfind("system.webServer/handlers/add")]
    platform = root.find("system.webServer/httpPlatform") is not None
    if modules not in (["httpPlatformHandler"], ["FastCgiModule"]):
        problems.append(f"handlers: {modules}, not one Python handler")
    elif platform != (modules == ["httpPlatformHandler"]):
        problems.append(f"{modules[0]} with{'' if platform else 'out'} an httpPlatform section")
    elif modules == ["FastCgiModule"] and "WSGI_HANDLER" not in _app_settings(root):
        problems.append("FastCgiModule without the WSGI_HANDLER appSetting")
    return problems


def _app_settings(root: ET.Element) -> dict[str, str]:
    return {e.attrib["key"]: e.attrib["value"] for e in root.iterfind("appSettings/add")}


def _edgeclaims_config(root: ET.Element) -> str:
    """EDGECLAIMS_CONFIG as the web.config sets it, for either handler."""
    variables = {
        e.attrib["name"]: e.attrib["value"]
        for e in root.iterfind(
            "system.webServer/httpPlatform/environmentVariables/environmentVariable"
        )
    }
    return {**variables, **_app_settings(root)}["EDGECLAIMS_CONFIG"]


@pytest.mark.parametrize("path", WEB_CONFIGS, ids=IDS)
def test_web_config_uses_only_schema_names(path: Path) -> None:
    root = _parse(path)
    assert root.tag == "configuration"
    assert _problems(root, "configuration") == []


@pytest.mark.parametrize("path", WEB_CONFIGS, ids=IDS)
def test_each_file_is_one_complete_web_config(path: Path) -> None:
    # Copied on its own as web.config, and still so with every commented-out block
    # uncommented: one system.webServer, one Python handler, nothing from applicationHost.
    root = _parse(path)
    assert _structure_problems(root) == []
    uncommented = _uncommented(root)
    assert _structure_problems(uncommented) == []
    assert _problems(uncommented, "configuration") == []


def test_every_file_is_for_one_handler() -> None:
    assert sorted(HTTP_PLATFORM_CONFIGS + WFASTCGI_CONFIGS) == WEB_CONFIGS
    assert ROOT / "web.config.example" in HTTP_PLATFORM_CONFIGS
    assert ROOT / "web.wfastcgi.config.example" in WFASTCGI_CONFIGS


def test_the_structure_check_catches_a_second_system_webserver(tmp_path: Path) -> None:
    # The shape web.config.example once had: the wfastcgi alternative in a comment
    # beside the first system.webServer, and applicationHost's fastCgi section.
    bad = tmp_path / "web.config"
    bad.write_text(
        "<configuration><system.webServer><handlers>"
        '<add name="p" modules="httpPlatformHandler" /></handlers>'
        '<httpPlatform processPath="x" /></system.webServer>'
        "<!-- wfastcgi instead:\n"
        '<appSettings><add key="WSGI_HANDLER" value="app.app" /></appSettings>\n'
        '<system.webServer><handlers><add name="f" modules="FastCgiModule" /></handlers>'
        '<fastCgi><application fullPath="python.exe" /></fastCgi></system.webServer>\n-->'
        "</configuration>"
    )
    root = _parse(bad)
    assert _structure_problems(root) == []
    uncommented = _uncommented(root)
    assert _structure_problems(uncommented) == [
        "configuration: 2 <system.webServer> sections",
        "handlers: ['httpPlatformHandler', 'FastCgiModule'], not one Python handler",
    ]
    assert _problems(uncommented, "configuration") == [
        "configuration/system.webServer: <fastCgi> belongs in applicationHost.config (500.19 here)"
    ]


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
    # HttpPlatformHandler restarts Python only for the files listed: edgeclaims.toml is.
    watched = [f.attrib["path"] for f in platform.iterfind("recycleOnFileChange/file")]
    assert _edgeclaims_config(_parse(path)) in watched
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
    # wfastcgi ends a process when a file under the site whose name (relative to the
    # site folder) re.match-es this changes; its default leaves out edgeclaims.toml.
    restart = re.compile(settings["WSGI_RESTART_FILE_REGEX"])
    for changed in ("edgeclaims.toml", "web.config", "app.py", "django_site\\settings.py"):
        assert restart.match(changed), changed
    for written in (
        "logs\\wfastcgi.log",
        "logs\\edgeclaims-4242.log",
        "__pycache__\\app.cpython-312.pyc",
    ):
        assert not restart.match(written), written


def test_sample_demo_keys_are_marked_demo_only() -> None:
    for toml in ROOT.glob("samples/*/edgeclaims.toml"):
        if toml.parent.name == "minimal_wsgi":
            continue
        text = toml.read_text()
        assert "DEMO ONLY" in text
        table = tomllib.loads(text)["edgeclaims"]
        (key,) = table["sources"][0]["keys"]
        assert key["secret"].startswith("hex:")


@pytest.mark.parametrize("sample", IIS_SAMPLES)
def test_sample_replay_store_is_where_the_pool_may_write(sample: str) -> None:
    # The pool only reads the site folder (docs/iis.md, step 5): the SQLite store lives
    # in a folder of its own outside it, and the README grants Modify on exactly that one.
    folder = ROOT / "samples" / sample
    config = load_config(str(folder / "edgeclaims.toml"))
    assert config.replay.store == "sqlite"
    assert config.replay.path is not None
    assert not Path(config.replay.path).is_relative_to(folder)

    raw = tomllib.loads((folder / "edgeclaims.toml").read_text())["edgeclaims"]["replay"]["path"]
    configs = sorted(folder.glob("web*.config"))
    sites = {ntpath.dirname(_edgeclaims_config(_parse(p))) for p in configs}
    (site,) = sites  # every web.config of the sample deploys it to the same folder
    store_folder = ntpath.dirname(ntpath.normpath(ntpath.join(site, raw)))
    assert not store_folder.lower().startswith(site.lower() + "\\")
    for web_config in configs:
        assert store_folder in web_config.read_text(), web_config.name

    readme = (folder / "README.md").read_text()
    iis_section = readme[readme.index("## Deploy on IIS") :]
    pool = f"IIS AppPool\\{sample}"
    assert f'icacls {store_folder} /grant "{pool}:(OI)(CI)M"' in iis_section
    assert f'icacls {site} /grant "{pool}:(OI)(CI)RX"' in iis_section
    assert f'icacls {site} /grant "{pool}:(OI)(CI)M"' not in iis_section


def test_iis_doc_grants_modify_where_the_replay_store_lives() -> None:
    text = IIS_DOC.read_text()
    (store,) = set(re.findall(r"path = '([^']+\\replay\.sqlite3)'", text))
    store_folder = ntpath.dirname(store)
    site = ntpath.dirname(_edgeclaims_config(_parse(ROOT / "web.config.example")))
    assert not store_folder.lower().startswith(site.lower() + "\\")
    assert f'icacls {store_folder} /grant "IIS AppPool\\myapp:(OI)(CI)M"' in text
    assert f'icacls {site} /grant "IIS AppPool\\myapp:(OI)(CI)RX"' in text
    assert f'icacls {site} /grant "IIS AppPool\\myapp:(OI)(CI)M"' not in text
    assert store in (ROOT / "web.config.example").read_text()
    # The web.config files the doc tells the admin to copy exist, and both are named.
    for template in ("web.config.example", "web.wfastcgi.config.example"):
        assert (ROOT / template).is_file()
        assert f"`{template}`" in text


def test_iis_doc_links_stay_in_the_repository() -> None:
    text = IIS_DOC.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    for target in targets:
        assert "://" not in target or target.startswith("https://"), target
        if "://" in target:
            continue
        resolved = (IIS_DOC.parent / target.partition("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), target
        assert resolved.exists(), target
    assert "../shared" not in text
    assert "reference/iis.md" not in text


def test_iis_doc_for_loops_suit_where_they_run() -> None:
    # At a prompt the loop variable is %v; in a .bat/.cmd file it must be %%v.
    loops = [line for line in IIS_DOC.read_text().splitlines() if line.startswith("for %")]
    assert {line.split()[1] for line in loops} == {"%v", "%%v"}
    for line in loops:
        variable = line.split()[1]
        uses = re.findall(r"%+v\b", line)
        assert set(uses) == {variable}, line
