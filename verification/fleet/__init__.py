"""Fleet operation: targets files, per-account pacing and API-call accounting for many roles.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.
"""
