"""``python -m verification endpoint --organization-demo``: an organization to try discovery and shards on."""

from __future__ import annotations

import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.fleet import SUITE


def test_the_demo_seeds_an_organization_and_prints_a_command_that_verifies_it_in_shards(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "verification", "endpoint", "--organization-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=300), "the endpoint printed nothing within 300 s"
        while not (lines and lines[-1].startswith("IAM endpoint ready")):
            line = process.stdout.readline()  # the rest follows at once (buffered: no select for it)
            assert line, (
                f"the endpoint stopped before it was ready: {lines} {process.stderr.read() if process.stderr else ''}"
            )
            lines.append(line.strip())
        accounts = dict(re.findall(r"(\S+) (\d{12})", lines[1].partition(": ")[2]))
        assert set(accounts) == {"prod-backup", "prod-analytics", "test-backup", "sandbox"}
        assert "sandbox without the member role" in lines[1]
        suggested = shlex.split(lines[2].removeprefix("try: ").replace(" [--shard 1/2]", ""))
        variables = dict(word.split("=", 1) for word in suggested[:2])
        assert suggested[2] == "pytest"

        seen: dict[str, int] = {}
        for index in (1, 2):
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    str(SUITE),
                    "-p",
                    "no:cacheprovider",
                    *suggested[3:],
                    "--shard",
                    f"{index}/2",
                    "--collect-only",
                    "-q",
                ],
                cwd=tmp_path,
                env={**env, **variables, "AWS_CONFIG_FILE": str(tmp_path / "none")},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert run.returncode in (0, 5), run.stdout[-2000:] + run.stderr
            for account in set(re.findall(r"\[(\d{12})/", run.stdout)):
                assert account not in seen, f"{account} in two shards"
                seen[account] = index
        # Every member account and the management account (123456789012), each in exactly one shard;
        # the sandbox as its one unassumable-account test.
        assert set(seen) == {*accounts.values(), "123456789012"}

        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
