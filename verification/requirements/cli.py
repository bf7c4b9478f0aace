"""``python -m verification requirements list | show SPEC | diff A B | import``: the bundled sets, as data.

- ``list``: every bundled set (and earlier version) with its counts, parts and source;
- ``show SPEC``: one set (or a selection of parts, or a union) requirement by requirement;
- ``diff A B``: actions added, removed and changed, trust and instance-profile changes (``--json``);
- ``import``: (re)write the sets from the help-center pages (see ``tools/veeam-pages.yaml``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from verification.errors import InputError
from verification.requirements.bundled import available_sets, available_versions
from verification.requirements.loading import load_requirement_set
from verification.requirements.model import RequirementSet, describe_scope


def summary(s: RequirementSet) -> dict[str, Any]:
    """A set's counts, parts and source, as ``list --json`` prints them."""
    per_part: Counter[str] = Counter(p for r in s.by_kind("permission") for p in r.parts)
    return {
        "name": s.name,
        "id": s.id,
        "title": s.title,
        "version": s.version,
        "source": s.source_url,
        "product_build": s.product_build,
        "page_updated": s.page_updated,
        "requirements": len(s.requirements),
        "actions": len(set(s.actions)),
        "trust": [r.id.removeprefix("trust:") for r in s.by_kind("trust")],
        "instance_profile": bool(s.by_kind("instance-profile")),
        "parts": {name: per_part[name] for name, _ in s.parts},
        "anomalies": list(s.anomalies),
        "notes": list(s.notes),
    }


def _list(args: argparse.Namespace) -> int:
    names = available_sets() + available_versions()
    rows = [summary(load_requirement_set(name)) for name in names]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{len(rows)} requirement sets ({len(available_versions())} of them earlier versions):")
    for row in rows:
        trust = ", ".join(row["trust"]) or "none"
        profile = ", instance profile" if row["instance_profile"] else ""
        print(f"{row['name']}: {row['actions']} actions; trust: {trust}{profile}")
        if row["parts"]:
            print("    parts: " + ", ".join(f"{name} ({count})" for name, count in row["parts"].items()))
        print(f"    {row['product_build']}, page updated {row['page_updated']}: {row['source']}")
        for anomaly in row["anomalies"]:
            print(f"    anomaly: {anomaly}")
    return 0


def _show(args: argparse.Namespace) -> int:
    s = load_requirement_set(args.spec)
    if args.json:
        data = summary(s)
        data["requirements"] = [
            {
                "id": r.id,
                "kind": r.kind,
                "action": r.action,
                "resource": r.resource,
                "context": {k: list(v) for k, v in r.context},
                "parts": list(r.parts),
                "sets": list(r.sets),
                "story": r.story,
            }
            for r in s.requirements
        ]
        print(json.dumps(data, indent=2))
        return 0
    info = summary(s)
    print(f"{s.name}: {s.title}")
    print(f"  {s.version}; {s.source_url}")
    print(f"  {info['actions']} actions, {len(s.requirements)} requirements (sha256 {s.sha256[:16]}...)")
    if s.parts:
        chosen = ", ".join(f"{n}{'' if n in s.selected else ' (not selected)'}" for n, _ in s.parts)
        print(f"  parts: {chosen}")
    for text in (*s.anomalies, *s.notes):
        print(f"  note: {text}")
    for r in s.requirements:
        where = f" [{', '.join(r.parts)}]" if r.parts else ""
        scope = ""
        if r.kind == "permission" and (r.resource != "*" or r.context):
            scope = f"  (on {describe_scope(r.resource, r.context)})"
        print(f"  {r.id}{where}{scope}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from verification.requirements.diff import diff_sets

    result = diff_sets(load_requirement_set(args.a), load_requirement_set(args.b))
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        sys.stdout.write(result.as_text())
    return 0


def _import(args: argparse.Namespace) -> int:
    from verification.requirements.importer import import_all

    for path in (args.config, args.pages):
        if not path.exists():
            raise InputError(f"{path} does not exist")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in import_all(args.config, args.pages, args.archive, args.out):
        print(f"wrote {path}")
    return 0


def main(argv: list[str]) -> int:
    """Run one subcommand; bad input is one line on stderr and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m verification requirements", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the bundled sets with counts, parts and sources")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    show = sub.add_parser("show", help="one set: NAME[@VERSION][:PART,...], a file, or A+B")
    show.add_argument("spec")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_show)
    diff = sub.add_parser("diff", help="what changes from set A to set B (two sets, or two versions of one)")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(run=_diff)
    imp = sub.add_parser("import", help="write the sets from the help-center pages")
    imp.add_argument("--config", type=Path, default=Path("tools/veeam-pages.yaml"))
    imp.add_argument("--pages", type=Path, required=True, help="folder of the pages (vbaws-BUILD)")
    imp.add_argument("--archive", type=Path, default=None, help="folder of the archived version lists")
    imp.add_argument("--out", type=Path, default=Path("fixtures/requirements"))
    imp.set_defaults(run=_import)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
