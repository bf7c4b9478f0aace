"""Credentials never reach results, evidence, logs or the report.

The suite runs against the local endpoint with canary credentials in the environment (not --demo,
which uses fixed dummies), with DEBUG logging shown live and written to a file (botocore's debug
log prints request headers), and then every file the run wrote and its captured output are searched
for the canaries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.suite_run import ROOT, clean_env, run_suite, start_endpoint_process, stop_process
from verification.safety import redact

ACCESS_KEY = "AKIACANARY7Q2X5ZB4W9"
SECRET_KEY = "canary-secret-9f3b61c2e07d4a58b6e1d2c3f4a5b6c7d8e9f0a1"
SESSION_TOKEN = "canary-token-IQoJb3JpZ2luX2VjEJr4c2FuYXJ5LXRva2VuLXZhbHVlLXRoYXQtbXVzdC1uZXZlci1sZWFr"
CANARIES = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
#: Parts long enough to be unmistakable, to catch a canary cut, wrapped or encoded in pieces.
FRAGMENTS = (ACCESS_KEY[4:], SECRET_KEY[14:40], SESSION_TOKEN[13:50])
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis"}


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    process, url = start_endpoint_process()
    try:
        yield url
    finally:
        stop_process(process)


def files_under(folder: Path, since: float = 0.0) -> list[Path]:
    """Regular files below ``folder`` (tool caches and the venv left out) changed at or after ``since``."""
    found = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = [d for d in subdirs if d not in SKIP_DIRS]
        for name in names:
            path = Path(directory, name)
            try:
                if path.is_file() and path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue  # removed meanwhile (another run in the checkout)
    return found


def read_if_still_there(path: Path) -> str:
    """A file's text; "" if it went between listing and reading (a wheel build's scratch in the checkout)."""
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def leaks(text: str) -> list[str]:
    return [fragment for fragment in (*CANARIES, *FRAGMENTS) if fragment in text]


def test_no_credential_in_anything_a_run_writes(endpoint_url: str, tmp_path: Path) -> None:
    """Results, JUnit, logs, evidence, captured output: none holds the access key, secret or session token."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    env = clean_env(
        {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": SESSION_TOKEN},
        home=workdir,
    )
    started = time.time() - 1
    run = run_suite(
        [
            *("--role-arn", "arn:aws:iam::123456789012:role/VeeamFLRWorker"),
            *("--role-arn", "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"),
            *("--appliance-principal", "arn:aws:iam::123456789012:role/VeeamImpersonation"),
            *("--endpoint-url", endpoint_url, f"--alluredir={workdir / 'allure'}"),
            *("-o", "log_cli=true", "--log-level=DEBUG", f"--log-file={workdir / 'run.log'}"),
            *("--log-file-level=DEBUG", "-rA", "--show-capture=all"),
        ],
        workdir,
        env=env,
    )
    # The run really verified (credentials were used to sign every request) and really logged at DEBUG.
    assert run.returncode == 1, run.summary()
    assert {o.status for o in run.outcomes.values()} == {"passed", "failed"}, run.summary()
    log = (workdir / "run.log").read_text()
    assert "botocore" in log and "DEBUG" in log

    written = files_under(workdir) + files_under(ROOT, since=started)
    assert any(p.name == "junit.xml" for p in written) and any(p.suffix == ".json" for p in written)
    found = {
        str(path.relative_to(tmp_path) if tmp_path in path.parents else path.relative_to(ROOT)): hits
        for path in written
        if (hits := leaks(read_if_still_there(path)))
    }
    if hits := leaks(run.stdout):
        found["<stdout>"] = hits
    if hits := leaks(run.stderr):
        found["<stderr>"] = hits
    assert found == {}, f"credentials leaked into: {sorted(found)}"


def test_scrubber_masks_botocore_header_lines_and_registered_values() -> None:
    """The shapes botocore logs (signed headers) lose their credential values; other text is kept."""
    line = (
        "Sending http request: <AWSPreparedRequest headers={'X-Amz-Security-Token': b'"
        + SESSION_TOKEN
        + "', 'Authorization': b'AWS4-HMAC-SHA256 Credential="
        + ACCESS_KEY
        + "/20261128/us-east-1/iam/aws4_request'}> role arn:aws:iam::123456789012:role/VeeamFLRWorker"
    )
    redact.register(SECRET_KEY)
    cleaned = redact.scrub(line + " " + SECRET_KEY)
    assert leaks(cleaned) == []
    assert "Credential=****/20261128" in cleaned
    assert "arn:aws:iam::123456789012:role/VeeamFLRWorker" in cleaned
