"""The backends by name (``live``, ``snapshot``, ``template``), each imported only when asked for."""

from __future__ import annotations

import importlib
from typing import Any

from verification.backends.base import Backend
from verification.errors import InputError

#: Backend name → "module:class", imported lazily (the snapshot backend needs no boto3 client).
REGISTRY = {
    "live": "verification.backends.live:LiveBackend",
    "snapshot": "verification.backends.snapshot:SnapshotBackend",
    "template": "verification.backends.template:TemplateBackend",
}


def backend_class(name: str) -> type[Backend]:
    """A registered backend's class by name (its capabilities are known before it is made)."""
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}: use one of {', '.join(REGISTRY)}")
    module_name, class_name = REGISTRY[name].split(":")
    found: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return found


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend by name."""
    return backend_class(name)(**options)
