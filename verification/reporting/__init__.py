"""Reporting: the evidence bundle, checked remediation, Allure categories and the HTML report.

May import: policy, requirements, verdicts, backends, snapshot, safety; never pytest (Allure only as files).
"""
