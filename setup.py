"""Build step: the wheel carries the docs, the samples and the web.config templates.

Everything else is declared in pyproject.toml. docs/iis.md tells a pip user
to copy ``web.config.example``, ``web.wfastcgi.config.example`` and
``samples/…``; they stay where they are in the repository (tests and docs
name those paths), and ``build_py`` copies them, with ``README.md`` and
``docs/``, into the package as ``edgeclaims/_bundled/`` — the same layout —
where ``edgeclaims docs`` and ``edgeclaims samples`` find them. The list of
files is edgeclaims/bundled.py's, loaded by path: the package's
dependencies are not installed while it builds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _load_bundled() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_edgeclaims_bundled", ROOT / "edgeclaims" / "bundled.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError("cannot load edgeclaims/bundled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithBundle(build_py):
    """``build_py`` that also copies the shipped docs and samples into the package."""

    def run(self) -> None:
        super().run()
        # An editable install reads the repository's own files (bundled.bundle_root).
        if not self.editable_mode:
            for source, target in self._bundle():
                self.mkpath(str(target.parent))
                self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.extend(str(target) for _, target in self._bundle())
        return outputs

    def _bundle(self) -> list[tuple[Path, Path]]:
        bundled = _load_bundled()
        target = Path(self.build_lib) / "edgeclaims" / bundled.BUNDLE_DIR
        return [(ROOT / relative, target / relative) for relative, _ in bundled.shipped_files(ROOT)]


setup(cmdclass={"build_py": BuildPyWithBundle})
