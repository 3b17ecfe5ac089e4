"""docs/config.md: every example loads, and every setting the code reads is documented.

Two kinds of checks, both read from the files at test time:

* Each ```toml block of docs/config.md that begins with ``[edgeclaims]`` is
  loaded with :func:`edgeclaims.load_config`; so is each block that begins
  with another ``[edgeclaims.…]`` / ``[[edgeclaims.sources]]`` table, after
  an ``[edgeclaims]`` line (and, when it has none, one rfc9421 source) is
  put around it. Every ``secret_env`` it names is set to a valid secret and
  every file it names (``secret_file``, ``public_key_file``, ``jwks_file``)
  is written, with a key of the kind its algorithm needs. A block with
  ``<!-- not loadable: reason -->`` just above it is skipped, and the reason
  printed.
* The settings the code accepts are found by reading its source with
  :mod:`ast` — each ``table.str("…")``, ``table.int("…")``, ``"…" in table``
  … of the modules that read the configuration — so a setting added to the
  code fails here until docs/config.md lists it, in the right section's
  table, and shows it in an example at the right place. A setting the
  document lists but the code no longer reads fails too.
"""

from __future__ import annotations

import ast
import base64
import importlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import edgeclaims
from edgeclaims.algorithms import ALGORITHMS, JOSE_ALGORITHMS
from edgeclaims.jwks import jwks_document
from edgeclaims.sources import SOURCE_MODULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"
PACKAGE = Path(edgeclaims.__file__).resolve().parent

#: A secret every HMAC algorithm accepts (64 bytes: enough for HS512).
SECRET = "base64url:" + base64.urlsafe_b64encode(bytes(range(64))).decode().rstrip("=")

#: What completes a fragment that configures no source.
BASE_SOURCE = """
[[edgeclaims.sources]]
type = "rfc9421"
keys = [{ id = "docs-test", alg = "hmac-sha256", secret_env = "EDGECLAIMS_DOCS_TEST_KEY" }]
"""

# -- the document ------------------------------------------------------------------------

_FENCE = re.compile(r"^```toml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*not loadable:\s*(.*?)\s*-->\s*\Z", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$", re.MULTILINE)
_ROW_KEY = re.compile(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|", re.MULTILINE)


class Block(NamedTuple):
    line: int  # of the opening fence, 1-based
    text: str
    first: str  # first line that is neither blank nor a comment, comment removed
    skip_reason: str | None


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def toml_blocks(text: str) -> list[Block]:
    blocks = []
    for match in _FENCE.finditer(text):
        body = match.group(1)
        first = next(
            (
                line.partition("#")[0].strip()
                for line in body.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ),
            "",
        )
        marker = _MARKER.search(text[: match.start()].rstrip() + "\n")
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(line, body, first, marker.group(1) if marker else None))
    return blocks


def is_configuration(block: Block) -> bool:
    return block.first == "[edgeclaims]" or block.first.startswith(
        ("[edgeclaims.", "[[edgeclaims.")
    )


def completed(block: Block) -> str:
    """The block as a whole configuration file."""
    if block.first == "[edgeclaims]":
        return block.text
    text = "[edgeclaims]\n" + block.text
    if not re.search(r"^\[\[edgeclaims\.sources\]\]", block.text, re.MULTILINE):
        text += BASE_SOURCE
    return text


@dataclass
class Section:
    title: str
    level: int
    body: str


def sections(text: str) -> list[Section]:
    """Every heading with the text up to the next heading of its level or above."""
    found = [(m.start(), m.end(), len(m.group(1)), m.group(2)) for m in _HEADING.finditer(text)]
    # Headings inside fenced blocks (a "# comment" in a shell block) are not headings.
    fences = [(m.start(), m.end()) for m in re.finditer(r"^```.*?^```", text, re.M | re.S)]
    found = [h for h in found if not any(a < h[0] < b for a, b in fences)]
    result = []
    for index, (_, end, level, title) in enumerate(found):
        stop = next((s for s, _, lv, _ in found[index + 1 :] if lv <= level), len(text))
        result.append(Section(title, level, text[end:stop]))
    return result


def section(text: str, title: str) -> Section:
    matches = [s for s in sections(text) if s.title == title]
    assert len(matches) == 1, f"docs/config.md needs exactly one heading {title!r}"
    return matches[0]


def table_keys(body: str) -> set[str]:
    """The settings a section's tables list: the backticked name opening a row."""
    return set(_ROW_KEY.findall(body))


# -- what the code accepts ------------------------------------------------------------------

#: The methods of edgeclaims.config_table.Table that read a setting by name.
_READERS = frozenset(
    {"str", "optional_str", "bool", "int", "number", "str_list", "table", "tables", "raw"}
)


def read_settings(path: Path, receivers: Iterable[str], constants: Iterable[str] = ()) -> set[str]:
    """The setting names a module reads from the tables named ``receivers``.

    Found: ``receiver.str("name", …)`` and the other readers, ``"name" in
    receiver``, ``helper(receiver, "name")``, and the strings of the
    module-level tuples named in ``constants`` (names checked by a loop).
    """
    receivers = frozenset(receivers)
    constants = frozenset(constants)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    seen_constants: set[str] = set()

    def literal(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _READERS
                and isinstance(func.value, ast.Name)
                and func.value.id in receivers
                and node.args
                and literal(node.args[0]) is not None
            ):
                found.add(literal(node.args[0]))  # type: ignore[arg-type]
            elif (
                len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in receivers
                and literal(node.args[1]) is not None
            ):
                found.add(literal(node.args[1]))  # type: ignore[arg-type]
        elif isinstance(node, ast.Compare):
            if (
                literal(node.left) is not None
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.In | ast.NotIn)
                and isinstance(node.comparators[0], ast.Name)
                and node.comparators[0].id in receivers
            ):
                found.add(literal(node.left))  # type: ignore[arg-type]
        elif isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)} & constants
            if names:
                seen_constants |= names
                found.update(s for s in map(literal, ast.walk(node.value)) if s is not None)
    missing = constants - seen_constants
    assert not missing, f"{path.name} no longer defines {sorted(missing)}: update this test"
    return found


def module_path(name: str) -> Path:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    return Path(module.__file__)


TOP_SETTINGS = read_settings(PACKAGE / "config.py", ["top"])
REPLAY_SETTINGS = read_settings(PACKAGE / "config.py", ["table"])
COMMON_SOURCE_SETTINGS = read_settings(PACKAGE / "sources" / "__init__.py", ["table"])
SOURCE_SETTINGS = {
    source_type: COMMON_SOURCE_SETTINGS | read_settings(module_path(module), ["table"])
    for source_type, module in SOURCE_MODULES.items()
}
KEY_SETTINGS = read_settings(
    PACKAGE / "keys.py", ["table"], constants=["_SECRET_SOURCES", "_PUBLIC_SOURCES"]
)
RULE_SETTINGS = read_settings(PACKAGE / "rbac" / "rules.py", ["table", "item", "value"])
GATE_SETTINGS = read_settings(PACKAGE / "origin_gate.py", ["table"])


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        pytest.param(
            TOP_SETTINGS, {"mode", "sources", "replay", "routes", "trusted_peers"}, id="top"
        ),
        pytest.param(REPLAY_SETTINGS, {"store", "path", "url", "on_error"}, id="replay"),
        pytest.param(COMMON_SOURCE_SETTINGS, {"type", "subject_claim"}, id="every source"),
        pytest.param(SOURCE_SETTINGS["rfc9421"], {"keys", "max_age", "tag", "name"}, id="rfc9421"),
        pytest.param(SOURCE_SETTINGS["jws"], {"keys", "jwks_url", "timeout", "name"}, id="jws"),
        pytest.param(
            KEY_SETTINGS, {"id", "alg", "secret_env", "public_key_file", "jwk"}, id="keys"
        ),
        pytest.param(
            RULE_SETTINGS, {"any", "all", "includes", "claim", "equals", "glob"}, id="rules"
        ),
        pytest.param(GATE_SETTINGS, {"type", "keys", "versions", "exempt_paths"}, id="gate"),
    ],
)
def test_the_settings_are_found_in_the_code(found: set[str], expected: set[str]) -> None:
    # If the code is reorganised so that this reader no longer sees it, the
    # documentation checks below would pass on nothing: fail here instead.
    assert expected <= found, f"the source reader no longer finds {sorted(expected - found)}"


# -- every example loads ----------------------------------------------------------------------


def _configuration_blocks() -> list[Block]:
    return [block for block in toml_blocks(doc_text()) if is_configuration(block)]


def _public_pem(alg: object) -> str:
    from cryptography.hazmat.primitives import serialization

    algorithm = ALGORITHMS.get(str(alg)) or JOSE_ALGORITHMS.get(str(alg))
    kind = algorithm.key_kind if algorithm is not None else "ec-p256"
    public = _private_key(kind).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _private_key(kind: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    curves = {"ec-p384": ec.SECP384R1(), "ec-p521": ec.SECP521R1()}
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(curves.get(kind, ec.SECP256R1()))


def _jwks(algorithms: object) -> str:
    names = [a for a in algorithms if a in JOSE_ALGORITHMS] if isinstance(algorithms, list) else []
    alg = names[0] if names else "ES256"
    kind = JOSE_ALGORITHMS[alg].key_kind
    key = bytes(range(64)) if kind == "secret" else _private_key(kind)
    return json.dumps(jwks_document([("docs-test", alg, key)], include_secrets=kind == "secret"))


def _prepare(
    configuration: Mapping[str, Any], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set the variables and write the files the configuration names (in place)."""
    files = folder / "files"
    files.mkdir(exist_ok=True)

    def write(name: object, content: str) -> str:
        path = files / re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))
        path.write_text(content, encoding="utf-8")
        return str(path)

    sources = configuration.get("sources")
    replay = configuration.get("replay")
    if isinstance(replay, dict) and isinstance(replay.get("url_env"), str):
        monkeypatch.setenv(replay["url_env"], "redis://127.0.0.1:6379/0")
    gate = configuration.get("origin_gate")
    for entry in gate.get("keys", []) if isinstance(gate, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("secret_env"), str):
            monkeypatch.setenv(entry["secret_env"], SECRET)
    for source in sources if isinstance(sources, list) else []:
        if not isinstance(source, dict):
            continue
        if "jwks_file" in source:
            source["jwks_file"] = write(source["jwks_file"], _jwks(source.get("algorithms")))
        # oauth2-proxy: its own "<alg>:<secret>" form, no encoding prefix.
        if isinstance(source.get("signature_key_env"), str):
            monkeypatch.setenv(source["signature_key_env"], "sha256:docs-test-secret")
        if "signature_key_file" in source:
            source["signature_key_file"] = write(
                source["signature_key_file"], "sha256:docs-test-secret\n"
            )
        keys = source.get("keys")
        for entry in keys if isinstance(keys, list) else []:
            if not isinstance(entry, dict):
                continue
            if isinstance(entry.get("secret_env"), str):
                monkeypatch.setenv(entry["secret_env"], SECRET)
            if "secret_file" in entry:
                entry["secret_file"] = write(entry["secret_file"], SECRET + "\n")
            if "public_key_file" in entry:
                entry["public_key_file"] = write(
                    entry["public_key_file"], _public_pem(entry.get("alg"))
                )


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=f"config.md:{b.line}") for b in _configuration_blocks()]
)
def test_each_example_configuration_loads(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.skip_reason is not None:
        print(f"docs/config.md:{block.line}: not loadable: {block.skip_reason}")
        pytest.skip(f"docs/config.md:{block.line}: not loadable: {block.skip_reason}")
    document = tomllib.loads(completed(block))
    # What load_config asks of a file: [edgeclaims] and nothing else.
    assert list(document) == ["edgeclaims"], f"line {block.line}: other top-level tables"
    configuration = document["edgeclaims"]
    _prepare(configuration, tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)  # relative paths of a mapping are read from here
    config = edgeclaims.load_config(configuration)
    assert config.sources


def test_the_document_opens_with_a_complete_example() -> None:
    blocks = toml_blocks(doc_text())
    assert blocks, "docs/config.md has no toml block"
    first = blocks[0]
    assert first.first == "[edgeclaims]"
    assert first.skip_reason is None
    settings = tomllib.loads(first.text)["edgeclaims"]
    assert {s["type"] for s in settings["sources"]} == set(SOURCE_MODULES)
    assert settings["replay"]["store"] == "sqlite"
    assert {"roles", "permissions", "routes"} <= set(settings)


def test_markers_only_mark_blocks() -> None:
    # A marker that drifted away from its block would silently mark nothing.
    text = doc_text()
    markers = len(re.findall(r"<!--\s*not loadable:", text))
    marked = sum(1 for block in toml_blocks(text) if block.skip_reason is not None)
    assert markers == marked


# -- every setting is documented -----------------------------------------------------------

TOP_TITLE = "The `[edgeclaims]` table"
EVERY_SOURCE_TITLE = "Every source"
REPLAY_TITLE = "Replay: `[edgeclaims.replay]`"
KEYS_TITLE = "Keys"
GATE_TITLE = "Origin gate: `[edgeclaims.origin_gate]`"
RULES_TITLE = "Roles, permissions and routes"


def source_title(source_type: str) -> str:
    return f'`type = "{source_type}"`'


def _example_settings() -> dict[str, set[str]]:
    """The settings shown in the examples, by where they stand."""
    shown: dict[str, set[str]] = {
        "top": set(),
        "replay": set(),
        "keys": set(),
        "every": set(),
        "gate": set(),
    }
    shown.update({source_type: set() for source_type in SOURCE_MODULES})
    for block in toml_blocks(doc_text()):
        if not is_configuration(block):
            continue
        settings = tomllib.loads(block.text).get("edgeclaims", {})
        shown["top"] |= set(settings)
        shown["replay"] |= set(settings.get("replay", {}))
        shown["gate"] |= set(settings.get("origin_gate", {}))
        for source in settings.get("sources", []):
            shown["every"] |= set(source)
            shown.setdefault(source.get("type", "rfc9421"), set()).update(source)
            for entry in source.get("keys", []):
                shown["keys"] |= set(entry)
    return shown


def _cases() -> Iterator[Any]:
    yield pytest.param([TOP_TITLE], TOP_SETTINGS, "top", id="[edgeclaims]")
    yield pytest.param([REPLAY_TITLE], REPLAY_SETTINGS, "replay", id="[edgeclaims.replay]")
    yield pytest.param([KEYS_TITLE], KEY_SETTINGS, "keys", id="keys")
    yield pytest.param([GATE_TITLE], GATE_SETTINGS, "gate", id="[edgeclaims.origin_gate]")
    for source_type, accepted in SOURCE_SETTINGS.items():
        titles = [EVERY_SOURCE_TITLE, source_title(source_type)]
        yield pytest.param(titles, accepted, source_type, id=f"sources: {source_type}")


@pytest.mark.parametrize(("titles", "accepted", "where"), list(_cases()))
def test_every_accepted_setting_is_documented(
    titles: list[str], accepted: set[str], where: str
) -> None:
    text = doc_text()
    listed = set().union(*(table_keys(section(text, title).body) for title in titles))
    undocumented = accepted - listed
    assert not undocumented, (
        f"settings the code accepts but docs/config.md does not list under "
        f"{' / '.join(titles)}: {sorted(undocumented)}"
    )
    unknown = table_keys(section(text, titles[-1]).body) - accepted
    assert not unknown, f"docs/config.md lists settings the code refuses: {sorted(unknown)}"
    missing_example = accepted - _example_settings()[where]
    assert not missing_example, f"no example in docs/config.md shows {sorted(missing_example)}"


def test_settings_common_to_every_source_are_accepted_by_every_source() -> None:
    listed = table_keys(section(doc_text(), EVERY_SOURCE_TITLE).body)
    for source_type, accepted in SOURCE_SETTINGS.items():
        assert listed <= accepted, f"{source_type} does not accept {sorted(listed - accepted)}"


def test_the_keys_of_role_and_rule_tables_are_named() -> None:
    body = section(doc_text(), RULES_TITLE).body
    unnamed = {name for name in RULE_SETTINGS if f"`{name}`" not in body}
    assert not unnamed, f"the roles section does not name {sorted(unnamed)}"
