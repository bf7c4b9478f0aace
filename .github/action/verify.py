"""The GitHub Action's Verify step (action.yml): run the verification, then write the step's outputs.

Reads ``VERIFY_ARGS`` (split as a shell would, never evaluated), ``SARIF_FILE`` and
``SARIF_CATEGORY``; runs ``python -m pytest ARGS --sarif FILE``; writes ``exit-status``, the counts
(``roles``, ``passed``, ``failed``, ``broken``, ``skipped``, from the SARIF the run wrote) and
``sarif`` (empty when bad input stopped the run) to ``$GITHUB_OUTPUT``. Always exits 0, so that the
SARIF is uploaded whatever the outcome; the action's last step fails the job when asked to.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

COUNTS = ("roles", "passed", "failed", "broken", "skipped")


def main() -> int:
    args = shlex.split(os.environ.get("VERIFY_ARGS", ""))
    sarif = Path(os.environ.get("SARIF_FILE") or "reports/role-verification.sarif")
    category = os.environ.get("SARIF_CATEGORY", "")
    for stale in (sarif, sarif.with_name(sarif.name + ".roles.txt")):
        stale.unlink(missing_ok=True)  # an earlier run's file is never uploaded as this run's
    command = [sys.executable, "-m", "pytest", *args, f"--sarif={sarif}"]
    if category:
        command.append(f"--sarif-category={category}")
    print("+ " + shlex.join(command), flush=True)
    status = subprocess.run(command, check=False).returncode
    outputs: dict[str, object] = {"exit-status": status, "sarif": ""}
    if sarif.is_file():
        [run, *_] = json.loads(sarif.read_text(encoding="utf-8"))["runs"]
        counts = run.get("properties", {}).get("counts", {})
        levels = [result["level"] for result in run["results"]]
        counts.setdefault("failed", levels.count("error"))
        counts.setdefault("broken", levels.count("warning"))
        outputs.update({name: counts.get(name, "") for name in COUNTS}, sarif=str(sarif.resolve()))
    else:
        outputs.update(dict.fromkeys(COUNTS, ""))
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as out:
                out.write(f"\n**Role verification stopped (exit status {status}): no SARIF written; see the log.**\n")
    target = os.environ.get("GITHUB_OUTPUT")
    lines = "".join(f"{key}={value}\n" for key, value in outputs.items())
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(lines)
    else:
        print(lines, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
