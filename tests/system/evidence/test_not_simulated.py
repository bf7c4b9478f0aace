"""What no simulation sees is named in the header, the Allure environment and the evidence (issue #14.7)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.system.evidence.conftest import DEMO_ACCOUNT, WORKER, Verification, verify
from verification.backends.simulation import not_simulated

#: The demo's requirement set holds seven kms: and seven sqs: actions, and no s3: ones.
EXPECTED = [
    "KMS key policies (7 kms: requirements)",
    "SQS queue policies (7 sqs: requirements)",
    "S3 bucket policies",
    "resource control policies (RCPs)",
    "session policies",
    "VPC endpoint policies",
    "opt-in regions (whether a service is enabled there)",
]


def test_the_header_names_what_no_simulation_sees(tmp_path: Path) -> None:
    """Offline too: the engine on a snapshot sees no more than AWS's simulator (-v undoes -q: header shown)."""
    run = verify(tmp_path, "--snapshot", str(DEMO_ACCOUNT), "--role-arn", WORKER, "-v")
    assert f"not seen by any simulation: {'; '.join(EXPECTED)}" in run.stdout


def test_the_allure_environment_names_it(demo_run: Verification) -> None:
    env = (demo_run.bundle.parent / "allure" / "environment.properties").read_text()
    assert f"NotSimulated={'; '.join(EXPECTED)}\n" in env


def test_the_evidence_names_it(demo_run: Verification) -> None:
    assert json.loads((demo_run.bundle / "run.json").read_text())["not_simulated"] == EXPECTED


def test_one_kms_action_is_counted_in_the_singular() -> None:
    assert not_simulated(["kms:Decrypt", "ec2:RunInstances"])[0] == "KMS key policies (1 kms: requirement)"
