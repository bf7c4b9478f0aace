"""The wheel, installed as a user installs it, run from folders that are not the checkout.

The wheel is built here and installed (not editable) into a fresh virtual environment. Its
dependencies come from this environment's site-packages through a ``.pth`` line, so the test needs
no network; ``.ci/run`` also installs the wheel with its dependencies from the package registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
#: What a clean clone does not hold: build outputs, environments, caches and reports.
UNTRACKED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "reports", "allure-*")
TEMPLATES = ROOT / "tests" / "backends" / "template" / "data"
COMPLIANT = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
APPLIANCE = "arn:aws:iam::123456789012:role/VeeamImpersonation"
MISCONFIGURED = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding the wheel."""

    bin: Path
    site: Path
    wheel: Path

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # pytest itself comes from the outer environment, so it has no script in this venv's bin/.
        command = [str(self.bin / "python"), "-m", "pytest"] if args[0] == "pytest" else [str(self.bin / args[0])]
        return subprocess.run(
            [*command, *args[1:]],
            cwd=cwd,
            env=env or clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )


def clean_env() -> dict[str, str]:
    """No AWS settings, no PYTHONPATH, no pytest options from the outer run."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTEST_", "PYTHON")) and key not in ("GITHUB_STEP_SUMMARY",)
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    wheels = tmp_path_factory.mktemp("wheels")
    # Built from a copy of the checkout's files, as a clean clone holds them: setuptools builds in the
    # source tree and ships whatever an old build/ left there (a module since deleted), and the
    # checkout is not the tests' to write into.
    source = tmp_path_factory.mktemp("source") / "tree"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*UNTRACKED))
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("veeam_role_verification-*.whl")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    site = Path(
        subprocess.run(
            [str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies (pytest, boto3, moto, ...) from this environment, after the venv's own packages.
    (site / "zz_outer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield Installed(bin_dir, site, wheel)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    done = installed.run(
        "python", "-c", "import verification; print(verification.__file__); print(verification.FIXTURES)", cwd=tmp_path
    )
    module, fixtures = done.stdout.split()
    assert Path(module).is_relative_to(installed.site)
    assert Path(fixtures).is_relative_to(installed.site)
    # A superset check (a list's >= compares lexicographically, which broke once more sets were bundled).
    assert {p.name for p in (Path(fixtures) / "requirements").glob("*.yaml")} >= {
        "veeam-flr-worker-prod.yaml",
        "verifier.yaml",
        "veeam-default-backup-restore.yaml",
    }
    assert (Path(fixtures) / "requirements" / "versions" / "veeam-repository@4.0.yaml").is_file()
    assert (Path(fixtures) / "demo" / "account.json").is_file()
    assert (Path(fixtures) / "verifier-policy.json").is_file()


def test_one_version_everywhere(installed: Installed, tmp_path: Path) -> None:
    from importlib.metadata import version

    expected = version("veeam-role-verification")
    assert installed.run("python", "-m", "verification", "--version", cwd=tmp_path).stdout.split() == [
        "veeam-role-verification",
        expected,
    ]
    done = installed.run("pytest", "--demo", "-p", "no:cacheprovider", "-k", "instance-profile", cwd=tmp_path)
    assert f"harness {expected}" in done.stdout
    env = (tmp_path / "reports" / "allure-results" / "environment.properties").read_text()
    assert f"Harness=veeam-role-verification {expected}" in env
    (metadata,) = (tmp_path / "reports" / "evidence").glob("*/run.json")
    assert json.loads(metadata.read_text())["harness"]["version"] == expected


def test_the_demo_runs_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    done = installed.run("pytest", "--demo", "-p", "no:cacheprovider", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b22 failed, 148 passed\b", done.stdout), done.stdout[-2000:]
    assert f"rootdir: {tmp_path}" in done.stdout
    assert list((tmp_path / "reports" / "allure-results").glob("*-result.json"))
    assert list((tmp_path / "reports" / "evidence").glob("*/manifest.json"))


@pytest.fixture(scope="module")
def endpoint(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The installed package's own local endpoint (``python -m verification endpoint``), seeded with the demo."""
    seed = installed.site / "verification" / "fixtures" / "demo" / "account.json"
    process = subprocess.Popen(
        [str(installed.bin / "python"), "-m", "verification", "endpoint", "--port", "0", "--seed", str(seed)],
        cwd=tmp_path_factory.mktemp("endpoint"),
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if match := re.search(r"http://127\.0\.0\.1:\d+", line):
                url = match[0]
                break
        assert url, "the endpoint printed no URL"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def endpoint_env() -> dict[str, str]:
    return {**clean_env(), "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_REGION": "us-east-1"}


def test_role_arn_against_the_installed_packages_own_endpoint(
    installed: Installed, endpoint: str, tmp_path: Path
) -> None:
    done = installed.run(
        "pytest",
        "--role-arn",
        COMPLIANT,
        "--appliance-principal",
        APPLIANCE,
        "--endpoint-url",
        endpoint,
        "-p",
        "no:cacheprovider",
        cwd=tmp_path,
        env=endpoint_env(),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert re.search(r"\b85 passed in\b", done.stdout)


def test_targets_against_the_installed_packages_own_endpoint(
    installed: Installed, endpoint: str, tmp_path: Path
) -> None:
    (tmp_path / "targets.yaml").write_text(
        f"targets:\n  - role_arn: {COMPLIANT}\n  - role_arn: {MISCONFIGURED}\n    regions: [us-east-1, eu-west-1]\n"
    )
    done = installed.run(
        "pytest",
        "--targets",
        "targets.yaml",
        "--appliance-principal",
        APPLIANCE,
        "--endpoint-url",
        endpoint,
        "-p",
        "no:cacheprovider",
        cwd=tmp_path,
        env=endpoint_env(),
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert re.search(r"\b22 failed, 148 passed in\b", done.stdout), done.stdout[-2000:]
    assert "ok     arn:aws:iam::123456789012:role/VeeamFLRWorker: 85 passed" in done.stdout


def test_a_template_and_a_plan_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    """The wheel once lacked verification.backends.template: --template and --plan ended in INTERNALERROR."""
    (tmp_path / "stack.yaml").write_bytes((TEMPLATES / "flr-worker.cfn.yaml").read_bytes())
    (tmp_path / "plan.json").write_bytes((TEMPLATES / "terraform" / "known" / "plan.json").read_bytes())
    every_role = installed.run("pytest", "--template", "stack.yaml", "--account", "111122223333", cwd=tmp_path)
    assert "INTERNALERROR" not in every_role.stdout + every_role.stderr
    assert every_role.returncode == 1, every_role.stdout[-2000:] + every_role.stderr
    assert (
        "FAILED verification/suite/test_requirements.py::test_permission[stack.yaml/ProdDenyRole-" in every_role.stdout
    )
    template = installed.run(
        "pytest",
        "--template",
        "stack.yaml",
        "--role",
        "WorkerRole",
        "--appliance-principal",
        "111111111111",
        cwd=tmp_path,
    )
    assert template.returncode == 0, template.stdout[-2000:] + template.stderr
    assert re.search(r"\b85 passed in\b", template.stdout)
    assert (
        "test_permission[stack.yaml/WorkerRole-permission:ec2:CreateTags] PASSED"
        in installed.run(
            "pytest", "--template", "stack.yaml", "--role", "WorkerRole", "-v", "-k", "CreateTags", cwd=tmp_path
        ).stdout
    )
    plan = installed.run(
        "pytest",
        "--plan",
        "plan.json",
        "--role",
        "aws_iam_role.worker",
        "--account",
        "123456789012",
        "--appliance-principal",
        "111111111111",
        cwd=tmp_path,
    )
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr
    assert re.search(r"\b85 passed in\b", plan.stdout)


def test_the_commands_outside_pytest_from_an_empty_folder(installed: Installed, tmp_path: Path) -> None:
    """``python -m verification ...`` and the ``veeam-role-verification`` script, as the README shows them."""
    listing = installed.run("python", "-m", "verification", "requirements", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert re.match(r"\d+ requirement sets", listing.stdout)
    assert "veeam-flr-worker-prod: 82 actions" in listing.stdout
    show = installed.run("python", "-m", "verification", "requirements", "show", "veeam-ec2-backup:base", cwd=tmp_path)
    assert show.returncode == 0 and "veeam-ec2-backup" in show.stdout, show.stderr
    diff = installed.run(
        "python",
        "-m",
        "verification",
        "requirements",
        "diff",
        "veeam-repository@6a",
        "veeam-repository",
        "--json",
        cwd=tmp_path,
    )
    assert diff.returncode in (0, 1), diff.stderr
    assert isinstance(json.loads(diff.stdout), dict)
    for command, words in (("snapshot", "--out"), ("report", "allure")):
        helped = installed.run(
            "python",
            "-m",
            "verification",
            command,
            *(["export"] if command == "snapshot" else []),
            "--help",
            cwd=tmp_path,
        )
        assert helped.returncode == 0, helped.stderr
        assert helped.stdout.startswith("usage: python -m verification") and words in helped.stdout
    script = installed.run("veeam-role-verification", "--version", cwd=tmp_path)
    assert script.stdout.split()[0] == "veeam-role-verification", script.stderr
    assert installed.run("veeam-role-verification", "requirements", "list", cwd=tmp_path).stdout == listing.stdout
    # evidence verify, on the bundle a demo run wrote here
    demo = installed.run("pytest", "--demo", "-p", "no:cacheprovider", "-k", "instance-profile", cwd=tmp_path)
    assert demo.returncode == 1, demo.stdout[-2000:]
    (bundle,) = (tmp_path / "reports" / "evidence").iterdir()
    verified = installed.run("python", "-m", "verification", "evidence", "verify", str(bundle), cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK: ")
    (bundle / "run.json").write_text("{}")
    tampered = installed.run("python", "-m", "verification", "evidence", "verify", str(bundle), cwd=tmp_path)
    assert tampered.returncode == 1 and "run.json" in tampered.stdout


def package_files(root: Path) -> set[str]:
    """Every module and data file of the package in the checkout (verification/fixtures is a link to fixtures/)."""
    found = set()
    for folder, _, names in os.walk(root / "verification", followlinks=True):
        if "__pycache__" in folder:
            continue
        for name in names:
            if name.endswith((".py", ".json", ".yaml", ".typed")):
                found.add(str((Path(folder) / name).relative_to(root)))
    return found


def test_the_wheel_holds_every_module_and_data_file_under_verification(installed: Installed) -> None:
    """Package discovery, not a hand-kept list: a new subpackage ships without anyone listing it."""
    with zipfile.ZipFile(installed.wheel) as wheel:
        shipped = {name for name in wheel.namelist() if name.startswith("verification/")}
    expected = package_files(ROOT)
    assert shipped == expected
    assert "verification/backends/template/__init__.py" in shipped
    assert "verification/fixtures/demo/account.json" in shipped


def write_unrelated_project(folder: Path) -> None:
    """A user's own application tests, with an ini file of their own (other python_files, testpaths)."""
    (folder / "pytest.ini").write_text("[pytest]\ntestpaths = checks\npython_files = check_*.py\n")
    (folder / "checks").mkdir()
    (folder / "checks" / "check_app.py").write_text(
        "import pytest\n\n"
        "def test_adds():\n    assert 1 + 1 == 2\n\n"
        "@pytest.mark.xfail(strict=True)\ndef test_known_bug():\n    assert 0\n\n"
        "def test_skipped():\n    pytest.skip('not here')\n"
    )


def test_an_unrelated_project_passes_unchanged_beside_the_plugin(installed: Installed, tmp_path: Path) -> None:
    write_unrelated_project(tmp_path)
    with_plugin = installed.run("pytest", "-p", "no:cacheprovider", cwd=tmp_path)
    without = installed.run("pytest", "-p", "no:cacheprovider", "-p", "no:role_verification", cwd=tmp_path)
    assert with_plugin.returncode == without.returncode == 0, with_plugin.stdout + with_plugin.stderr
    summary = re.compile(r"\d+ passed, \d+ skipped, \d+ xfailed")
    assert summary.findall(with_plugin.stdout) == summary.findall(without.stdout) == ["1 passed, 1 skipped, 1 xfailed"]
    assert "verification:" not in with_plugin.stdout
    assert not (tmp_path / "reports").exists(), "an unrelated run must write no results or evidence"


def test_verification_from_a_project_folder_runs_only_the_suite_and_named_paths(
    installed: Installed, tmp_path: Path
) -> None:
    """An option's file value never changes what is collected or where the rootdir is."""
    write_unrelated_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    snapshot = elsewhere / "account.json"
    snapshot.write_bytes((installed.site / "verification" / "fixtures" / "demo" / "account.json").read_bytes())
    args = ("pytest", "--role-arn", COMPLIANT, "--snapshot", str(snapshot), "-p", "no:cacheprovider", "-rA")
    suite_only = installed.run(*args, cwd=tmp_path)
    assert suite_only.returncode == 0, suite_only.stdout[-2000:]
    assert f"rootdir: {tmp_path}" in suite_only.stdout
    assert re.search(r"\b84 passed, 1 skipped in\b", suite_only.stdout)
    assert "check_app.py" not in suite_only.stdout
    both = installed.run(*args, "checks/check_app.py", cwd=tmp_path)
    assert re.search(r"\b85 passed, 2 skipped, 1 xfailed in\b", both.stdout), both.stdout[-2000:]
    assert "PASSED checks/check_app.py::test_adds" in both.stdout
