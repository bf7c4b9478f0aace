"""Every command the README and its docs pages show, run as written in a fresh clone, after quickstart command 1 and 2.

The commands come from the ``sh`` blocks of the README and of the pages in ``readme_commands.PAGES``
(offline runs, templates, the local endpoint, development), so the pages and this test cannot
drift: a command with no expectation here fails the test. The clone is a ``git clone``
of the checkout (what is committed), in ``tmp_path``, in a user's usual environment (no
``PYTHONDONTWRITEBYTECODE``, so pytest's assertion-rewrite caches are written into the installed
package, as they are for most people).

The one liberty taken: no network in tests, so the quickstart's ``pip install`` steps are done
offline with the same effect (the checkout built without build isolation and installed, regular
then editable, into the clone's ``.venv``; the dependencies from this environment through a
``.pth`` line; pytest's console script written as pip writes it). ``.ci/run`` runs both quickstart
commands exactly as written, with the registry. The endpoint command listens on ``--port 0``
rather than 5000, which another process on the machine may hold.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import boto3
import pytest

from tests.system.packaging.readme_commands import Command, commands
from tests.system.packaging.test_wheel import clean_env

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "tests" / "backends" / "template" / "data"
ACCOUNT = "111122223333"
ALLOW_ALL_SCP = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a git checkout to clone"
)


@dataclass
class Checkout:
    """The fresh clone, its .venv, and the environment its commands run in."""

    path: Path
    env: dict[str, str]

    @property
    def site(self) -> Path:
        return Path(
            subprocess.run(
                [
                    str(self.path / ".venv" / "bin" / "python"),
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )

    def shell(self, line: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line], cwd=cwd or self.path, env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, timeout=300).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    path = tmp_path_factory.mktemp("readme") / "veeam-role-verification"
    _git("clone", "-q", str(ROOT), str(path))
    _git("-C", str(path), "checkout", "-q", "--detach", _git("-C", str(ROOT), "rev-parse", "HEAD"))
    env = {**clean_env(), "PATH": f"{path / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["VIRTUAL_ENV"] = str(path / ".venv")
    _inputs(path)
    return Checkout(path, env)


def _inputs(path: Path) -> None:
    """The files the README's commands name: a snapshot of account 111122223333, SCPs, a template, a plan."""
    demo = (ROOT / "fixtures" / "demo" / "account.json").read_text()
    (path / "account.json").write_text(demo.replace("123456789012", ACCOUNT).replace("VeeamFLRWorker", "FLRWorker"))
    for name in ("root.json", "ou.json"):
        (path / name).write_text(json.dumps(ALLOW_ALL_SCP))
    shutil.copy(TEMPLATES / "flr-worker.cfn.yaml", path / "stack.yaml")
    plan = (TEMPLATES / "terraform" / "known" / "plan.json").read_text()
    (path / "plan.json").write_text(plan.replace("123456789012", ACCOUNT))  # the account --account names


def _offline_install(checkout: Checkout, editable: bool) -> None:
    """``pip install [-e] '.[extra]'`` without the network: same files in .venv, dependencies by .pth."""
    venv = checkout.path / ".venv"
    site = checkout.site
    outer = sysconfig.get_paths()["purelib"]
    (site / "zz_outer_dependencies.pth").write_text(outer + "\n")  # setuptools for the editable build too
    if editable:
        command = [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        command += ["-e", str(checkout.path)]
    else:
        wheels = checkout.path.parent / "wheels"
        build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
        subprocess.run([*build, str(checkout.path)], check=True, capture_output=True, timeout=300)
        (wheel,) = wheels.glob("veeam_role_verification-*.whl")
        command = [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)]
    env = checkout.env
    if editable:
        # pip replaces the wheel as it would (the uninstall leaves what it did not install), then
        # builds with this environment's setuptools>=69, ahead of the one the venv bundles.
        uninstall = [str(venv / "bin" / "pip"), "uninstall", "-q", "-y", "veeam-role-verification"]
        subprocess.run(uninstall, check=True, capture_output=True, env=env, timeout=300)
        env = {**env, "PYTHONPATH": outer}
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=300)
    # pytest's console script, as pip writes it when it installs pytest into the venv.
    (entry,) = entry_points(group="console_scripts", name="pytest")
    module, _, function = entry.value.partition(":")
    script = venv / "bin" / "pytest"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    )
    script.chmod(0o755)


def _quickstart(checkout: Checkout, line: str, editable: bool) -> str:
    """The quickstart command: its venv step as written, the install offline, the rest as written."""
    steps = [step.strip() for step in line.split("&&")]
    assert steps[0] == "python3 -m venv .venv" and "pip install" in steps[1], line
    assert ("-e" in steps[1].split()) is editable, line
    made = checkout.shell(steps[0])
    assert made.returncode == 0, made.stderr
    _offline_install(checkout, editable)
    return " && ".join(steps[2:])


@contextmanager
def readme_endpoint(checkout: Checkout) -> Iterator[str]:
    """The endpoint command of docs/local-endpoint.md (on --port 0), account 111122223333 seeded beside the demo's."""
    (command,) = [c.line for c in commands() if c.section == "The local IAM endpoint"]
    assert "--port 5000" in command
    # Needs the [demo] extra, which both quickstart commands install: started after each.
    process = subprocess.Popen(
        ["bash", "-c", "exec " + command.replace("--port 5000", "--port 0")],
        cwd=checkout.path,
        env=checkout.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        url = ""
        for line in process.stdout:
            if match := re.search(r"http://127\.0\.0\.1:\d+", line):
                url = match[0]
                break
        assert url, f"the documented endpoint command printed no URL: {process.stderr.read()}"
        from verification.endpoint.seed import seed_account

        seed_account(url, json.loads((checkout.path / "account.json").read_text()))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _credentials_in(url: str, account: str) -> dict[str, str]:
    """Credentials for ``account`` on the endpoint: "with credentials for the role's account"."""
    sts = boto3.client(
        "sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="demo", aws_secret_access_key="demo"
    )
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/Verifier", RoleSessionName="readme")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
        "AWS_SESSION_TOKEN": assumed["SessionToken"],
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": "us-east-1",
    }


def _passes(count: str) -> Callable[[subprocess.CompletedProcess[str]], None]:
    def check(done: subprocess.CompletedProcess[str]) -> None:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert re.search(rf"\b{count} in\b", done.stdout), done.stdout[-3000:]

    return check


def _fails_some(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\b\d+ failed, \d+ passed", done.stdout), done.stdout[-3000:]


def _exported(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def _options_page_current(done: subprocess.CompletedProcess[str]) -> None:
    """The committed docs/options.md is what the generator writes: it has nothing to rewrite."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rewritten" not in done.stdout, done.stdout


def _benchmark(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"ratio \d+\.\d+x", done.stdout), done.stdout


#: Documented command (its start) → what a user sees when it works. Every documented command must match one.
EXPECTED: dict[str, Callable[[subprocess.CompletedProcess[str]], None] | None] = {
    # Installs: done offline by _quickstart (the quickstart's own) or the same install (pip install '... @ checkout').
    "python3 -m venv .venv && .venv/bin/pip install": None,
    "pip install 'veeam-role-verification @ ": None,
    # The endpoint: started by the fixture above, used by every live command below.
    ".venv/bin/python -m verification endpoint": None,
    # What CI runs, and the whole self-test suite: this test is part of it (.ci/run runs it).
    ".venv/bin/pytest tests -n 2": None,
    "cd /anywhere && pytest --role-arn arn:aws:iam::111122223333:role/FLRWorker": _passes("84 passed, 1 skipped"),
    ".venv/bin/pytest --role-arn arn:aws:iam::111122223333:role/FLRWorker --appliance-principal": _passes("85 passed"),
    ".venv/bin/pytest --snapshot account.json --role-arn": _passes("84 passed, 1 skipped"),
    ".venv/bin/python -m verification snapshot export --out account.json.gz": _exported,
    ".venv/bin/pytest --template stack.yaml": _fails_some,
    ".venv/bin/pytest --plan plan.json": _passes("84 passed, 1 skipped"),
    ".venv/bin/pytest tests/test_layers.py tests/system/inputs": _passes(r"\d+ passed"),
    ".venv/bin/python benchmarks/bench_startup.py": _benchmark,
    ".venv/bin/python tools/options_doc.py": _options_page_current,
}
#: Commands of docs/development.md: for the harness's own tests and tools, so only after command 2.
AFTER_COMMAND_2_ONLY = (".venv/bin/pytest tests/", ".venv/bin/python benchmarks/", ".venv/bin/python tools/")


def _expectation(command: Command) -> Callable[[subprocess.CompletedProcess[str]], None] | None:
    matches = [check for start, check in EXPECTED.items() if command.line.startswith(start)]
    assert len(matches) == 1, f"{command.page} shows a command this test has no expectation for: {command.line}"
    return matches[0]


def _run_readme_commands(checkout: Checkout, endpoint: str, stage: int, tmp_path: Path) -> list[str]:
    """Run every documented command that has an expectation; return the ones run."""
    env = {**checkout.env, **_credentials_in(endpoint, ACCOUNT)}
    ran = []
    for command in commands():
        check = _expectation(command)
        if check is None or (stage == 1 and command.line.startswith(AFTER_COMMAND_2_ONLY)):
            continue
        line = command.line.replace("[--aws-profile P] [--aws-region R]", "").strip()
        anywhere = tmp_path / f"anywhere-{stage}"
        anywhere.mkdir(exist_ok=True)
        line = line.replace("cd /anywhere", f"cd {anywhere}")
        (checkout.path / "account.json.gz").unlink(missing_ok=True)
        done = subprocess.run(
            ["bash", "-c", line], cwd=checkout.path, env=env, capture_output=True, text=True, timeout=900
        )
        assert "Traceback" not in done.stderr and "INTERNALERROR" not in done.stdout, f"{line}\n{done.stderr[-3000:]}"
        check(done)
        if "snapshot export" in line:
            exported = json.loads(gzip.decompress((checkout.path / "account.json.gz").read_bytes()))
            assert f"arn:aws:iam::{ACCOUNT}:role/FLRWorker" in json.dumps(exported)
        ran.append(command.line)
    return ran


def _commands_outside_pytest(checkout: Checkout) -> None:
    """The README's inline commands that once crashed in the checkout (the checkout's verification/ shadows)."""
    python = ".venv/bin/python -m verification"
    version = checkout.shell(f"{python} --version")
    assert version.returncode == 0 and version.stdout.startswith("veeam-role-verification "), version.stderr
    listing = checkout.shell(f"{python} requirements list")
    assert listing.returncode == 0 and "veeam-flr-worker-prod: 82 actions" in listing.stdout, listing.stderr
    diff = checkout.shell(f"{python} requirements diff veeam-repository@6a veeam-repository")
    assert diff.returncode in (0, 1) and "Traceback" not in diff.stderr, diff.stderr
    (bundle,) = sorted((checkout.path / "reports" / "evidence").iterdir())[-1:]
    verified = checkout.shell(f"{python} evidence verify {bundle}")
    assert verified.returncode == 0 and verified.stdout.startswith("OK: "), verified.stdout + verified.stderr


def test_the_readme_commands_work_in_a_fresh_clone_after_each_quickstart_command(
    checkout: Checkout, tmp_path: Path
) -> None:
    quickstart = [c.line for c in commands() if c.section == "Quickstart"]
    assert len(quickstart) == 2

    # Command 1: the wheel, and the demo (fails on purpose: one misconfigured role).
    demo = checkout.shell(_quickstart(checkout, quickstart[0], editable=False))
    assert demo.returncode == 1, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert re.search(r"\b22 failed, 148 passed\b", demo.stdout)
    rewritten = list((checkout.site / "verification").rglob("*-pytest-*.pyc"))
    assert rewritten, "pytest wrote no assertion-rewrite caches into the installed package: the trap is not set"
    _commands_outside_pytest(checkout)
    with readme_endpoint(checkout) as url:
        ran_1 = _run_readme_commands(checkout, url, 1, tmp_path)

    # Command 2: the editable install over the wheel. Uninstalling the wheel leaves pytest's caches
    # in site-packages/verification/: a namespace portion that must not hide the checkout's package.
    rest = _quickstart(checkout, quickstart[1], editable=True)
    assert rest == ".venv/bin/pytest tests -n 2"
    assert list((checkout.site / "verification").rglob("*-pytest-*.pyc")), "uninstall removed the caches"
    program = "import verification.requirements as r; print(r.__file__, r.available_sets)"
    imported = checkout.shell(f"{checkout.path / '.venv' / 'bin' / 'python'} -c '{program}'", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(checkout.path / "verification" / "requirements" / "__init__.py"))
    _commands_outside_pytest(checkout)
    with readme_endpoint(checkout) as url:
        ran_2 = _run_readme_commands(checkout, url, 2, tmp_path)

    assert set(ran_1) < set(ran_2)
    assert any(line.startswith(".venv/bin/pytest tests/") for line in ran_2)
