"""A Veeam deployment in one view: docs/veeam-layout.md's 15 roles, one of them with AdministratorAccess.

Every role is seeded with exactly what its set asks for (as tests/system/layout/test_veeam_layout.py seeds
them); 200000000002's RDS backup role also has AdministratorAccess attached. The excess section lists
nothing for the other fourteen, and names the extra grants of that one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.fleet import iam_in, run_suite
from tests.support.suite_run import start_endpoint_process, stop_process
from tests.system.layout.test_veeam_layout import APPLIANCE, _seed_role, doc_targets
from verification.requirements import load_requirement_set

ADMIN_ROLE = "arn:aws:iam::200000000002:role/VeeamRDSBackup"


@pytest.fixture(scope="module")
def layout_stdout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        # Its own process: test_veeam_layout.py seeds the same accounts, and moto's state is per process.
        process, url = start_endpoint_process(seed=None)
        try:
            for entry in doc_targets()["targets"]:
                arn = entry.get("role_arn") or f"arn:aws:iam::{entry['account']}:role/{entry['role_name']}"
                account, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
                _seed_role(url, account, name, load_requirement_set(entry["requirements"]))
            iam_in(url, "200000000002").attach_role_policy(
                RoleName="VeeamRDSBackup", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
            )
            workdir: Path = tmp_path_factory.mktemp("layout-excess")
            (workdir / "veeam-layout.yaml").write_text(yaml.safe_dump(doc_targets()))
            args = ["--targets", str(workdir / "veeam-layout.yaml"), "--endpoint-url", url]
            result = run_suite([*args, "--appliance-principal", APPLIANCE, "-n", "2"], workdir)
            assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
            yield result.stdout
        finally:
            stop_process(process)


def test_roles_made_exactly_from_the_pages_hold_nothing_more(layout_stdout: str) -> None:
    section = layout_stdout.split("excess permissions (beyond the requirement sets", 1)[1]
    lines = dict(re.findall(r"^  (arn:aws:iam::\d{12}:role/\w+): (.*)$", section, re.M))
    assert len(lines) == 15
    none = {arn for arn, text in lines.items() if text.startswith("none: privilege-escalation 0; data-access 0;")}
    assert none == set(lines) - {ADMIN_ROLE}
    assert all(" -;" not in lines[arn] and not lines[arn].endswith(" -") for arn in none)  # every group examined


def test_the_role_with_administrator_access_is_named_with_its_extra_grants(layout_stdout: str) -> None:
    section = layout_stdout.split("excess permissions (beyond the requirement sets", 1)[1]
    [line] = re.findall(rf"^  {re.escape(ADMIN_ROLE)}: (\d+): (.*)$", section, re.M)
    assert int(line[0]) > 20000
    escalation = re.match(r"privilege-escalation (\d+) \(([^)]*)\)", line[1])
    assert escalation and int(escalation[1]) > 20 and "iam:AttachGroupPolicy" in escalation[2]
    assert "data-access " in line[1] and "read " in line[1]
    # Confirmed by AWS's simulator (the local endpoint), in the one more call fleet mode makes for it.
    assert "confirmed by AWS's simulator" in section.split(ADMIN_ROLE, 1)[1].split("\n  arn:", 1)[0]
