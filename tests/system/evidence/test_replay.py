"""A bundle replays: ``pytest --snapshot`` on what it saved gives the same verdicts, requirement by requirement."""

from __future__ import annotations

import json
from pathlib import Path

from tests.system.evidence.conftest import APPLIANCE, MISCONFIGURED, WORKER, Verification, replay_args, verify
from verification.endpoint import Endpoint


def _same_verdicts(first: Verification, second: Verification, *, keys: tuple[str, ...]) -> None:
    assert first.outcomes() == second.outcomes()
    for arn in (WORKER, MISCONFIGURED):
        before, after = first.verdicts(arn), second.verdicts(arn)
        assert set(before) == set(after)
        for requirement in before:
            assert {k: before[requirement][k] for k in keys} == {k: after[requirement][k] for k in keys}, requirement


def test_a_demo_bundle_replays_offline_with_the_same_verdicts_and_reasons(
    demo_run: Verification, tmp_path: Path
) -> None:
    run = json.loads((demo_run.bundle / "run.json").read_text())
    assert run["replay"]["role_details"] == ["account"]
    replay = verify(tmp_path, *replay_args(demo_run.bundle))
    assert json.loads((replay.bundle / "run.json").read_text())["backend"] == "snapshot"
    _same_verdicts(demo_run, replay, keys=("outcome", "cause", "reason"))


def test_a_live_bundle_replays_from_recorded_answers(seeded_endpoint: Endpoint, tmp_path: Path) -> None:
    live = verify(
        tmp_path / "live",
        f"--endpoint-url={seeded_endpoint.url}",
        f"--role-arn={WORKER}",
        f"--role-arn={MISCONFIGURED}",
        f"--appliance-principal={APPLIANCE}",
    )
    run = json.loads((live.bundle / "run.json").read_text())
    assert run["replay"]["role_details"] == ["recorded"]
    calls = [e["operation"] for e in live.role_file(WORKER, "exchanges.json")["exchanges"]]
    assert len(calls) <= 4, calls  # replay capture adds no API call
    replay = verify(tmp_path / "replay", *replay_args(live.bundle))
    _same_verdicts(live, replay, keys=("outcome", "cause"))
