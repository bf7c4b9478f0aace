"""``python -m verification COMMAND ...``: the harness's commands outside pytest."""

from __future__ import annotations

import importlib
import sys

#: command → "module:function"; each function takes the remaining argv and returns an exit code.
COMMANDS = {
    "endpoint": ("verification.endpoint.cli:main", "run the local IAM endpoint (moto + the policy engine)"),
    "snapshot": ("verification.snapshot.export:main", "export an account snapshot for offline verification"),
    "evidence": ("verification.reporting.evidence:main", "verify an evidence bundle's manifest"),
    "report": ("verification.reporting.html:main", "turn allure-results into a single-file HTML report"),
    "requirements": ("verification.requirements.cli:main", "list, show and diff the requirement sets; import pages"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; print the list of commands on a bad or missing one."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        lines = [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
        wrong = f"unknown command {args[0]!r}; " if args and args[0] not in ("-h", "--help") else ""
        print(f"{wrong}usage: python -m verification COMMAND [...]\n" + "\n".join(lines), file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    target, _ = COMMANDS[args[0]]
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
