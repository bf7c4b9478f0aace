"""Building the run from the options: the targets, their requirement sets and connections, checked once.

``build_run`` reads the options once per process: a role ARN, a targets file (its patterns resolved
once, by the controller, and handed to xdist workers), a snapshot, a template or plan, the demo,
or an organization (``plugin.organization``). Bad input raises ``InputError``: one line, no test run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from verification.backends import RoleRef, region_partition
from verification.errors import CheckError, InputError
from verification.plugin.organization import build_organization_run, organization_spec
from verification.plugin.run import DEMO_FILE, Run, Target, live_options, requirements_spec
from verification.requirements import RequirementSet, load_requirement_set
from verification.scope.context import run_context
from verification.verdicts import AppliancePrincipal, Scope


def build_run(config: pytest.Config) -> Run | None:
    """The run the options ask for, or None when they name nothing to verify."""
    option = config.option
    run = _build_run(config)
    if run is not None and option.kms_key is not None:
        if not run.capabilities.live_api:
            raise InputError("--kms-key needs the live API: a snapshot holds no KMS key policies")
        run.kms_key = option.kms_key
    if run is not None:
        # Live, a connection's own region (a targets entry's region, else --aws-region, else boto3's)
        # is the default; a snapshot has no connection, so --aws-region is.
        own_region = run.capabilities.own_region
        offline_default = (option.aws_region,) if option.aws_region and not own_region else ()
        regions = option.regions or offline_default
        run.scope = Scope(regions=tuple(regions), context=run_context(option.context or []))
        _check_regions(run)
    return run


def _check_regions(run: Run) -> None:
    """Every judged region must be in its role's partition: one line naming both otherwise."""
    for target in run.targets.values():
        for region in target.regions or run.scope.regions:
            partition = region_partition(region)
            if partition != target.ref.partition:
                raise InputError(
                    f"region {region} is in partition {partition}, but {target.ref.arn} is in {target.ref.partition}"
                )


def _build_run(config: pytest.Config) -> Run | None:
    option = config.option
    asked = organization_spec(config)
    if asked is not None:
        if option.template or option.plan:
            raise InputError("--organization cannot be combined with --template or --plan")
        return build_organization_run(config, asked)
    if option.template or option.plan:
        return _build_template_run(config)
    for flag, name in (
        ("--role", "template_roles"),
        ("--parameter", "parameters"),
        ("--parameters-file", "parameters_file"),
    ):
        if getattr(option, name, None):
            raise InputError(
                f"{flag} applies only with --template or --plan (a deployed role is named with --role-arn)"
            )
    if getattr(option, "account", None):
        raise InputError("--account applies only with --template or --plan (a role ARN names its account)")
    if option.targets:
        return _build_targets_run(config)
    roles: list[RoleRef] = list(option.role_arns)
    appliance: AppliancePrincipal | None = option.appliance
    requirements = load_requirement_set(requirements_spec(option))
    if option.demo:
        import yaml

        if option.snapshot:
            raise InputError("--demo and --snapshot cannot be combined: the demo runs its own local endpoint")
        demo_spec = yaml.safe_load(DEMO_FILE.read_text())
        roles = roles or [RoleRef.parse(arn) for arn in demo_spec["roles"]]
        appliance = appliance or AppliancePrincipal.parse(demo_spec["appliance_principal"])
    if not roles:
        return None
    targets: dict[str, Target] = {}
    for ref in roles:
        if ref.arn in targets:
            raise InputError(f"--role-arn {ref.arn} is given twice")
        targets[ref.arn] = Target(ref, requirements, appliance)
    _check_distinct_roles(targets, "--role-arn")
    if option.snapshot:
        from verification.snapshot import load_snapshot

        snapshot = load_snapshot(option.snapshot)
        source = f"snapshot {snapshot.path} (sha256 {snapshot.sha256})"
        run = Run(targets, "snapshot", {"default": {"snapshot": snapshot, "scps": list(option.scps)}}, source)
        _check_snapshot_targets(run)
        return run
    if option.scps:
        raise InputError("--scp applies only with --snapshot: the live API applies the organization's SCPs itself")
    live = {
        **live_options(option),
        "account": roles[0].account if len({ref.account for ref in roles}) == 1 else None,
    }
    if option.aws_region:  # with --endpoint-url too: a region of another partition is never the role's
        partition = region_partition(option.aws_region)
        for ref in roles:
            if ref.partition != partition:
                raise InputError(
                    f"--aws-region {option.aws_region} is in partition {partition}, but {ref.arn} is in "
                    f"{ref.partition}: the API of one partition cannot see another's roles"
                )
    source = f"live IAM API{' at ' + option.endpoint_url if option.endpoint_url else ''}"
    return Run(targets, "live", {"default": live}, source, api_calls=live["counter"])


def _build_template_run(config: pytest.Config) -> Run:
    """A run from ``--template`` or ``--plan``: the file read and every role's accounts built now, offline."""
    from verification.backends.template import TemplateBackend

    option = config.option
    if option.template and option.plan:
        raise InputError("give --template or --plan, not both: verify each file in its own run")
    if option.role_arns or option.targets or option.demo:
        raise InputError(
            "--template/--plan cannot be combined with --role-arn, --targets or --demo: "
            "select the file's roles with --role LOGICAL_ID (or Terraform address)"
        )
    settings = {
        "template": option.template,
        "plan": option.plan,
        "parameters": _parameters(option),
        "account": option.account,
        "region": option.aws_region,
        "snapshot": option.snapshot,
        "scps": list(option.scps),
    }
    run = Run({}, "template", {"default": settings}, "")
    backend = run.backend()
    assert isinstance(backend, TemplateBackend)
    refs = backend.select(option.template_roles)
    backend.check(refs)
    requirements = load_requirement_set(requirements_spec(option))
    for ref in refs:
        run.targets[ref.arn] = Target(ref, requirements, option.appliance)
    _check_distinct_roles(run.targets, str(option.template or option.plan))
    run.source = backend.description
    return run


def _parameters(option: Any) -> dict[str, str]:
    """Template parameter values: the file's first, then each ``--parameter`` (which wins)."""
    values: dict[str, str] = {}
    path = option.parameters_file
    if path is not None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise InputError(f"parameters file {path}: cannot read: {error}") from None
        if isinstance(data, list) and all(isinstance(i, Mapping) and "ParameterKey" in i for i in data):
            values.update({str(i["ParameterKey"]): _parameter_text(i.get("ParameterValue", "")) for i in data})
        elif isinstance(data, Mapping) and all(not isinstance(v, Mapping | list) for v in data.values()):
            values.update({str(k): _parameter_text(v) for k, v in data.items()})
        else:
            raise InputError(
                f"parameters file {path}: expected [{{ParameterKey, ParameterValue}}, ...] or a KEY: VALUE mapping"
            )
    values.update(dict(option.parameters or ()))
    return values


def _parameter_text(value: Any) -> str:
    """A parameter value as CloudFormation reads it: an unquoted YAML true/false is "true"/"false"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _build_targets_run(config: pytest.Config) -> Run:
    """A run from ``--targets``: patterns resolved once (ListRoles) in the controller, never in xdist workers."""
    from verification.fleet.targets import Resolved, load_targets, resolve

    option = config.option
    if option.role_arns or option.demo or option.snapshot:
        raise InputError("--targets cannot be combined with --role-arn, --demo or --snapshot: list roles in the file")
    specs = load_targets(option.targets)
    if getattr(option, "shard", None) is not None:  # --shard I/N: this job's accounts (see fleet/organization.py)
        specs = [spec for spec in specs if option.shard.holds(spec.account)]
    shared = live_options(option)
    connections = {spec.connection: {**shared, **spec.connection_options()} for spec in specs}
    source = f"live IAM API{' at ' + option.endpoint_url if option.endpoint_url else ''}, targets {option.targets}"
    run = Run({}, "live", connections, source, api_calls=shared["counter"])

    def list_roles(spec: Any) -> list[str]:
        try:
            return run.backend(spec.connection).list_roles()
        except CheckError as error:
            raise InputError(f"{option.targets}: entry {spec.index}: could not list roles: {error}") from None

    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and "verification_targets" in worker_input:
        resolved = [Resolved(int(index), str(arn)) for index, arn in worker_input["verification_targets"]]
    else:
        resolved = resolve(specs, list_roles, str(option.targets))
    run.resolved = [(item.index, item.arn) for item in resolved]
    by_index = {spec.index: spec for spec in specs}
    sets: dict[str, RequirementSet] = {}
    for item in resolved:
        spec = by_index[item.index]
        name = spec.requirements or requirements_spec(option)
        if name not in sets:
            sets[name] = load_requirement_set(name)
        appliance = spec.appliance or option.appliance
        run.targets[item.arn] = Target(RoleRef.parse(item.arn), sets[name], appliance, spec.connection, spec.regions)
    _check_distinct_roles(run.targets, str(option.targets))
    return run


def _check_distinct_roles(targets: Mapping[str, Target], where: str) -> None:
    """Refuse two ARNs that name one account's role twice (with different paths).

    A role's name is unique in its account whatever its path, so one of them is a mistake; and
    their tests would share ids, so that xdist would run only one set (the other's errors lost).
    """
    seen: dict[str, str] = {}
    for arn, target in targets.items():
        first = seen.setdefault(target.ref.label, arn)
        if first != arn:
            raise InputError(
                f"{where}: {first} and {arn} both name the role {target.ref.label} (a role's name is unique in its "
                "account, whatever its path): keep the one with the right path"
            )


def _check_snapshot_targets(run: Run) -> None:
    """Read every target's role and policies from the snapshot now, offline, before any test runs.

    A fault in the file (the role is absent, a policy will not parse or is over IAM's size limits)
    is then one line and exit 4, not one broken test per requirement. The checked backend is kept,
    so nothing is parsed twice; the evidence it recorded is dropped (the tests record their own).
    """
    from verification.backends.snapshot import SnapshotBackend
    from verification.safety.limits import PolicySizeError, check_account_role

    backend = run.backend()
    assert isinstance(backend, SnapshotBackend)
    path = backend.snapshot.path
    for arn, target in run.targets.items():
        try:
            backend.get_role(target.ref)
            check_account_role(backend.account, arn)
        except (CheckError, PolicySizeError) as error:
            raise InputError(f"snapshot {path}: {error}") from None
    backend.exchanges.clear()
