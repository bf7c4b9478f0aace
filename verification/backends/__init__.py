"""Where facts about a role come from: the live IAM API, an account snapshot, or a template.

Every backend answers the same few questions with the same types, so the tests never know which
backend answered. One module per concern: ``base`` (the ``Backend`` interface and its
``Capabilities``), ``facts`` (``Role``, ``InstanceProfile``, ``HeldAccount``), ``exchange`` (the raw
answers kept as evidence), ``simulation`` (SimulatePrincipalPolicy requests and answers),
``registry`` (backends by name); ``live``, ``prefetch``, ``snapshot`` and ``template`` are the
backends. This module only re-exports; the layer's place in the import rule is ``ORDER`` in
``tests/test_layers.py`` (see docs/architecture.md).
"""

from __future__ import annotations

from verification.backends.base import Backend, Capabilities
from verification.backends.exchange import Exchange, exchanges_json
from verification.backends.facts import HeldAccount, InstanceProfile, Role
from verification.backends.registry import REGISTRY, backend_class, create_backend
from verification.backends.simulation import SimulationRequest, SimulationResult, restrictiveness
from verification.names import ROLE_ARN_RE, CallerIdentity, RoleRef
from verification.scope.regions import region_partition

__all__ = [
    "REGISTRY",
    "ROLE_ARN_RE",
    "Backend",
    "CallerIdentity",
    "Capabilities",
    "Exchange",
    "HeldAccount",
    "InstanceProfile",
    "Role",
    "RoleRef",
    "SimulationRequest",
    "SimulationResult",
    "backend_class",
    "create_backend",
    "exchanges_json",
    "region_partition",
    "restrictiveness",
]
