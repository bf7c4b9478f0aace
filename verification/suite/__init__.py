"""The verification suite: the test modules a verification run collects, one test per role and requirement.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.
"""
