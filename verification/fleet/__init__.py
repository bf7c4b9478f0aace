"""Fleet operation: targets files, per-account pacing and API-call accounting for many roles.

May import: errors, backends' data types, the standard library and PyYAML; never pytest or Allure.
"""
