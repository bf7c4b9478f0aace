"""The region a request to an action is made in: the verified ones, or a global service's own.

Regional services are called in each region the worker runs in, and their requests carry
``aws:RequestedRegion`` with that region. A global service (IAM, Organizations, Route 53...) has one
endpoint per partition, whose requests carry that endpoint's signing region (``us-east-1`` in
``aws``, ``cn-north-1`` for IAM in ``aws-cn``). Which services are global, and their regions, come
from botocore's endpoint data: a service whose ``isRegionalized`` is false, with the credential
scope of its partition endpoint. No hand-written list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from verification.errors import InputError


@cache
def _partitions() -> tuple[dict[str, Any], ...]:
    from botocore.loaders import create_loader

    return tuple(create_loader().load_data("endpoints")["partitions"])


@cache
def _known_regions() -> dict[str, tuple[str, str | None]]:
    """Every region botocore's partitions data lists: region → (partition, that partition's pattern).

    The partitions' pseudo regions (``aws-global``, ``aws-cn-global``...) are endpoints, not regions.
    """
    from botocore.loaders import create_loader

    known: dict[str, tuple[str, str | None]] = {}
    for partition in create_loader().load_data("partitions")["partitions"]:
        for region in partition.get("regions", {}):
            if not region.startswith("aws-"):
                known[region] = (str(partition["id"]), partition.get("regionRegex"))
    return known


@cache
def region_partition(region: str) -> str | None:
    """The partition (aws, aws-cn, ...) of a region botocore's partitions data lists, else None.

    Only listed regions count: a name that merely fits a partition's pattern (``eu-nowhere-9``) is
    a typo far more often than a region launched after this botocore release.
    """
    known = _known_regions().get(region)
    return known[0] if known else None


def unknown_region(region: str, label: str) -> InputError:
    """The one line for a region botocore does not know (after ``label``), naming the closest ones it does.

    Closest among the partition whose pattern the name fits (``eu-nowhere-9`` → ``aws``), else
    among all partitions' regions.
    """
    from difflib import get_close_matches

    import botocore

    known = _known_regions()
    fits = {partition for partition, pattern in known.values() if pattern and re.fullmatch(pattern, region, re.ASCII)}
    pool = sorted(name for name, (partition, _) in known.items() if not fits or partition in fits)
    close = get_close_matches(region, pool, n=3, cutoff=0.5) or pool[:3]
    return InputError(
        f"{label} {region!r} is not an AWS region botocore {botocore.__version__} knows; closest: {', '.join(close)}"
    )


@cache
def global_region(service: str, partition: str) -> str | None:
    """The signing region of a global ``service`` (an action's prefix) in ``partition``; None if regional."""
    for data in _partitions():
        if data.get("partition") != partition:
            continue
        entry = data.get("services", {}).get(service.lower())
        if not entry or entry.get("isRegionalized", True):
            return None
        endpoint = entry.get("partitionEndpoint")
        scope = (entry.get("endpoints", {}).get(endpoint) or {}).get("credentialScope") or {}
        region = scope.get("region")
        return str(region) if region else None
    return None


def action_regions(action: str, regions: Sequence[str], partition: str) -> tuple[str, ...]:
    """The regions requests to ``action`` are judged in: ``regions``, or the service's global region."""
    found = global_region(action.partition(":")[0], partition)
    return (found,) if found else tuple(regions)


def parse_regions(value: str, *, option: str = "--regions") -> tuple[str, ...]:
    """``R1,R2``: regions botocore knows, in one partition, each once; InputError otherwise."""
    regions = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not regions:
        raise InputError(f"{option} {value!r} names no region: give regions such as eu-central-1,eu-west-1")
    partitions = {}
    for region in regions:
        partition = region_partition(region)
        if partition is None:
            raise unknown_region(region, f"{option}:")
        partitions[region] = partition
    if len(set(partitions.values())) > 1:
        listed = ", ".join(f"{r} ({p})" for r, p in partitions.items())
        raise InputError(f"{option}: the regions are in different partitions ({listed}): a role lives in one")
    return regions


def describe(regions: Iterable[str]) -> str:
    """``eu-west-1`` or ``eu-central-1 and eu-west-1`` or ``a, b and c``."""
    items = list(regions)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
