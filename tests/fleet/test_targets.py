"""Targets files: the schema is checked on load (one line per fault), and patterns resolve with ListRoles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.fleet import Fleet
from verification.backends.live import LiveBackend
from verification.errors import InputError
from verification.fleet.targets import TargetSpec, load_targets, resolve

GOOD = """
targets:
  - role_arn: arn:aws:iam::111111111111:role/VeeamWorker
  - account: "222222222222"
    role_name: "VeeamWorker*"
    assume_role_arn: arn:aws:iam::222222222222:role/RoleVerification
    external_id: nightly-verification
    appliance_principal: "333333333333"
    region: eu-west-1
    requirements: veeam-flr-worker-prod
"""


def write(tmp_path: Path, text: str, name: str = "targets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def faults(tmp_path: Path, text: str, name: str = "targets.yaml") -> list[str]:
    with pytest.raises(InputError) as caught:
        load_targets(write(tmp_path, text, name))
    return str(caught.value).splitlines()


def test_a_good_file_loads_every_key(tmp_path: Path) -> None:
    """Both entry forms load, with what each says about reaching the account."""
    first, second = load_targets(write(tmp_path, GOOD))
    assert first.role is not None and first.role.name == "VeeamWorker" and first.account == "111111111111"
    assert second.role is None and second.role_name == "VeeamWorker*" and second.account == "222222222222"
    assert second.assume_role_arn == "arn:aws:iam::222222222222:role/RoleVerification"
    assert second.external_id == "nightly-verification" and second.region == "eu-west-1"
    assert second.appliance is not None and second.appliance.account == "333333333333"
    assert second.connection_options()["assume_role_arn"] == second.assume_role_arn


def test_json_files_load_too(tmp_path: Path) -> None:
    data = {"targets": [{"role_arn": "arn:aws:iam::111111111111:role/A"}]}
    (spec,) = load_targets(write(tmp_path, json.dumps(data), "targets.json"))
    assert spec.role is not None and spec.role.arn.endswith("role/A")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('{role_arn: "arn:aws:iam::1111:role/A"}', "role_arn: 'arn:aws:iam::1111:role/A' is not a role ARN"),
        ("{account: 111111111111, role_name: A}", "account must be a string, not int; quote it"),
        ('{account: "1234", role_name: A}', "account '1234' is not a 12-digit AWS account id"),
        ('{account: "111111111111"}', "account needs role_name"),
        ("{role_name: A}", "role_name needs the account"),
        ('{account: "111111111111", role_name: "A B"}', "role_name 'A B' is not a role name or glob"),
        ('{role_arn: "arn:aws:iam::111111111111:role/A", rolearn: x}', "unknown key 'rolearn'"),
        ("{region: eu-west-1}", "names no role"),
        (
            '{role_arn: "arn:aws:iam::111111111111:role/A", account: "111111111111", role_name: A}',
            "give either role_arn, or account and role_name",
        ),
        (
            '{role_arn: "arn:aws:iam::111111111111:role/A", assume_role_arn: "arn:aws:iam::222222222222:role/R"}',
            "assume_role_arn is in account 222222222222, but the entry's roles are in 111111111111",
        ),
        ('{role_arn: "arn:aws:iam::111111111111:role/A", external_id: abc}', "external_id applies only with"),
        ('{role_arn: "arn:aws:iam::111111111111:role/A", region: Europe}', "region 'Europe' is not an AWS region"),
        ('{role_arn: "arn:aws:iam::111111111111:role/A", appliance_principal: x}', "appliance_principal: 'x' is"),
        ('{role_arn: "arn:aws:iam::111111111111:role/A", requirements: nope}', "requirements 'nope' is neither"),
        ("just-a-string", "is a str, not a mapping"),
    ],
)
def test_each_fault_is_one_line_naming_file_and_entry(tmp_path: Path, entry: str, expected: str) -> None:
    """A bad entry after a good one: one line, which names the file, entry 2 and the fault."""
    text = f"targets:\n  - role_arn: arn:aws:iam::111111111111:role/Good\n  - {entry}\n"
    (line,) = faults(tmp_path, text)
    assert line.startswith(f"{tmp_path / 'targets.yaml'}: entry 2: "), line
    assert expected in line


def test_every_fault_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """Three bad entries: three lines, each naming its entry, so one edit fixes them all."""
    text = "targets:\n  - {region: eu-west-1}\n  - {account: '12', role_name: A}\n  - {role_arn: nope, x: 1}\n"
    lines = faults(tmp_path, text)
    assert [line.split(": ")[1] for line in lines] == ["entry 1", "entry 2", "entry 3", "entry 3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: [", "not valid YAML at line"),
        ("- role_arn: x", "expected a mapping with one key, 'targets'"),
        ("targets: []", "'targets' must be a non-empty list"),
        ("targets: {}\nextra: 1", "expected a mapping with one key"),
    ],
)
def test_file_level_faults_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    (line,) = faults(tmp_path, text)
    assert line.startswith(f"targets file {tmp_path / 'targets.yaml'}: ") and expected in line


def test_a_requirements_path_is_relative_to_the_targets_file(tmp_path: Path) -> None:
    from verification.requirements import REQUIREMENTS_DIR

    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "mine.yaml").write_text((REQUIREMENTS_DIR / "veeam-flr-worker-prod.yaml").read_text())
    text = "targets:\n  - {role_arn: 'arn:aws:iam::111111111111:role/A', requirements: sets/mine.yaml}\n"
    (spec,) = load_targets(write(tmp_path, text))
    assert spec.requirements == str(tmp_path / "sets" / "mine.yaml")


def _listing(arns: dict[str, Sequence[str]], calls: list[str]) -> object:
    def list_roles(spec: TargetSpec) -> Sequence[str]:
        calls.append(spec.connection)
        return arns[spec.account]

    return list_roles


def test_patterns_resolve_case_insensitively_once_per_connection(tmp_path: Path) -> None:
    """Two patterns in one account list its roles once; names match as IAM compares them."""
    text = (
        "targets:\n"
        "  - {account: '111111111111', role_name: 'veeamworker*'}\n"
        "  - {account: '111111111111', role_name: 'Backup?'}\n"
        "  - {role_arn: 'arn:aws:iam::222222222222:role/Direct'}\n"
    )
    roles = {
        "111111111111": [
            "arn:aws:iam::111111111111:role/VeeamWorker1",
            "arn:aws:iam::111111111111:role/workers/VeeamWorker2",
            "arn:aws:iam::111111111111:role/Backup1",
            "arn:aws:iam::111111111111:role/Backup12",
        ]
    }
    calls: list[str] = []
    resolved = resolve(load_targets(write(tmp_path, text)), _listing(roles, calls))  # type: ignore[arg-type]
    assert [(r.index, r.arn.rsplit(":", 1)[1]) for r in resolved] == [
        (1, "role/VeeamWorker1"),
        (1, "role/workers/VeeamWorker2"),
        (2, "role/Backup1"),
        (3, "role/Direct"),
    ]
    assert calls == ["111111111111"]


def test_a_pattern_matching_nothing_and_a_role_named_twice_are_faults(tmp_path: Path) -> None:
    text = (
        "targets:\n"
        "  - {role_arn: 'arn:aws:iam::111111111111:role/A'}\n"
        "  - {account: '111111111111', role_name: 'A*'}\n"
        "  - {account: '111111111111', role_name: 'Nothing*'}\n"
    )
    roles = {"111111111111": ["arn:aws:iam::111111111111:role/A"]}
    with pytest.raises(InputError) as caught:
        resolve(load_targets(write(tmp_path, text)), _listing(roles, []), "t.yaml")  # type: ignore[arg-type]
    assert str(caught.value).splitlines() == [
        "t.yaml: entry 2: arn:aws:iam::111111111111:role/A is already named by entry 1: keep one",
        "t.yaml: entry 3: role_name 'Nothing*' matches no role in account 111111111111",
    ]


def test_patterns_resolve_on_the_endpoint_in_five_accounts_through_assumed_roles(fleet: Fleet, tmp_path: Path) -> None:
    """Each account is reached by AssumeRole (with the external id) and listed with ListRoles."""
    entries = [
        {
            "account": account,
            "role_name": "VeeamWorker*",
            "assume_role_arn": f"arn:aws:iam::{account}:role/RoleVerification",
            "external_id": "nightly-verification",
        }
        for account in fleet.accounts
    ]
    specs = load_targets(write(tmp_path, json.dumps({"targets": entries}), "t.json"))
    backends = {s.connection: LiveBackend(endpoint_url=fleet.url, **s.connection_options()) for s in specs}
    resolved = resolve(specs, lambda spec: backends[spec.connection].list_roles())
    assert sorted(r.arn for r in resolved) == sorted(
        fleet.arn(account, name) for account in fleet.accounts for name in fleet.workers
    )
    caller = backends[specs[2].connection].caller()
    assert caller.account == fleet.accounts[2] and caller.arn.endswith(
        ":assumed-role/RoleVerification/veeam-role-verification"
    )


@pytest.mark.parametrize("value", ["[eu-west-1, eu-central-1]", "eu-west-1,eu-central-1"])
def test_an_entry_names_the_regions_its_roles_run_in(tmp_path: Path, value: str) -> None:
    text = f"targets:\n  - role_arn: arn:aws:iam::111111111111:role/W\n    regions: {value}\n"
    (spec,) = load_targets(write(tmp_path, text))
    assert spec.regions == ("eu-west-1", "eu-central-1")
    assert spec.connection == "111111111111"  # judged regions do not change how the account is reached
