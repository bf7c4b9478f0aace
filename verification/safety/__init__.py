"""Safety: the read-only guard on every client, credential redaction, and IAM's size limits.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.
"""
