"""The wheel, installed as a user installs it, run from folders that are not the checkout.

The wheel is built here and installed (not editable) into a fresh virtual environment. Its
dependencies come from this environment's site-packages through a ``.pth`` line, so the test needs
no network; ``.ci/run`` also installs the wheel with its dependencies from the package registry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPLIANT = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
APPLIANCE = "arn:aws:iam::123456789012:role/VeeamImpersonation"


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding the wheel."""

    bin: Path
    site: Path

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
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
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
    yield Installed(bin_dir, site)


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


def test_role_arn_against_the_installed_packages_own_endpoint(installed: Installed, tmp_path: Path) -> None:
    seed = installed.site / "verification" / "fixtures" / "demo" / "account.json"
    endpoint = subprocess.Popen(
        [str(installed.bin / "python"), "-m", "verification", "endpoint", "--port", "0", "--seed", str(seed)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert endpoint.stdout is not None
        url = ""
        for line in endpoint.stdout:
            if match := re.search(r"http://127\.0\.0\.1:\d+", line):
                url = match[0]
                break
        assert url, "the endpoint printed no URL"
        env = {**clean_env(), "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_REGION": "us-east-1"}
        done = installed.run(
            "pytest",
            "--role-arn",
            COMPLIANT,
            "--appliance-principal",
            APPLIANCE,
            "--endpoint-url",
            url,
            "-p",
            "no:cacheprovider",
            cwd=tmp_path,
            env=env,
        )
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=30)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert re.search(r"\b85 passed in\b", done.stdout)


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
