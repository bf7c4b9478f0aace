"""The HTML report as its reader meets it: one file, nothing loaded from elsewhere, history kept.

The results come from a real pytest + allure-pytest run of a small suite that mimics the
verification suite's output (labels, failure messages, evidence attachments), and the report
from the real pinned generator. Tests needing the generator (Java + ``npm ci``) or Chromium skip
when a tool is missing, unless ``REQUIRE_REPORT_TOOLS=1`` (CI), where a missing tool fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from verification.reporting.html import GENERATOR_PACKAGE, external_loads, strip_analytics

REPO = Path(__file__).resolve().parents[3]
MISCONFIGURED_ROLE = "arn:aws:iam::111122223333:role/veeam-worker-misconfigured"
FAILED_REQUIREMENT = "permission:ec2:AttachVolume"
SUBPROCESS_GUARD_SECONDS = 900
#: What ``pytest --demo`` shows for its misconfigured role: ssmmessages:* is missing by design.
DEMO_ROLE = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"
DEMO_REQUIREMENT = "permission:ssmmessages:OpenDataChannel"
#: Words that appear only in the simulation-result evidence, not elsewhere on the page.
DEMO_EVIDENCE = ('"EvalActionName"', '"ssmmessages:OpenDataChannel"', '"EvalDecision"', '"implicitDeny"')

MIMIC_SUITE = textwrap.dedent(
    f'''
    import json

    import allure
    import pytest

    ROLE = "{MISCONFIGURED_ROLE}"


    def requirement(requirement_id, story):
        allure.dynamic.epic("Veeam Backup for AWS")
        allure.dynamic.feature("Worker role")
        allure.dynamic.story(story)
        allure.dynamic.severity(allure.severity_level.CRITICAL)
        allure.dynamic.label("requirement", requirement_id)
        allure.dynamic.tag(requirement_id)
        allure.dynamic.label("role", ROLE)
        allure.dynamic.title(f"{{requirement_id}} on veeam-worker-misconfigured")
        allure.dynamic.link("https://helpcenter.veeam.com/docs/vbaws/guide/worker_permissions.html", name="Veeam")


    def test_attach_volume():
        requirement("{FAILED_REQUIREMENT}", "Worker IAM role permissions: ec2:AttachVolume")
        evidence = {{"EvalActionName": "ec2:AttachVolume", "EvalDecision": "implicitDeny"}}
        allure.attach(json.dumps(evidence), "simulation result", allure.attachment_type.JSON)
        pytest.fail("implicitly denied: no statement allows it")


    def test_delete_snapshot():
        requirement("permission:ec2:DeleteSnapshot", "Worker IAM role permissions: ec2:DeleteSnapshot")
        pytest.fail("explicitly denied by DenySnapshots (lines 4-9)")


    def test_trust():
        requirement("trust:ec2.amazonaws.com", "Worker IAM role trust relationship")
        raise RuntimeError("could not check: AccessDenied calling iam:GetRole")


    def test_describe_instances():
        requirement("permission:ec2:DescribeInstances", "Worker IAM role permissions: ec2:DescribeInstances")
    '''
)


def _require(available: bool, what: str) -> None:
    """Skip when a tool is missing, or fail when CI said the tools must be there."""
    if available:
        return
    if os.environ.get("REQUIRE_REPORT_TOOLS") == "1":
        pytest.fail(f"{what} is missing and REQUIRE_REPORT_TOOLS=1")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def generator() -> None:
    """The pinned Allure generator and its Java, or a skip."""
    _require((REPO / "node_modules" / GENERATOR_PACKAGE).is_dir(), "the Allure generator (`npm ci`)")
    _require(shutil.which("java") is not None, "Java")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's headless Chromium, or a skip."""
    binary = shutil.which("chromium")
    _require(binary is not None, "chromium (`apt-get install -y chromium`)")
    assert binary is not None
    return binary


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its text output."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_GUARD_SECONDS, check=False
    )


def _report(results: Path, out: Path, history: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m verification report`` as a user runs it."""
    command = [sys.executable, "-m", "verification", "report", "--results", str(results)]
    return _run([*command, "--out", str(out), "--history-dir", str(history)], cwd)


def _embedded(page: str, name: str) -> Any:
    """A JSON data file that the single-file report embeds (what its tabs display)."""
    match = re.search(rf"\bd\('{re.escape(name)}',\s*'([A-Za-z0-9+/=]*)'\)", page)
    assert match, f"{name} is not in the report"
    return json.loads(base64.b64decode(match.group(1)))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """allure-results of the mimic suite: one implicit deny, one explicit deny, one broken, one pass."""
    suite = tmp_path_factory.mktemp("mimic")
    (suite / "test_mimic.py").write_text(MIMIC_SUITE, encoding="utf-8")
    folder = suite / "allure-results"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:role_verification"]
    done = _run([*command, "--alluredir", str(folder), "test_mimic.py"], suite)
    assert "3 failed, 1 passed" in done.stdout, done.stdout
    return folder


@pytest.fixture(scope="module")
def report(generator: None, results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mimic run's report, generated once for the module."""
    base = tmp_path_factory.mktemp("report")
    done = _report(results, base / "html", base / "history")
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def test_report_is_one_file_that_loads_nothing_from_other_hosts(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert report.name == "index.html" and os.listdir(report.parent) == ["index.html"]
    assert external_loads(page) == []
    assert "googletagmanager" not in page
    assert not re.search(r"<(?:script|link|img|iframe)\b[^>]*\s(?:src|href)=[\"']?(?:https?:)?//", page)


def test_failures_are_grouped_by_root_cause_and_by_requirement(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    by_cause = {
        category["name"]: sorted(test["name"] for group in category["children"] for test in group["children"])
        for category in _embedded(page, "data/categories.json")["children"]
    }
    assert by_cause == {
        "Missing permission (implicitly denied)": [f"{FAILED_REQUIREMENT} on veeam-worker-misconfigured"],
        "Explicitly denied by a policy": ["permission:ec2:DeleteSnapshot on veeam-worker-misconfigured"],
        "Could not check": ["trust:ec2.amazonaws.com on veeam-worker-misconfigured"],
    }
    (epic,) = _embedded(page, "data/behaviors.json")["children"]
    (feature,) = epic["children"]
    stories = {story["name"]: [test["status"] for test in story["children"]] for story in feature["children"]}
    assert (epic["name"], feature["name"]) == ("Veeam Backup for AWS", "Worker role")
    assert stories["Worker IAM role permissions: ec2:AttachVolume"] == ["failed"]
    assert stories["Worker IAM role permissions: ec2:DescribeInstances"] == ["passed"]


def test_history_carries_over_so_the_trend_grows(generator: None, results: Path, tmp_path: Path) -> None:
    own_results = tmp_path / "allure-results"
    shutil.copytree(results, own_results)
    history = tmp_path / "reports" / "history"
    for _ in range(2):
        done = _report(own_results, tmp_path / "reports" / "html", history)
        assert done.returncode == 0, done.stderr
    page = (tmp_path / "reports" / "html" / "index.html").read_text(encoding="utf-8")
    assert len(_embedded(page, "widgets/history-trend.json")) == 2
    assert len(json.loads((history / "history-trend.json").read_text(encoding="utf-8"))) == 2


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ('<script async src="https://www.googletagmanager.com/gtag/js?id=G-X"></script>', True),
        ('<link rel="stylesheet" href="//cdn.example.com/a.css">', True),
        ('<img src="https://cdn.example.com/logo.png">', True),
        ('<script>fetch("https://collect.example.com/x")</script>', True),
        ("<script>s.src=`https://cdn.example.com/a.js`</script>", True),
        ("<style>@font-face{src:url(https://fonts.example.com/f.woff)}</style>", True),
        ('<script src="data:text/javascript;base64,ZmV0Y2goImh0dHBzOi8vZXZpbC5leGFtcGxlLmNvbSIp"></script>', True),
        ('<a href="https://helpcenter.veeam.com/docs/vbaws/guide/">Veeam</a>', False),
        ('<script>e.createElementNS("http://www.w3.org/2000/svg","svg")</script>', False),
        ('<script>fetch("http://127.0.0.1:8080/data.json")</script>', False),
        ('<script src="data:text/javascript;base64,d2luZG93LngaMQ=="></script>', False),
    ],
)
def test_external_load_check_tells_loads_from_harmless_strings(snippet: str, flagged: bool) -> None:
    assert bool(external_loads(snippet)) is flagged


def test_tag_manager_snippet_is_stripped_when_a_generator_emits_it() -> None:
    # The snippet Allure 2.46.1 writes into <head> unless ALLURE_NO_ANALYTICS=true.
    head = textwrap.dedent(
        """
        <head><title>Allure Report</title>
            <script async src="https://www.googletagmanager.com/gtag/js?id=G-FVWC4GKEYS"></script>
            <script>
                window.dataLayer = window.dataLayer || [];
                function gtag(){dataLayer.push(arguments);}
                gtag('js', new Date());
                gtag('config', 'G-FVWC4GKEYS', {
                  'allureVersion': '2.46.1',
                  'single_file': true
                });
            </script>
            <script>window.reportDataReady = false;</script>
        </head>
        """
    )
    stripped = strip_analytics(head)
    assert external_loads(head) and external_loads(stripped) == []
    assert "gtag" not in stripped and "window.reportDataReady = false;" in stripped


def test_missing_generator_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "allure-results").mkdir()
    (tmp_path / "allure-results" / "x-result.json").write_text("{}", encoding="utf-8")
    done = _report(tmp_path / "allure-results", tmp_path / "html", tmp_path / "history", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "npm ci" in done.stderr and "Traceback" not in done.stderr


def test_missing_java_is_one_line_and_exit_2(generator: None, results: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)
    command = [sys.executable, "-m", "verification", "report", "--results", str(results)]
    done = _run([*command, "--out", str(tmp_path / "html"), "--history-dir", str(tmp_path / "h")], REPO, env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Java" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "html").exists()


def _chromium(binary: str, url: str, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Open ``url`` in headless Chromium with name resolution off, so nothing can leave the machine."""
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000", "--window-size=1400,1000", *action, url,
    ]  # fmt: skip
    done = _run(command, REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _visible_text(dom: str) -> str:
    """The text a person sees in a dumped DOM (scripts, styles and tags removed)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def _page_requests(net_log: Path) -> list[str]:
    """URLs of other hosts the page itself asked for (Chromium's own housekeeping excluded)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]
    return [url for url in requested if urlsplit(url).hostname not in (None, "127.0.0.1", "localhost")]


def _failed_test_route(page: str, role: str, requirement_id: str) -> tuple[str, str]:
    """The Categories-tab route of ``role``'s failed ``requirement_id`` test, and its evidence attachment uid."""
    for category in _embedded(page, "data/categories.json")["children"]:
        for group in category["children"]:
            for test in group["children"]:
                case = _embedded(page, f"data/test-cases/{test['uid']}.json")
                labels = {(label["name"], label["value"]) for label in case["labels"]}
                if {("requirement", requirement_id), ("role", role)} <= labels:
                    attachments = case["testStage"]["attachments"]
                    evidence = [item for item in attachments if item["name"].endswith("evidence")] or attachments
                    return f"categories/{group['uid']}/{test['uid']}", evidence[0]["uid"]
    raise AssertionError(f"no failed test for {requirement_id} of {role} in the Categories tab")


@pytest.fixture(scope="module")
def demo_report(generator: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the bundled demo run (``pytest --demo``), as a user would make it."""
    base = tmp_path_factory.mktemp("demo")
    command = [sys.executable, "-m", "pytest", "--demo", "-q", "-p", "no:cacheprovider"]
    # Run in the tmp folder, not the checkout: the demo writes its evidence under the working folder.
    done = _run([*command, "--alluredir", str(base / "allure-results"), "--clean-alluredir"], base)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:] + done.stderr[-3000:]
    made = _report(base / "allure-results", base / "html", base / "history")
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip())


def test_demo_failed_requirement_and_its_evidence_show_in_chromium(
    demo_report: Path, chromium: str, tmp_path: Path
) -> None:
    report = demo_report
    page = report.read_text(encoding="utf-8")
    route, attachment = _failed_test_route(page, DEMO_ROLE, DEMO_REQUIREMENT)
    views = {
        "failed-requirement": f"{report.as_uri()}#{route}",
        "failed-requirement-evidence": f"{report.as_uri()}#{route}?attachment={attachment}",
    }
    seen: dict[str, str] = {}
    for name, url in views.items():
        net_log = tmp_path / f"{name}.netlog.json"
        dom = _chromium(chromium, url, tmp_path / f"profile-{name}", "--dump-dom", f"--log-net-log={net_log}")
        seen[name] = _visible_text(dom.stdout)
        assert _page_requests(net_log) == []
        shot = tmp_path / f"{name}.png"
        _chromium(chromium, url, tmp_path / f"profile-{name}", f"--screenshot={shot}")
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    assert "Missing permission (implicitly denied)" in seen["failed-requirement"]
    assert DEMO_REQUIREMENT in seen["failed-requirement"]
    assert "VeeamFLRWorkerMisconfigured" in seen["failed-requirement"]
    assert "implicitly denied: no statement allows it" in seen["failed-requirement"]
    assert all(words in seen["failed-requirement-evidence"] for words in DEMO_EVIDENCE)
    assert not any(words in seen["failed-requirement"] for words in DEMO_EVIDENCE[2:])
