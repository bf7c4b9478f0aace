"""Policy variables (``${aws:username}``, ``${k, 'default'}``, ``${*}``...) and IAM wildcard patterns.

Contract (owned by the conditions work; used by resource matching too):
- ``has_variables(text) -> bool``
- ``resolve(text, context) -> str | None``: substitute every variable; ``${*}``, ``${?}``, ``${$}`` give
  the literal characters; ``${key, 'default'}`` falls back to the default; None when any variable
  cannot be resolved (an unresolved variable matches nothing).
- ``wildcard_regex(pattern, context, *, ignore_case) -> re.Pattern[str] | None``: an anchored regex for
  an IAM wildcard pattern (``*`` any run, ``?`` one character), every other character literal
  (regex metacharacters escaped). With a context, variables are substituted first and their values
  are literal (``${*}`` is a literal star); with ``context=None`` variables are left as literal text
  (policies of Version 2008-10-17). None when a variable cannot be resolved.
"""
