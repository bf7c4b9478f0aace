"""Reporting: the evidence bundle, checked remediation, Allure categories and the HTML report.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.
"""
