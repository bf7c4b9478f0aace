"""The checkout is the suite: `pytest --role-arn ARN` here runs verification/suite.

The plugin itself is registered through the `pytest11` entry point (pyproject.toml), so installed
copies work from anywhere; nothing needs to be declared here.
"""
