"""The Allure ``categories.json`` rules: one category per root cause of a failed requirement.

Allure 2 reads ``categories.json`` from the results folder and files every failed or broken
test under the first-matching categories, so the report's Categories tab groups failures by
*why* a requirement is not met. The rules match the opening words of the plugin's failure
messages. Allure matches ``messageRegex`` against the whole message (Java ``matches``), so
each pattern allows an optional exception-name prefix (``AssertionError: ``, ``Failed: ``)
and any text after the opening words, across lines.

Pure data: the plugin imports this module while writing the results folder.
"""

from __future__ import annotations

from typing import Any

#: (category name, statuses it applies to, the words a matching message starts with).
_ROOT_CAUSES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Missing permission (implicitly denied)", ("failed",), r"implicitly denied"),
    ("Explicitly denied by a policy", ("failed",), r"explicitly denied (?:on some resources )?by"),
    ("Denied by a service control policy", ("failed",), r"denied by a service control policy"),
    ("Outside the permissions boundary", ("failed",), r"not allowed by the permissions boundary"),
    (
        "Allowed only under conditions",
        ("failed",),
        r"(?:allowed only when|denied unless|trust policy allows .* only when)",
    ),
    ("Trust not granted", ("failed",), r"trust policy does not allow"),
    ("Trust explicitly denied", ("failed",), r"trust policy explicitly denies"),
    (
        "The appliance role may not assume the role",
        ("failed",),
        r"the appliance role .* (?:may not assume this role|does not exist)",
    ),
    ("No instance profile", ("failed",), r"not in any instance profile"),
    ("Not allowed by the KMS key policy", ("failed",), r"not allowed by the key policy"),
    ("Could not check", ("broken",), r"could not check:"),
    # --excess fail (docs/excess.md): "3 privilege-escalation permission(s) beyond the requirement sets: ..."
    ("Permissions beyond the requirement sets", ("failed",), r"\d+ [\w-]+ permission\(s\) beyond the requirement sets"),
)

#: An optional ``SomeError: `` prefix that pytest and allure-pytest put before the message.
_EXCEPTION_PREFIX = r"(?:[\w.]+: )?"


def categories() -> list[dict[str, Any]]:
    """Return the ``categories.json`` content: one rule per root cause, in a stable order."""
    return [
        {
            "name": name,
            "matchedStatuses": list(statuses),
            "messageRegex": rf"(?s){_EXCEPTION_PREFIX}{opening}.*",
        }
        for name, statuses, opening in _ROOT_CAUSES
    ]
