"""``python -m verification precommit``: the pre-commit hooks' entry, the pre-deploy check on changed files.

pre-commit calls the entry with the hook's ``args`` and then the names of the changed files that
match the hook's ``files``/``types``. Each file that is a CloudFormation/CDK template (``--template``)
or a Terraform plan JSON (``--plan``) and declares an IAM role is verified in a pytest run of its
own, for the requirement sets given (``--requirements``, repeatable); other files that merely match
the pattern (a workflow's YAML, a package.json) are skipped, and said so. Each failed or broken
requirement is one line, ``FILE:LINE: level requirement: ROLE: reason. What to change: fix``, read
from the run's SARIF. Nothing is written into the checkout: Allure results, evidence and SARIF go
to a temporary folder, unless ``--sarif-dir`` asks to keep the SARIF.

The exit status is the worst of the files' (documented in docs/ci.md): 1 when a requirement failed,
10 when some could not be checked and none failed, 4 for a file the reader refuses, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from verification.errors import InputError
from verification.plugin.collection import SUITE_DIR

#: Which exit status wins when files disagree: a failure, then a broken requirement, then a fault.
_PRECEDENCE = (1, 10, 4, 2, 3, 5)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m verification precommit",
        description="Verify the IAM roles of changed templates or Terraform plans (pre-commit's entry).",
    )
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--template", dest="kind", action="store_const", const="template", help="CloudFormation/CDK")
    kind.add_argument("--plan", dest="kind", action="store_const", const="plan", help="terraform show -json output")
    parser.add_argument("--requirements", action="append", default=[], metavar="SPEC", help="set(s) to verify against")
    for flag in ("--appliance-principal", "--account", "--aws-region", "--snapshot", "--parameters-file"):
        parser.add_argument(flag, metavar="VALUE")
    for flag in ("--parameter", "--scp", "--role"):
        parser.add_argument(flag, action="append", default=[], metavar="VALUE")
    parser.add_argument("--sarif-dir", type=Path, metavar="DIR", help="write FILE's SARIF to DIR (one per file)")
    parser.add_argument("files", nargs="*", type=Path, help="the changed files (pre-commit passes them)")
    return parser


def declares_roles(kind: str, path: Path) -> bool:
    """Is the file a template (or plan) that declares an IAM role? InputError for a real template's fault."""
    if kind == "template":
        from verification.backends.template.cloudformation import load_template

        try:
            data = load_template(path)
        except InputError as error:
            if "not a CloudFormation template" in str(error) or "this is Terraform JSON" in str(error):
                return False
            raise
        return any(isinstance(r, dict) and r.get("Type") == "AWS::IAM::Role" for r in data["Resources"].values())
    from verification.backends.template.terraform import load_plan

    try:
        data = load_plan(path)
    except InputError as error:
        text = str(error)
        if any(words in text for words in ("not JSON", "not `terraform show -json` output", "CloudFormation")):
            return False
        raise
    return any(isinstance(c, dict) and c.get("type") == "aws_iam_role" for c in data.get("resource_changes") or [])


def pytest_args(options: argparse.Namespace, path: Path, scratch: Path, extra: Sequence[str]) -> list[str]:
    """The pytest command line that verifies one file."""
    args = [str(SUITE_DIR), "-p", "no:cacheprovider", "-q", "--no-header", "-rfE", "-n", "0"]
    args += [f"--{options.kind}", str(path)]
    args += [f"--requirements={spec}" for spec in options.requirements]
    for name in ("appliance_principal", "account", "aws_region", "snapshot", "parameters_file"):
        value = getattr(options, name)
        if value:
            args.append(f"--{name.replace('_', '-')}={value}")
    for name in ("parameter", "scp", "role"):
        args += [f"--{name}={value}" for value in getattr(options, name)]
    label = "-".join(path.with_suffix("").parts[-3:]) or "file"
    args += [f"--alluredir={scratch / label / 'allure'}", f"--evidence-dir={scratch / label / 'evidence'}"]
    folder = options.sarif_dir if options.sarif_dir is not None else scratch / label
    args.append(f"--sarif={folder / (label + '.sarif')}")
    return [*args, *extra]


def _findings(sarif: Path) -> list[str] | None:
    """One line per SARIF result, ``FILE:LINE: level rule: message``, as editors and terminals link them."""
    try:
        log = json.loads(sarif.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    lines = []
    for run in log.get("runs", []):
        for result in run.get("results", []):
            where = result["locations"][0]["physicalLocation"]
            place = f"{where['artifactLocation']['uri']}:{where['region']['startLine']}"
            lines.append(f"{place}: {result['level']} {result['ruleId']}: {result['message']['text']}")
    return lines


def worst(statuses: Sequence[int]) -> int:
    """The run's status from the files': a failure over a broken requirement over a fault; 0 when all passed."""
    for status in _PRECEDENCE:
        if status in statuses:
            return status
    return max(statuses, default=0)


def main(argv: Sequence[str]) -> int:
    """Verify each changed file that declares roles; print one line per file; return the worst status."""
    options, extra = _parser().parse_known_args(list(argv))
    statuses: list[int] = []
    with tempfile.TemporaryDirectory(prefix="role-verification-") as scratch:
        for path in options.files:
            try:
                if not declares_roles(options.kind, path):
                    print(f"{path}: skipped (not a {options.kind} that declares an IAM role)")
                    continue
            except InputError as error:
                print(f"{path}: {error}", file=sys.stderr)
                statuses.append(4)
                continue
            command = [sys.executable, "-m", "pytest", *pytest_args(options, path, Path(scratch), extra)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            statuses.append(done.returncode)
            verdict = {0: "every requirement met", 1: "FAILED", 10: "BROKEN (could not check)"}.get(
                done.returncode, f"exit {done.returncode}"
            )
            print(f"{path}: {verdict}")
            sarif = next((Path(a.split("=", 1)[1]) for a in command if a.startswith("--sarif=")), None)
            findings = _findings(sarif) if sarif is not None else None
            if findings is None and done.returncode != 0:  # no SARIF: bad input, whose one line says why
                print("\n".join(f"  {line}" for line in (done.stderr or done.stdout).strip().splitlines()[-3:]))
            for line in findings or ():
                print(f"  {line}")
    if options.files and not statuses:
        print("no changed file declares an IAM role: nothing to verify")
    return worst(statuses)
