"""``edgeclaims docs`` and ``edgeclaims samples``: what a pip user can read and copy.

Installed from a wheel, the files come from the package's ``_bundled`` folder
(setup.py copies them there); in the editable install, from this checkout.
Either way they must be the repository's files, byte for byte, so these
tests also pass when run from an unpacked sdist against the installed wheel
(as .ci/run does).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import edgeclaims
from edgeclaims.bundled import bundle_root, copy_samples, read_doc
from edgeclaims.cli import main

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ("web.config.example", "web.wfastcgi.config.example")
SAMPLES = ("django_site", "edgeworker", "fastapi_app", "flask_app", "minimal_wsgi")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def repo_files(folder: str) -> dict[str, bytes]:
    """The repository's files under ``folder`` that ship (no caches, stores or keys)."""
    files: dict[str, bytes] = {}
    for path in sorted((REPO / folder).rglob("*")):
        relative = path.relative_to(REPO)
        if path.is_file() and not _left_behind(relative):
            files[relative.as_posix()] = path.read_bytes()
    return files


def _left_behind(relative: Path) -> bool:
    skipped_dirs = {"node_modules", "__pycache__", "logs", "edgeclaims-data", ".pytest_cache"}
    return bool(skipped_dirs & set(relative.parts[:-1])) or bool(
        re.search(r"\.(pyc|log|key|pem)$|\.sqlite3", relative.name)
    )


def test_bundle_is_the_wheels_copy_or_this_checkout() -> None:
    root = bundle_root()
    package = Path(edgeclaims.__file__).resolve().parent
    if package.parent == REPO:  # editable install, or run from the checkout
        assert Path(str(root)).resolve() == REPO
    else:  # a wheel
        assert Path(str(root)).resolve() == package / "_bundled"


# -- docs ------------------------------------------------------------------------------


def test_docs_lists_the_readme_and_each_doc(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "docs")
    assert (status, err) == (0, "")
    table = out.split("\n\n")[0].splitlines()
    listed = {line.split()[0]: line.split(None, 1)[1] for line in table}
    assert listed == {
        "README": "edgeclaims",
        "config": "Configuration reference",
        "iis": "edgeclaims on IIS: step by step",
        "roles": "Roles, permissions and routes",
    }
    assert {f"{name}.md" for name in listed if name != "README"} == {
        path.name for path in (REPO / "docs").glob("*.md")
    }


@pytest.mark.parametrize(
    ("name", "path"),
    [
        pytest.param("iis", "docs/iis.md", id="iis"),
        pytest.param("iis.md", "docs/iis.md", id="with .md"),
        pytest.param("docs/roles.md", "docs/roles.md", id="repository path"),
        pytest.param("README", "README.md", id="README"),
        pytest.param("readme.md", "README.md", id="readme, any case"),
    ],
)
def test_docs_prints_one_document(capsys: pytest.CaptureFixture[str], name: str, path: str) -> None:
    status, out, err = run(capsys, "docs", name)
    assert (status, err) == (0, "")
    assert out == (REPO / path).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("nginx", id="unknown"),
        pytest.param("../pyproject.toml", id="a path out of the docs"),
        pytest.param("web.config.example", id="a template is not a doc"),
    ],
)
def test_docs_refuses_an_unknown_name_in_one_line(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    status, out, err = run(capsys, "docs", name)
    assert status == 2
    assert out == ""
    assert err == f"edgeclaims: no document {name!r} (known: README, config, iis, roles)\n"
    assert read_doc(name) is None


# -- samples ---------------------------------------------------------------------------


def test_samples_copies_samples_docs_and_both_templates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "site"
    status, out, err = run(capsys, "samples", "--out", str(out_dir))
    assert (status, err) == (0, "")
    expected = {**repo_files("samples"), **repo_files("docs")}
    expected.update({name: (REPO / name).read_bytes() for name in TEMPLATES})
    copied = {
        path.relative_to(out_dir).as_posix(): path.read_bytes()
        for path in sorted(out_dir.rglob("*"))
        if path.is_file()
    }
    assert copied == expected
    assert sorted(path.name for path in (out_dir / "samples").iterdir()) == list(SAMPLES)
    assert out.splitlines()[0] == f"wrote {len(expected)} files to {out_dir}:"
    for name in SAMPLES:
        assert f"  {out_dir / 'samples' / name}\n" in out
    for name in TEMPLATES:
        assert f"  {out_dir / name}\n" in out


def test_copied_readmes_link_to_copied_docs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The samples' READMEs say "[docs/iis.md](../../docs/iis.md)": the copy
    # keeps the repository's layout so that link still opens.
    assert run(capsys, "samples", "--out", str(tmp_path))[0] == 0
    links = 0
    for readme in (tmp_path / "samples").glob("*/README.md"):
        for target in re.findall(r"\]\((\.\./[^)#]+)", readme.read_text(encoding="utf-8")):
            assert (readme.parent / target).resolve().is_file(), (readme, target)
            links += 1
    assert links > 0


def test_samples_never_overwrites_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "samples", "--out", str(tmp_path))[0] == 0
    edited = tmp_path / "samples" / "flask_app" / "edgeclaims.toml"
    edited.write_text("# my edits\n")
    (tmp_path / "web.config.example").unlink()

    status, out, err = run(capsys, "samples", "--out", str(tmp_path))
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("edgeclaims: ")
    assert err.endswith(" exists; --force overwrites it\n")
    # Nothing was written, not even the file that was missing.
    assert edited.read_text() == "# my edits\n"
    assert not (tmp_path / "web.config.example").exists()

    status, _, err = run(capsys, "samples", "--out", str(tmp_path), "--force")
    assert (status, err) == (0, "")
    assert edited.read_bytes() == (REPO / "samples" / "flask_app" / "edgeclaims.toml").read_bytes()
    assert (tmp_path / "web.config.example").is_file()


def test_samples_into_a_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    for extra in ([], ["--force"]):
        status, _, err = run(capsys, "samples", "--out", str(a_file), *extra)
        assert status == 1
        assert err == f"edgeclaims: not a folder: {a_file}\n"


def test_samples_needs_out(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["samples"])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_what_running_a_sample_leaves_behind_is_not_copied(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    for name in ("README.md", *TEMPLATES, "docs/iis.md", "samples/flask_app/app.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    left_behind = [
        "samples/edgeworker/node_modules/dep/index.js",
        "samples/flask_app/__pycache__/app.cpython-311.pyc",
        "samples/flask_app/logs/python.log",
        "samples/flask_app/replay.sqlite3",
        "samples/flask_app/replay.sqlite3-wal",
        "samples/flask_app/edge-2026-11.key",
        "samples/flask_app/edge-2026-11.private.pem",
        "samples/edgeclaims-data/flask_app/replay.sqlite3",
    ]
    for name in left_behind:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("not part of the sample")
    written = copy_samples(tmp_path / "out", root=root)
    assert written == [*TEMPLATES, "docs/iis.md", "samples/flask_app/app.py"]
    assert sorted(
        path.relative_to(tmp_path / "out").as_posix()
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
    ) == sorted(written)
