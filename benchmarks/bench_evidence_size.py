"""Evidence that fits: bytes of Allure results and evidence per role, passing and failing, at 100 roles.

The roles of ``bench_scale.py`` (every tenth lacks an action, every seventh its instance profile;
the rest pass) on the local endpoint, verified from a targets file with ``--alluredir`` and
``--evidence-dir``. Each ``--python`` interpreter runs the same verification, so the figures of
two checkouts (before and after a change) are measured in one run, against one endpoint:

    python benchmarks/bench_evidence_size.py [--roles 100] [--python OTHER_CHECKOUT/.venv/bin/python]

Target (docs/nightly.md): at most 100 KiB per passing role, Allure results and evidence together.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for benchmarks.bench_scale

from benchmarks.bench_scale import SUITE, Endpoint, basetemp, clean_env, run, write_targets

LIMIT = 100 * 1024


def sizes(folder: Path) -> dict[str, dict[str, int]]:
    """Per role: its Allure bytes (results and their attachments), evidence bytes, and whether it failed."""
    per_role: dict[str, dict[str, int]] = defaultdict(lambda: {"allure": 0, "evidence": 0, "failed": 0})
    results = folder / "allure-results"
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        role = next((label["value"] for label in data["labels"] if label["name"] == "role"), "")
        entry = per_role[role]
        entry["allure"] += path.stat().st_size
        entry["allure"] += sum((results / a["source"]).stat().st_size for a in data.get("attachments", ()))
        entry["failed"] |= data["status"] in ("failed", "broken")
    bundle = folder / "evidence"
    roles = json.loads((bundle / "run.json").read_text())["roles"]
    for role, where in roles.items():
        per_role[role]["evidence"] = sum(p.stat().st_size for p in (bundle / where).rglob("*") if p.is_file())
    return dict(per_role)


def total(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--python", action="append", default=[], help="another interpreter (checkout) to measure")
    args = parser.parse_args()
    interpreters = [sys.executable, *args.python]
    with tempfile.TemporaryDirectory() as tmp, Endpoint(args.roles) as endpoint:
        print(f"seeded {args.roles} roles on the local endpoint in {endpoint.seconds:.1f} s")
        for number, python in enumerate(interpreters):
            folder = Path(tmp) / f"run{number}"
            write_targets(folder)
            command = [python, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--targets", "targets.json"]
            command += ["--endpoint-url", endpoint.url, "--alluredir", "allure-results", "--evidence-dir", "evidence"]
            measured = run([*command, "-n", "2", *basetemp(folder)], folder, clean_env())
            if measured.returncode not in (0, 1):
                raise SystemExit(f"{python}: pytest exited {measured.returncode}:\n{measured.tail}")
            per_role = sizes(folder)
            passing = [r for role, r in per_role.items() if role and not r["failed"]]
            failing = [r for role, r in per_role.items() if role and r["failed"]]

            def mean(rows: list[dict[str, int]], key: str | None = None) -> float:
                values = [(r[key] if key else r["allure"] + r["evidence"]) for r in rows]
                return sum(values) / len(values) / 1024 if values else 0.0

            worst = max((r["allure"] + r["evidence"] for r in passing), default=0) / 1024
            print(f"\n{python} ({len(passing)} passing, {len(failing)} failing roles, {measured.seconds:.0f} s)")
            print(
                f"  allure-results: {total(folder / 'allure-results') / 2**20:.1f} MiB; evidence: "
                f"{total(folder / 'evidence') / 2**20:.1f} MiB"
            )
            print(
                f"  passing role: {mean(passing):.1f} KiB on average (Allure {mean(passing, 'allure'):.1f}, evidence "
                f"{mean(passing, 'evidence'):.1f}); largest {worst:.1f} KiB; "
                f"target at most 100 KiB: {'met' if worst * 1024 <= LIMIT else 'NOT met'}"
            )
            print(
                f"  failing role: {mean(failing):.1f} KiB on average (Allure {mean(failing, 'allure'):.1f}, evidence "
                f"{mean(failing, 'evidence'):.1f})"
            )


if __name__ == "__main__":
    main()
