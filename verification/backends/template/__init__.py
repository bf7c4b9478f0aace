"""Verify the roles a CloudFormation/CDK template or a Terraform plan declares, before deployment.

One module per concern: ``backend`` (``TemplateBackend``: the file's roles judged over the accounts
it allows), ``model`` (what a file declares and leaves open, and the lower and upper accounts),
``cloudformation``, ``intrinsics`` and ``cloudformation_roles`` (reading CloudFormation),
``terraform`` (reading a plan), ``managed`` (AWS managed policies' documents). This module only
re-exports; the layer's place in the import rule is ``ORDER`` in ``tests/test_layers.py`` (see
docs/architecture.md).
"""

from __future__ import annotations

from verification.backends.template.backend import OUTSIDE, TemplateBackend, TemplateRoleRef

__all__ = ["OUTSIDE", "TemplateBackend", "TemplateRoleRef"]
