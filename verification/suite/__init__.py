"""The verification suite: the test modules a verification run collects, one test per role and requirement.

May import: pytest and verification.plugin only (the plugin makes the items and reaches the verdicts).
"""
