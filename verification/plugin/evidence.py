"""The evidence bundle's hooks: each role's evidence where its tests run, the run's metadata at the end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from verification.errors import CheckError, InputError
from verification.plugin.keys import EVIDENCE_KEY
from verification.plugin.run import DEMO_FILE, Run
from verification.verdicts import Judgement


@dataclass
class EvidenceState:
    """Where this run's evidence bundle goes, and what the writers need across the session."""

    bundle: Path
    started_at: datetime
    details: Any = None
    written: dict[str, str] = field(default_factory=dict)


def configure_evidence(config: pytest.Config, run: Run) -> None:
    """Settle the bundle folder (the controller's choice, passed to xdist workers)."""
    from verification.reporting.evidence import default_dir

    worker_input = getattr(config, "workerinput", None) or {}
    started = datetime.now(UTC)
    bundle = Path(worker_input.get("verification_evidence_dir") or config.option.evidence_dir or default_dir(started))
    config.stash[EVIDENCE_KEY] = EvidenceState(bundle.resolve(), started)
    if "verification_evidence_dir" not in worker_input:
        config.pluginmanager.register(EvidenceHooks(run), "verification-evidence")


def role_evidence(config: pytest.Config, run: Run, judgement: Judgement) -> None:
    """Write a role's evidence (its judgement, its API answers), once per process."""
    from verification.reporting import evidence

    state = config.stash.get(EVIDENCE_KEY, None)
    if state is None:
        return
    arn = judgement.role.arn
    if arn in state.written:
        return
    target = run.targets[arn]
    backend = run.backend(target.connection)
    details: Mapping[str, Any] | None = None
    scps: Sequence[Sequence[Mapping[str, Any]]] | None = None
    held = backend.held_account(arn)
    if held is not None:
        details, scps = held
    elif config.option.demo:
        if state.details is None:
            state.details = json.loads((DEMO_FILE.parent / "account.json").read_text())
        details = state.details
    evidence.write_role(
        state.bundle,
        judgement,
        backend_name=backend.name,
        exchanges=backend.exchanges.get(arn, []),
        details=details,
        scps=scps,
    )
    state.written[arn] = "failing" if judgement.failing else "passing"


class EvidenceHooks:
    """Controller only: after every worker, the run's metadata, the replay snapshot and the manifest."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from verification.reporting import evidence

        state = session.config.stash[EVIDENCE_KEY]
        run = self.run
        # A shard whose accounts hold no role (or could not be read) still leaves a bundle saying
        # so, so that the shards merge.
        option = session.config.option
        sharded = getattr(option, "shard", None) is not None or run.organization is not None
        if not (state.bundle / "roles").is_dir() and (not sharded or option.collectonly):
            return
        state.bundle.mkdir(parents=True, exist_ok=True)
        caller, caller_error = None, None
        if "default" in run.connections:
            try:
                identity = run.backend("default").caller()
                caller = {"Account": identity.account, "Arn": identity.arn, "UserId": identity.user_id}
            except (CheckError, InputError) as error:
                caller_error = str(error)
        if run.api_calls.total():  # before finish(), so the manifest covers it
            (state.bundle / "api-calls.json").write_text(json.dumps(run.api_calls.as_dict(), indent=2))
        evidence.finish(
            state.bundle,
            started_at=state.started_at,
            caller=caller,
            caller_error=caller_error,
            region=run.region,
            backend=run.backend_name,
            source=run.source,
            requirement_sets=run.requirement_sets,
            targets={arn: (t.requirements, t.appliance) for arn, t in run.targets.items()},
            judged={
                "regions": list(run.scope.regions) or "each connection's region",
                "regions_per_role": {arn: list(t.regions) for arn, t in run.targets.items() if t.regions},
                "context": {key: list(values) for key, values in run.scope.context.items()},
                "session": "an EC2 instance-role session: aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, "
                "aws:userid, aws:MultiFactorAuthPresent=false, aws:ViaAWSService=false, aws:SecureTransport=true, "
                "aws:PrincipalIsAWSService=false, aws:CurrentTime, aws:EpochTime, aws:PrincipalTag/* from the role's "
                "tags, aws:RequestedRegion per region",
                "resources": "Resource * and one representative ARN per resource type each action touches",
            },
            organization=run.organization.evidence() if run.organization is not None else None,
        )

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        state = config.stash[EVIDENCE_KEY]
        if (state.bundle / "manifest.json").is_file():
            terminalreporter.write_line(
                f"evidence: {state.bundle} (check it with `python -m verification evidence verify {state.bundle}`)"
            )
