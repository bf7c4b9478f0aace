"""Safety: the read-only guard on every client, credential redaction, and IAM's size limits.

May import: errors, policy, botocore and the standard library; never pytest, Allure or the plugin.
"""
