"""What ``import edgeclaims.wsgi`` adds to a fresh interpreter, next to ``import jwt``.

    python benchmarks/bench_import.py [--rounds 41]

Each round starts one fresh interpreter per module (in turn, the order
swapped every round) that times its own import with ``perf_counter`` — the
interpreter's start-up and ``site`` are outside the figure, as they are
for any app that adds the import. Both are imported from bytecode, as
after ``pip install`` (which compiles every module it installs): the
checkout's ``edgeclaims`` is compiled first, and the children run without
``PYTHONDONTWRITEBYTECODE`` — with it, a checkout's modules would be
compiled from source on every import while PyJWT's would not. The ratio is the
median of the within-round ratios; medians are printed beside it.

Budget (issue #14): ``import edgeclaims.wsgi`` adds ≤ 0.6× what ``import
jwt`` (PyJWT) adds. ``edgeclaims.asgi`` and the top-level ``edgeclaims``
are printed for information.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys

from common import ROOT

PEER = "jwt"
MEASURED = ("edgeclaims.wsgi", "edgeclaims.asgi", "edgeclaims")
BUDGET = 0.6
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
PROGRAM = (
    "import time; started = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - started)"
)


def import_seconds(module: str) -> float:
    """Seconds a fresh interpreter spends importing ``module`` (and all it imports)."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=ENVIRONMENT,
    )
    return float(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    modules = (PEER, *MEASURED)
    compileall.compile_dir(ROOT / "edgeclaims", quiet=1)
    for module in modules:
        import_seconds(module)  # bytecode caches written outside the measurement
    samples: dict[str, list[float]] = {module: [] for module in modules}
    ratios: dict[str, list[float]] = {module: [] for module in MEASURED}
    for index in range(args.rounds):
        order = modules if index % 2 == 0 else modules[::-1]
        seconds = {module: import_seconds(module) for module in order}
        for module in modules:
            samples[module].append(seconds[module])
        for module in MEASURED:
            ratios[module].append(seconds[module] / seconds[PEER])
    print(f"bench_import: Python {sys.version.split()[0]}, {args.rounds} rounds, medians")
    for module in modules:
        print(f"  import {module:<18} {statistics.median(samples[module]) * 1e3:7.2f} ms")
    print()
    for module in MEASURED:
        ratio = statistics.median(ratios[module])
        label = f"import {module} ÷ import {PEER}"
        if module == "edgeclaims.wsgi":
            verdict = "within" if ratio <= BUDGET else "OVER"
            print(f"  {label:<44} {ratio:6.3f}×  (budget ≤ {BUDGET}×, {verdict})")
        else:
            print(f"  {label:<44} {ratio:6.3f}×  (info)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
