"""``--organization``: the run over an AWS Organization's member accounts, found once by the controller.

The controller lists the organization's accounts (``verification.fleet.organization``), keeps this
shard's, assumes the member role in each and lists its roles; xdist workers are handed the result
and make no call of their own to find it. An account whose member role cannot be assumed (or whose
roles cannot be listed) becomes one broken test naming the reason: never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from verification.backends import RoleRef
from verification.errors import CheckError, InputError
from verification.fleet.organization import (
    ACCOUNT_REQUIREMENT,
    ADMIN_ROLE,
    ADMIN_ROLE_WARNING,
    Account,
    Organization,
    OrganizationSpec,
    Shard,
    discover,
    matching_roles,
    read_block,
)
from verification.plugin.keys import CASE_KEY, CAUSE_KEY, Case
from verification.plugin.run import Run, Target, live_options, requirements_spec
from verification.requirements import RequirementSet, load_requirement_set
from verification.verdicts import AppliancePrincipal


@dataclass
class OrganizationRun:
    """What ``--organization`` found, kept on the run for the header, labels and reports."""

    spec: OrganizationSpec
    partition: str
    found: Organization
    shard: Shard | None = None
    #: Per account: the role ARNs verified there.
    roles: dict[str, list[str]] = field(default_factory=dict)

    @property
    def accounts(self) -> dict[str, Account]:
        return {account.id: account for account in self.found.accounts}

    def member_role_arn(self, account: str) -> str:
        return self.spec.member_role_arn(self.partition, account)

    def to_dict(self) -> dict[str, Any]:
        """For xdist workers (plain data over execnet)."""
        spec = self.spec
        return {
            "spec": [
                spec.member_role,
                list(spec.role_names),
                list(spec.ous),
                list(spec.skip_ous),
                list(spec.skip_accounts),
                spec.session_duration,
            ],
            "partition": self.partition,
            "management": self.found.management,
            "accounts": [account.to_dict() for account in self.found.accounts],
            "unreachable": dict(self.found.unreachable),
            "left_out": self.found.left_out,
            "other_shards": self.found.other_shards,
            "shard": [self.shard.index, self.shard.count] if self.shard else None,
            "roles": {account: list(arns) for account, arns in self.roles.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrganizationRun:
        member, names, ous, skip_ous, skip_accounts, duration = data["spec"]
        spec = OrganizationSpec(member, tuple(names), tuple(ous), tuple(skip_ous), tuple(skip_accounts), duration)
        found = Organization(
            data["management"],
            [Account.from_dict(item) for item in data["accounts"]],
            int(data["left_out"]),
            int(data["other_shards"]),
            dict(data["unreachable"]),
        )
        shard = Shard(*data["shard"]) if data.get("shard") else None
        return cls(spec, data["partition"], found, shard, {k: list(v) for k, v in data["roles"].items()})

    def account_of(self, arn: str) -> Account | None:
        """The account a role ARN is in, if discovery found it."""
        parts = arn.split(":")
        return self.accounts.get(parts[4]) if len(parts) > 4 else None

    def describe_role(self, arn: str) -> str:
        """``name (id), Root/OU/path``: where a role's account sits, for the step summary."""
        account = self.account_of(arn)
        return f"{account.label}, {account.ou_path}" if account else ""

    def evidence(self) -> dict[str, Any]:
        """For the evidence bundle's run.json: the accounts (name, OU path, roles), the shard, the member role."""
        return {
            "management_account": self.found.management,
            "member_role": self.spec.member_role,
            "role_names": list(self.spec.role_names),
            "ous": list(self.spec.ous),
            "skip_ous": list(self.spec.skip_ous),
            "skip_accounts": list(self.spec.skip_accounts),
            "shard": str(self.shard) if self.shard else None,
            "accounts": {
                account.id: {
                    "name": account.name,
                    "ou_path": account.ou_path,
                    "ou_ids": list(account.ou_ids),
                    "credentials": "the caller's own" if account.own else self.member_role_arn(account.id),
                    "roles": list(self.roles.get(account.id, ())),
                    "unreachable": self.found.unreachable.get(account.id),
                }
                for account in self.found.accounts
            },
        }

    def header_lines(self) -> list[str]:
        found = self.found
        reached = len(found.accounts) - len(found.unreachable)
        shard = f" (shard {self.shard}; {found.other_shards} account(s) in other shards)" if self.shard else ""
        lines = [
            f"organization: management account {found.management or 'unknown'}; {len(found.accounts)} account(s) "
            f"verified{shard}, {found.left_out} left out by --ou/--skip-ou/--skip-account; member role "
            f"{self.spec.member_role}; roles named {', '.join(self.spec.role_names)}",
        ]
        empty = [a.label for a in found.accounts if a.id not in found.unreachable and not self.roles.get(a.id)]
        if empty:
            lines.append(
                f"organization: no role matches in {len(empty)} account(s): {', '.join(empty[:10])}"
                + (" ..." if len(empty) > 10 else "")
            )
        if found.unreachable:
            lines.append(
                f"organization: {len(found.unreachable)} account(s) could not be read (one broken test each): "
                f"{', '.join(sorted(found.unreachable))}"
            )
        if reached < 0:  # pragma: no cover - arithmetic guard
            lines.append("organization: inconsistent counts")
        if self.spec.member_role == ADMIN_ROLE:
            lines.append(f"warning: {ADMIN_ROLE_WARNING}")
        return lines


class JunitProperties:
    """Controller only: the JUnit file names each account (name and OU path) among its properties."""

    def __init__(self, org: OrganizationRun) -> None:
        self.org = org

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from _pytest.junitxml import xml_key

        xml = session.config.stash.get(xml_key, None)
        if xml is None:
            return
        xml.add_global_property("organization", self.org.found.management)
        if self.org.shard is not None:
            xml.add_global_property("shard", str(self.org.shard))
        for account in self.org.found.accounts:
            xml.add_global_property(f"account {account.id}", f"{account.name}; {account.ou_path}")


def organization_spec(config: pytest.Config) -> tuple[OrganizationSpec, str | None, str | None] | None:
    """The organization asked for: by ``--organization`` options or a targets file's ``organization:`` block."""
    from verification.fleet.targets import read_document

    option = config.option
    block = None
    if option.targets:
        data = read_document(option.targets)
        if "organization" in data:
            block = read_block(data["organization"], str(option.targets))
    flags = [
        flag
        for flag, name in (
            ("--member-role", "member_role"),
            ("--role-name", "role_names"),
            ("--ou", "ous"),
            ("--skip-ou", "skip_ous"),
            ("--skip-account", "skip_accounts"),
        )
        if getattr(option, name, None)
    ]
    if block is None and not option.organization:
        if flags or (option.shard and not option.targets):
            given = ", ".join(flags + (["--shard"] if option.shard and not option.targets else []))
            raise InputError(f"{given} applies only with --organization or --targets")
        return None
    if block is not None:
        if option.organization or flags:
            raise InputError(
                f"{option.targets} has an organization: block: give the organization there or with --organization "
                "and its options, not both"
            )
        return block.spec, block.appliance_principal, block.requirements
    spec = OrganizationSpec(
        option.member_role or "",
        tuple(option.role_names),
        tuple(option.ous),
        tuple(option.skip_ous),
        tuple(option.skip_accounts),
    )
    if not option.member_role:
        raise InputError("--organization needs --member-role NAME: the read-only role to assume in each account")
    spec.check()
    return spec, None, None


def build_organization_run(config: pytest.Config, asked: tuple[OrganizationSpec, str | None, str | None]) -> Run:
    """Find the accounts and roles (the controller), or take them from the controller (an xdist worker)."""
    option = config.option
    spec, appliance_text, requirements_text = asked
    if option.role_arns or option.demo or option.snapshot:
        raise InputError("--organization cannot be combined with --role-arn, --demo or --snapshot")
    shared = live_options(option)
    where = f" at {option.endpoint_url}" if option.endpoint_url else ""
    run = Run({}, "live", {"default": dict(shared)}, f"live IAM API{where}", api_calls=shared["counter"])
    worker_input = getattr(config, "workerinput", None) or {}
    if "verification_organization" in worker_input:
        org = OrganizationRun.from_dict(worker_input["verification_organization"])
        _connect(run, org, shared)
    else:
        org = _discover(run, spec, option.shard, shared)
    run.organization = org
    if "verification_organization" not in worker_input:
        config.pluginmanager.register(JunitProperties(org), "verification-organization-junit")
    appliance = AppliancePrincipal.parse(appliance_text) if appliance_text else option.appliance
    requirements: RequirementSet = load_requirement_set(requirements_text or requirements_spec(option))
    accounts = org.accounts
    for account_id, arns in org.roles.items():
        account = accounts[account_id]
        for arn in arns:
            run.targets[arn] = Target(
                RoleRef.parse(arn), requirements, appliance, account_id, (), account.name, account.ou_path
            )
    shard = f", shard {org.shard}" if org.shard else ""
    run.source = (
        f"live IAM API{where}, organization {org.found.management or '(management account unknown)'} "
        f"via member role {spec.member_role}{shard}"
    )
    return run


def _connect(run: Run, org: OrganizationRun, shared: dict[str, Any]) -> None:
    """A connection per account: the caller's own credentials in its own account, else the member role."""
    for account in org.found.accounts:
        options: dict[str, Any] = {**shared, "account": account.id}
        if not account.own:
            options["assume_role_arn"] = org.member_role_arn(account.id)
            if org.spec.session_duration is not None:
                options["session_duration"] = org.spec.session_duration
        run.connections[account.id] = options


def _discover(run: Run, spec: OrganizationSpec, shard: Shard | None, shared: dict[str, Any]) -> OrganizationRun:
    """List the accounts (this shard's), assume the member role in each and list its roles."""
    backend = run.backend("default")
    try:
        caller = backend.caller()
        found = discover(backend.organization_pages, spec, caller.account, shard)  # type: ignore[attr-defined]
    except CheckError as error:
        raise InputError(
            f"--organization: could not list the organization's accounts: {error.message} "
            "(use the management account's credentials, or a delegated administrator's)"
        ) from None
    org = OrganizationRun(spec, caller.arn.split(":")[1], found, shard)
    _connect(run, org, shared)
    for account in found.accounts:
        try:
            arns = run.backend(account.id).list_roles()
        except CheckError as error:
            how = "with the caller's own credentials" if account.own else f"through {org.member_role_arn(account.id)}"
            found.unreachable[account.id] = f"{account.label}: roles could not be listed {how}: {error.message}"
            continue
        org.roles[account.id] = matching_roles(spec, arns)
    return org


def account_items(collector: pytest.Collector, name: str, obj: Any, run: Run) -> list[pytest.Function]:
    """One test per account whose roles could not be read: it breaks in setup, naming the reason."""
    org: OrganizationRun | None = run.organization
    if org is None:
        return []
    items = []
    for account_id in sorted(org.found.unreachable):
        case = f"{account_id}/{org.spec.member_role}"
        item = pytest.Function.from_parent(collector, name=f"{name}[{case}]", callobj=obj, keywords={case: True})
        if hasattr(collector, "id"):
            item._id = collector.id.child(name).with_params(case)
        item.originalname = name
        item.stash[CASE_KEY] = Case(org.member_role_arn(account_id), ACCOUNT_REQUIREMENT, "account", account_id)
        items.append(item)
    return items


def account_setup(item: pytest.Item, run: Run, case: Case) -> None:
    """An unreachable account's test: broken with the reason and what to do (Allure labels it as its account)."""
    org = run.organization
    assert org is not None  # account tests are made only for --organization (account_items)
    account_id = case.subject
    account = org.accounts[account_id]
    item.stash[CAUSE_KEY] = "could-not-check"
    raise CheckError(
        f"could not check account {org.found.unreachable[account_id]}",
        f"deploy the member role {org.spec.member_role} in {account.label}, trusting the management account "
        "(docs/organization.md), or leave the account out with --skip-account",
    )
