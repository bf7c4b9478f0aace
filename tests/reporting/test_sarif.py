"""The SARIF writer on its own: levels, rules, fingerprints, severities, categories and joining shards."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.sarif import code_scanning_faults, schema_errors
from verification.plugin.sarif_output import shard_of
from verification.reporting.sarif import (
    FINGERPRINT_KEY,
    Finding,
    Place,
    Rule,
    build_sarif,
    category_of,
    merge_sarif,
    split_by_category,
    write_merged,
)

PAGE = "https://helpcenter.veeam.com/docs/vbaws/guide/role_permissions_flr_prod.html"
TAGS = Rule("permission:ec2:CreateTags", "The role is granted ec2:CreateTags", "Tag volumes", PAGE, "critical")
TRUST = Rule("trust:appliance", "Trust: the appliance", "The appliance may assume the role", PAGE, "blocker")
EXCESS = Rule("excess:iam", "Permissions beyond the page: iam", "The role may do more than the page asks", None)


def _finding(rule: Rule, outcome: str, role: str = "arn:aws:iam::111111111111:role/W", line: int = 3) -> Finding:
    return Finding(rule, outcome, role, f"{rule.id} reason", f"fix {rule.id}", Place("roles.txt", line))  # type: ignore[arg-type]


def test_failed_is_an_error_broken_a_warning_and_rules_carry_the_page_and_severity() -> None:
    log = build_sarif(
        [_finding(TAGS, "failed"), _finding(TRUST, "broken"), _finding(TAGS, "failed", role="arn:aws:iam::1:role/X")],
        version="1.2.3",
        category="demo",
        exit_status=1,
    )
    assert schema_errors(log) == []
    assert code_scanning_faults(log) == []
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["semanticVersion"]) == (
        "veeam-role-verification",
        "1.2.3",
        "1.2.3",
    )
    assert driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == [TAGS.id, TRUST.id]  # one rule per requirement
    assert driver["rules"][0]["helpUri"] == PAGE
    assert driver["rules"][0]["properties"]["security-severity"] == "8.0"  # critical: GitHub's "high"
    assert driver["rules"][1]["properties"]["security-severity"] == "9.5"  # blocker: "critical"
    assert "security" in driver["rules"][0]["properties"]["tags"]
    levels = [(r["ruleId"], r["level"], r["ruleIndex"]) for r in run["results"]]
    assert levels == [(TAGS.id, "error", 0), (TRUST.id, "warning", 1), (TAGS.id, "error", 0)]
    assert run["results"][0]["message"]["text"] == (
        "arn:aws:iam::111111111111:role/W: permission:ec2:CreateTags reason. "
        "What to change: fix permission:ec2:CreateTags"
    )
    assert run["automationDetails"]["id"] == "demo/"
    assert run["invocations"][0]["exitCode"] == 1


def test_fingerprints_follow_role_and_requirement_not_the_message_or_line() -> None:
    one = build_sarif([_finding(TAGS, "failed", line=3)], version="1", category="c")
    moved = build_sarif(
        [Finding(TAGS, "broken", "arn:aws:iam::111111111111:role/W", "other", "", Place("x.yaml", 40))],
        version="2",
        category="c",
    )
    other_role = build_sarif(
        [_finding(TAGS, "failed", role="arn:aws:iam::111111111111:role/V")], version="1", category="c"
    )

    def fp(log: dict) -> str:  # type: ignore[type-arg]
        return str(log["runs"][0]["results"][0]["partialFingerprints"][FINGERPRINT_KEY])

    assert fp(one) == fp(moved)
    assert fp(one) != fp(other_role)


def test_any_failed_test_is_a_result_excess_groups_included_with_the_default_severity() -> None:
    log = build_sarif([_finding(EXCESS, "failed")], version="1", category="c")
    assert schema_errors(log) == []
    [rule] = log["runs"][0]["tool"]["driver"]["rules"]
    assert (rule["id"], rule["properties"]["security-severity"]) == ("excess:iam", "5.5")
    assert "helpUri" not in rule


def test_a_passing_run_is_an_empty_valid_run() -> None:
    log = build_sarif([], version="0.1.0", category="template/x.yaml", exit_status=0)
    assert schema_errors(log) == []
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_a_finding_travels_as_json_and_back() -> None:
    finding = Finding(
        TAGS, "failed", "f.json/Role", "r", "f", Place("f.json", 4, (("aws_iam_role.x", "resource"),), "the Deny")
    )
    assert Finding.from_dict(json.loads(json.dumps(finding.as_dict()))) == finding


def test_shards_merge_into_one_run_per_category(tmp_path: Path) -> None:
    paths = []
    for index, findings in (
        (1, [_finding(TAGS, "failed")]),
        (2, [_finding(TRUST, "broken"), _finding(TAGS, "failed", "arn:aws:iam::2:role/Y")]),
    ):
        log = build_sarif(
            findings, version="1", category=category_of("targets/fleet", (index, 2)), shard=(index, 2), exit_status=1
        )
        assert log["runs"][0]["automationDetails"]["id"] == f"targets/fleet/shard-{index}-of-2/"
        path = tmp_path / f"shard-{index}.sarif"
        path.write_text(json.dumps(log))
        paths.append(path)
    other = tmp_path / "template.sarif"
    other.write_text(json.dumps(build_sarif([_finding(TRUST, "failed")], version="1", category="template/t.yaml")))
    merged = merge_sarif([*paths, other])
    assert schema_errors(merged) == []
    assert code_scanning_faults(merged) == []
    fleet, template = merged["runs"]
    assert fleet["automationDetails"]["id"] == "targets/fleet/"
    assert len(fleet["results"]) == 3 and len(fleet["invocations"]) == 2
    assert [rule["id"] for rule in fleet["tool"]["driver"]["rules"]] == [TAGS.id, TRUST.id]
    assert template["automationDetails"]["id"] == "template/t.yaml/"
    # The same shard given twice adds nothing.
    assert len(merge_sarif([paths[0], paths[0]])["runs"][0]["results"]) == 1
    split = split_by_category(merged)
    assert sorted(split) == ["targets/fleet", "template/t.yaml"]
    assert all(schema_errors(log) == [] for log in split.values())
    [one] = write_merged([*paths, other], tmp_path / "merged" / "all.sarif")
    assert json.loads(one.read_text()) == merged
    files = write_merged([*paths, other], tmp_path / "per-category", per_category=True)
    assert sorted(p.name for p in files) == ["targets-fleet.sarif", "template-t.yaml.sarif"]
    assert all(len(json.loads(p.read_text())["runs"]) == 1 for p in files)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("2/4", (2, 4)), ((1, 3), (1, 3)), (SimpleNamespace(index=3, total=5), (3, 5)), ("x", None)],
)
def test_a_shard_is_read_from_the_shard_option_whatever_its_shape(
    value: object, expected: tuple[int, int] | None
) -> None:
    config = SimpleNamespace(option=SimpleNamespace(shard=value))
    assert shard_of(config) == expected  # type: ignore[arg-type]
    if expected is not None:
        assert category_of("targets/fleet.yaml", expected).endswith(f"/shard-{expected[0]}-of-{expected[1]}")


def test_a_file_outside_the_run_folder_is_an_absolute_uri_without_a_base(tmp_path: Path) -> None:
    outside = Finding(TAGS, "failed", "r", "x", "y", Place((tmp_path / "t.yaml").as_uri(), 2))
    inside = Finding(TRUST, "failed", "r", "x", "y", Place("infra/t.yaml", 2))
    log = build_sarif([outside, inside], version="1", category="c", root_uri=tmp_path.as_uri())
    assert schema_errors(log) == []
    first, second = (r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"])
    assert first == {"uri": (tmp_path / "t.yaml").as_uri()}
    assert second == {"uri": "infra/t.yaml", "uriBaseId": "%SRCROOT%"}
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_a_run_over_code_scannings_limit_keeps_the_failures_and_says_how_many_were_left_out(tmp_path: Path) -> None:
    minor = Rule("permission:ec2:DescribeTags", "t", "h", None, "minor")
    findings = [
        _finding(rule, outcome, role=f"arn:aws:iam::111111111111:role/W{number}")
        for number, (rule, outcome) in enumerate(
            [(minor, "broken"), (TAGS, "broken"), (minor, "failed"), (TRUST, "broken"), (TAGS, "failed")]
        )
    ]
    log = build_sarif(findings, version="1", category="c", exit_status=1, max_results=3)
    assert schema_errors(log) == []
    [run] = log["runs"]
    kept = [(r["ruleId"], r["level"]) for r in run["results"]]
    assert kept == [(minor.id, "error"), (TRUST.id, "warning"), (TAGS.id, "error")]  # file order kept
    assert run["properties"]["omittedResults"] == 2
    [notice] = run["invocations"][0]["toolExecutionNotifications"]
    assert notice["message"]["text"].startswith("2 of 5 results left out")
    path = tmp_path / "one.sarif"
    path.write_text(json.dumps(build_sarif(findings, version="1", category="c")))
    assert len(merge_sarif([path], max_results=4)["runs"][0]["results"]) == 4
