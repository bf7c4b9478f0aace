"""What the installed plugin costs a pytest run that verifies nothing: start-up time, with and without it.

Runs a small unrelated project's tests many times, alternating ``pytest`` and
``pytest -p no:role_verification`` (the baseline, measured in the same run), and prints the medians,
their difference and their ratio. Also prints the plugin's own import time (``-X importtime``).

    python benchmarks/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def plugin_import_ms() -> float:
    """Cumulative import time of the entry-point module in milliseconds, pytest already imported."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest; import verification.plugin"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    line = next(line for line in err.splitlines() if line.rstrip().endswith("| verification.plugin"))
    cumulative = int(re.split(r"\s*\|\s*", line)[1])
    return cumulative / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        for index in range(20):
            (project / f"test_app_{index}.py").write_text(
                "".join(f"def test_{n}():\n    assert {n} + 1 > {n}\n\n" for n in range(10))
            )
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(args.runs):
            with_plugin.append(timed(base, project))
            without.append(timed([*base, "-p", "no:role_verification"], project))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"unrelated project, 200 tests, {args.runs} runs each (medians):")
    print(f"  with the plugin:            {a * 1000:7.1f} ms")
    print(f"  without (-p no:...):        {b * 1000:7.1f} ms  (baseline, same run)")
    print(f"  difference:                 {(a - b) * 1000:+7.1f} ms  ratio {a / b:.3f}x")
    print(f"  verification.plugin import: {plugin_import_ms():7.1f} ms cumulative, pytest already imported")


if __name__ == "__main__":
    main()
