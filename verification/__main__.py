"""``python -m verification COMMAND ...``: the harness's commands outside pytest."""

from __future__ import annotations

import importlib
import sys

#: command → "module:function"; each function takes the remaining argv and returns an exit code.
COMMANDS = {
    "endpoint": ("verification.endpoint.cli:main", "run the local IAM endpoint (moto + the policy engine)"),
    "snapshot": ("verification.snapshot.export:main", "export an account snapshot for offline verification"),
    "evidence": (
        "verification.reporting.evidence:main",
        "verify an evidence bundle's manifest, or show its roles and raw answers",
    ),
    "report": ("verification.reporting.html:main", "turn allure-results into a single-file HTML report"),
    "merge": ("verification.reporting.merge:main", "merge shard folders (allure-results, evidence) into one run's"),
    "requirements": ("verification.requirements.cli:main", "list, show and diff the requirement sets; import pages"),
    "precommit": ("verification.plugin.precommit:main", "verify the roles of changed templates or plans (pre-commit)"),
}
#: Packages that only an extra brings, and the extra that brings them.
EXTRAS = {"moto": "demo", "flask": "demo", "werkzeug": "demo", "flask_cors": "demo"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; print the list of commands on a bad or missing one."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        from verification import __version__

        print(f"veeam-role-verification {__version__}")
        return 0
    if not args or args[0] not in COMMANDS:
        lines = [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
        wrong = f"unknown command {args[0]!r}; " if args and args[0] not in ("-h", "--help") else ""
        print(f"{wrong}usage: python -m verification [--version] COMMAND [...]\n" + "\n".join(lines), file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    target, _ = COMMANDS[args[0]]
    module_name, function_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        extra = EXTRAS.get((error.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"python -m verification {args[0]} needs the [{extra}] extra: "
            f"pip install 'veeam-role-verification[{extra}]'",
            file=sys.stderr,
        )
        return 2
    return int(getattr(module, function_name)(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
