"""The documentation, samples and web.config templates that ship with edgeclaims.

    edgeclaims docs                 # list them
    edgeclaims docs iis             # print docs/iis.md (README, iis, roles)
    edgeclaims samples --out DIR    # copy samples/, docs/ and both web.config templates

docs/iis.md tells an administrator to copy files that live at the top of the
repository (``web.config.example``, ``web.wfastcgi.config.example``) and in
``samples/``. A wheel carries them as package data under
``edgeclaims/_bundled/``, laid out as in the repository (setup.py's build
step copies them there, so git holds one copy). An editable install or a
source checkout has no ``_bundled`` folder: the repository's own files are
read instead. This module uses only the standard library, so setup.py can
load it before edgeclaims' dependencies are installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "BUNDLE_DIR",
    "bundle_root",
    "copy_samples",
    "doc_names",
    "read_doc",
    "shipped_files",
]

#: The folder inside the installed package that holds the copies.
BUNDLE_DIR = "_bundled"

#: The web.config templates (``edgeclaims samples`` copies them with samples/ and docs/).
TEMPLATES = ("web.config.example", "web.wfastcgi.config.example")
#: Single files at the top of the repository that ship.
TOP_FILES = ("README.md", *TEMPLATES)
#: Folders that ship, whole but for what :func:`_skipped` leaves out.
TREES = ("docs", "samples")

# What running a sample in place leaves behind — installed packages, caches,
# its replay store, its logs, keys made with `edgeclaims keygen` — is not part
# of it, and a key or a replay store must never travel in a wheel.
_SKIPPED_DIRS = frozenset(
    {
        "node_modules",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "edgeclaims-data",
        "logs",
    }
)
_SKIPPED_SUFFIXES = (".pyc", ".pyo", ".log", ".key", ".pem")


def _skipped(name: str, *, is_dir: bool) -> bool:
    if is_dir:
        return name in _SKIPPED_DIRS
    return name.endswith(_SKIPPED_SUFFIXES) or ".sqlite3" in name


def shipped_files(root: Traversable) -> Iterator[tuple[str, Traversable]]:
    """Every file that ships, as (POSIX path relative to ``root``, file), sorted.

    ``root`` is the repository (or an unpacked sdist), or the installed
    ``_bundled`` folder. A top-level file or folder that is missing raises
    ``FileNotFoundError``: a build without the docs must fail, not ship less.
    """
    for name in TOP_FILES:
        item = root / name
        if not item.is_file():
            raise FileNotFoundError(2, "missing from the edgeclaims bundle", name)
        yield name, item
    for tree in TREES:
        folder = root / tree
        if not folder.is_dir():
            raise FileNotFoundError(2, "missing from the edgeclaims bundle", tree)
        yield from _walk(folder, PurePosixPath(tree))


def _walk(folder: Traversable, relative: PurePosixPath) -> Iterator[tuple[str, Traversable]]:
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        is_dir = item.is_dir()
        if _skipped(item.name, is_dir=is_dir):
            continue
        if is_dir:
            yield from _walk(item, relative / item.name)
        elif item.is_file():
            yield str(relative / item.name), item


def bundle_root() -> Traversable:
    """Where the shipped files are: the wheel's ``_bundled`` folder, else the checkout."""
    package = resources.files("edgeclaims")
    bundled = package / BUNDLE_DIR
    if bundled.is_dir():
        return bundled
    # Editable install or source checkout: the package folder sits in the
    # repository, next to docs/ and samples/.
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and all(
        (checkout / tree).is_dir() for tree in TREES
    ):
        return checkout
    raise FileNotFoundError(
        2, "this installation of edgeclaims has no docs or samples", str(bundled)
    )


def doc_names(root: Traversable | None = None) -> dict[str, Traversable]:
    """The readable documents by name: ``README`` and each ``docs/*.md`` without ``.md``."""
    root = bundle_root() if root is None else root
    names = {"README": root / "README.md"}
    for item in sorted((root / "docs").iterdir(), key=lambda entry: entry.name):
        if item.is_file() and item.name.endswith(".md"):
            names[item.name[: -len(".md")]] = item
    return names


def read_doc(name: str, root: Traversable | None = None) -> str | None:
    """The text of one document (``iis``, ``iis.md``, ``docs/iis.md``, ``readme``…), or None."""
    wanted = name.replace("\\", "/").removeprefix("docs/").removesuffix(".md").lower()
    for known, item in doc_names(root).items():
        if known.lower() == wanted:
            return item.read_text(encoding="utf-8")
    return None


def copy_samples(out: Path, *, force: bool = False, root: Traversable | None = None) -> list[str]:
    """Copy ``samples/``, ``docs/`` and both web.config templates into ``out``.

    ``out`` is laid out as the repository is, so the paths docs/iis.md and
    the samples' READMEs give (``samples/flask_app``, ``../../docs/iis.md``,
    ``web.config.example``) hold there. Nothing is written when a file
    already exists and ``force`` is false (``FileExistsError`` names it).
    Returns the relative paths written.
    """
    root = bundle_root() if root is None else root
    files = [
        (relative, item)
        for relative, item in shipped_files(root)
        if relative in TEMPLATES or relative.startswith(("samples/", "docs/"))
    ]
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "not a folder", str(out))
    if not force:
        for relative, _ in files:
            target = out / relative
            if target.exists():
                raise FileExistsError(17, "exists", str(target))
    for relative, item in files:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.read_bytes())
    return [relative for relative, _ in files]


# -- the two commands (their arguments are in edgeclaims.cli) ------------------------------


def run_docs(args: argparse.Namespace, out: TextIO) -> int:
    """``edgeclaims docs [NAME]``."""
    root = bundle_root()
    if args.name is None:
        for name, item in doc_names(root).items():
            out.write(f"{name:<8} {_title(item)}\n")
        out.write("\nedgeclaims docs NAME prints one.\n")
        return 0
    text = read_doc(args.name, root)
    if text is None:
        known = ", ".join(doc_names(root))
        print(f"edgeclaims: no document {args.name!r} (known: {known})", file=sys.stderr)
        return 2
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


def run_samples(args: argparse.Namespace, out: TextIO) -> int:
    """``edgeclaims samples --out DIR [--force]``."""
    destination: Path = args.out
    written = copy_samples(destination, force=args.force)
    samples = sorted({path.split("/")[1] for path in written if path.startswith("samples/")})
    out.write(f"wrote {len(written)} files to {destination}:\n")
    out.writelines(f"  {destination / 'samples' / name}\n" for name in samples)
    out.writelines(f"  {destination / name}\n" for name in TEMPLATES)
    out.write(f"  {destination / 'docs'}\n")
    out.write("Next: docs/iis.md, step 4 (edgeclaims docs iis).\n")
    return 0


def _title(item: Traversable) -> str:
    """The document's first heading, without the ``#``."""
    with item.open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return ""
