"""``python -m verification report``: turn allure-results into one self-contained HTML file.

The generator is Allure 2 (npm ``allure-commandline``, pinned in ``package.json``; it runs on
Java). Allure 2 rather than Allure 3 because Allure 3 always embeds a Google Tag Manager script
and ignores ``categories.json``, while Allure 2 drops its analytics with
``ALLURE_NO_ANALYTICS=true`` and reads the root-cause categories natively.

A report is audit evidence that may be opened on a locked-down machine, so after generating,
the HTML is checked for anything that would load from another host; if something remains, no
report is written and the command fails.

History: Allure 2 builds its trend from a ``history/`` folder in the results. Before generating,
the saved history (``reports/history`` by default) is copied into the results folder; afterwards
the new report's history, which the single-file HTML embeds, is saved back.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from verification.reporting.categories import categories

#: The generator this harness is tested with; package.json pins the same version.
GENERATOR_PACKAGE = "allure-commandline"
GENERATOR_VERSION = "2.46.1"
GENERATE_TIMEOUT_SECONDS = 900

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: Hosts that exist only to be loaded from (analytics): their mere mention is a finding.
_ANALYTICS_HOSTS = ("googletagmanager.com", "google-analytics.com", "analytics.google.com")

_Q = r"""["'`]"""
_URL = r"""(?P<url>(?:https?:|wss?:)?//[^"'`\s)]+)"""
#: JavaScript and CSS constructs that make the browser contact the URL they are given.
_LOAD_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"\b(?:fetch|importScripts|sendBeacon|import|EventSource|WebSocket|Worker|SharedWorker)\s*\(\s*{_Q}{_URL}",
        rf"\.open\s*\(\s*{_Q}\w+{_Q}\s*,\s*{_Q}{_URL}",
        rf"\.(?:src|href|srcset|action|data|poster)\s*=\s*{_Q}{_URL}",
        rf"setAttribute\(\s*{_Q}(?:src|href|srcset|action|data|poster){_Q}\s*,\s*{_Q}{_URL}",
        rf"<(?:script|link|img|iframe|frame|embed|object|source|video|audio)\b[^>]*?\s(?:src|href|srcset|data)\s*=\s*\\?{_Q}{_URL}",
        rf"url\(\s*\\?[\"']?{_URL}",
        rf"@import\s+\\?[\"']{_URL}",
    )
)
#: Element attributes the browser fetches on its own (``<a href>`` waits for a click).
_LOADING_ATTRIBUTES = frozenset({"src", "srcset", "data", "poster", "background", "action", "formaction"})
_DATA_ENTRY = re.compile(r"""\bd\('(?P<name>[^']+)',\s*'(?P<value>[A-Za-z0-9+/=]*)'\)""")


class ReportError(Exception):
    """A problem the user can act on: printed as one line, then exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _is_external(url: str) -> bool:
    """Whether ``url`` points at a host other than this machine (unknown hosts count as external)."""
    host = urllib.parse.urlsplit(url if "//" in url else "//" + url).hostname or url
    return host.lower() not in _LOOPBACK_HOSTS and not host.startswith("127.")


def _decode_data_url(url: str) -> str:
    """The text of a ``data:`` URL (base64 or percent-encoded); empty if it is not text."""
    header, _, payload = url.partition(",")
    try:
        raw = base64.b64decode(payload) if header.endswith(";base64") else urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")


def _loads_in_code(text: str, where: str) -> list[str]:
    """Loads of external hosts in script or style text, as ``where: url`` lines."""
    found = [
        f"{where}: {match.group('url')}"
        for pattern in _LOAD_PATTERNS
        for match in pattern.finditer(text)
        if _is_external(match.group("url"))
    ]
    lowered = text.lower()
    found += [f"{where}: mentions {host}" for host in _ANALYTICS_HOSTS if host in lowered]
    return found


class _LoadFinder(html.parser.HTMLParser):
    """Collects what an HTML page would load from other hosts when opened."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag if tag in ("script", "style") else ""
        for name, value in attrs:
            if not value:
                continue
            loads = name in _LOADING_ATTRIBUTES or (name == "href" and tag == "link")
            if name == "style":
                self.found += _loads_in_code(value, f"<{tag} style>")
            elif loads and value.startswith("data:"):
                self.found += _loads_in_code(_decode_data_url(value), f"<{tag} {name}=data:...>")
            elif loads:
                urls = [part.split()[0] for part in value.split(",") if part.strip()] if name == "srcset" else [value]
                self.found += [f"<{tag} {name}>: {url}" for url in urls if "//" in url and _is_external(url)]
            elif tag == "meta" and name == "content" and "url=" in value.lower():
                url = value.lower().split("url=", 1)[1].strip()
                if _is_external(url) and "//" in url:
                    self.found.append(f"<meta refresh>: {url}")

    def handle_endtag(self, tag: str) -> None:
        self._in = ""

    def handle_data(self, data: str) -> None:
        if self._in:
            self.found += _loads_in_code(data, f"inline <{self._in}>")


def external_loads(page: str) -> list[str]:
    """What ``page`` would load from hosts other than this machine, one line per finding.

    Loads are element attributes the browser fetches by itself (script src, link href, img src,
    ...), including ``data:`` scripts decoded, and JavaScript/CSS that fetches a literal URL
    (``fetch``, ``import``, ``.src =``, ``url(...)``). URL strings that are never loaded, such as
    XML namespaces or links a person has to click, are not findings.
    """
    finder = _LoadFinder()
    finder.feed(page)
    finder.close()
    return finder.found


def strip_analytics(page: str) -> str:
    """Remove Allure 2's Google Tag Manager snippet, should a generator still emit it."""
    page = re.sub(r"<script[^>]*\bsrc=[\"'][^\"']*googletagmanager\.com[^\"']*[\"'][^>]*>\s*</script>", "", page)
    return re.sub(r"<script>(?:(?!</script>).)*\bgtag\(\s*'config'(?:(?!</script>).)*</script>", "", page, flags=re.S)


def find_generator(start: Path) -> Path:
    """The pinned Allure launcher in ``node_modules`` of ``start`` or a parent folder."""
    for folder in (start, *start.parents):
        package = folder / "node_modules" / GENERATOR_PACKAGE
        if (package / "package.json").is_file():
            version = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
            if version != GENERATOR_VERSION:
                raise ReportError(
                    f"report: {GENERATOR_PACKAGE} {version} is installed, {GENERATOR_VERSION} is pinned: "
                    f"run `npm ci` in the repository root",
                    exit_code=2,
                )
            return package / "dist" / "bin" / "allure"
    raise ReportError(
        f"report: the report generator is not installed: run `npm ci` in the repository root, or "
        f"`npm install {GENERATOR_PACKAGE}@{GENERATOR_VERSION}` in this folder (it needs Java 17)",
        exit_code=2,
    )


def _require_java() -> None:
    """Fail with the install line when the generator's Java is missing."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise ReportError(
            "report: Java is not installed, and the Allure 2 generator runs on it: "
            "install Java 17 (Debian: `apt-get install -y openjdk-17-jre-headless`)",
            exit_code=2,
        )


def restore_history(history_dir: Path, results: Path) -> None:
    """Copy the saved history into ``results/history`` so the new report continues the trend."""
    target = results / "history"
    shutil.rmtree(target, ignore_errors=True)
    if history_dir.is_dir():
        shutil.copytree(history_dir, target)


def save_history(page: str, history_dir: Path) -> None:
    """Save the ``history/*.json`` files that a single-file report embeds into ``history_dir``."""
    entries = {m["name"]: m["value"] for m in _DATA_ENTRY.finditer(page) if m["name"].startswith("history/")}
    if "history/history-trend.json" not in entries:
        raise ReportError("report: the generated report embeds no history; was it made with --single-file?")
    history_dir.mkdir(parents=True, exist_ok=True)
    for name, value in entries.items():
        (history_dir / Path(name).name).write_bytes(base64.b64decode(value))


def generate(results: Path, out: Path, history_dir: Path) -> Path:
    """Generate ``out/index.html`` from ``results``, carry the history on, and return the file."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"report: no test results in {results}: run pytest with --alluredir {results}", 2)
    generator = find_generator(Path.cwd().resolve())
    _require_java()
    categories_file = results / "categories.json"
    if not categories_file.exists():
        categories_file.write_text(json.dumps(categories(), indent=2), encoding="utf-8")
    restore_history(history_dir, results)
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true"}
    with tempfile.TemporaryDirectory(prefix="allure-report-") as staging:
        command = [str(generator), "generate", str(results), "-o", staging, "--clean", "--single-file"]
        command += ["--name", "Veeam Backup for AWS: IAM role verification"]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=GENERATE_TIMEOUT_SECONDS, check=False
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ReportError(f"report: allure generate failed: {detail[-1] if detail else done.returncode}")
        page = strip_analytics((Path(staging) / "index.html").read_text(encoding="utf-8"))
    loads = external_loads(page)
    if loads:
        raise ReportError("report: refusing to write a report that loads from other hosts: " + "; ".join(loads))
    save_history(page, history_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "index.html"
    report.write_text(page, encoding="utf-8")
    return report


def main(argv: list[str]) -> int:
    """Generate the report; print its path, or one line saying what went wrong."""
    parser = argparse.ArgumentParser(
        prog="python -m verification report",
        description="Turn allure-results into one self-contained HTML report that opens from disk.",
    )
    parser.add_argument("--results", type=Path, default=Path("reports/allure-results"), help="allure-results folder")
    parser.add_argument("--out", type=Path, default=Path("reports/html"), help="folder for index.html")
    parser.add_argument("--history-dir", type=Path, default=Path("reports/history"), help="history kept across runs")
    args = parser.parse_args(argv)
    try:
        report = generate(args.results, args.out, args.history_dir)
    except ReportError as error:
        print(error, file=sys.stderr)
        return error.exit_code
    except subprocess.TimeoutExpired:
        print(f"report: allure generate did not finish in {GENERATE_TIMEOUT_SECONDS} s", file=sys.stderr)
        return 1
    print(report)
    return 0
