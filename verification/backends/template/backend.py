"""The template backend: verify roles a CloudFormation/CDK template or a Terraform plan declares, before deployment.

The file is read into roles per *world* (each value of an open parameter with AllowedValues, each
branch of an undecidable condition). Each world becomes two accounts in the shape of a snapshot:
the *lower* one, where everything the file leaves unknown is as restrictive as it could be, and
the *upper* one, where it is as permissive as it could be (see ``model``). The engine decides each
account exactly as it decides a snapshot (the snapshot backend answers), so verdicts, evidence
and labels read as offline ones do. A requirement passes only when it is met in the lower account
of every world; it fails when it is not met in the upper account of some world (the verdict names
that world); otherwise it is broken, naming each unknown and what would resolve it. No AWS call.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verification.backends.base import Backend, Capabilities
from verification.backends.exchange import Exchange
from verification.backends.facts import HeldAccount, InstanceProfile, Role
from verification.backends.simulation import SimulationRequest, SimulationResult
from verification.backends.template.managed import ManagedPolicies
from verification.backends.template.model import (
    PLACEHOLDER_ACCOUNT,
    Bound,
    DeclaredRole,
    ProfileRef,
    bounds,
    role_arn,
    role_unknowns,
)
from verification.errors import CheckError, InputError
from verification.names import CallerIdentity, RoleRef
from verification.policy.model import PolicySet
from verification.scope.regions import region_partition

if TYPE_CHECKING:
    from verification.backends.snapshot import SnapshotBackend
    from verification.policy.account import Account

OUTSIDE = "SCPs and drift are outside a template"


@dataclass(frozen=True)
class TemplateRoleRef(RoleRef):
    """A role of a template: its test ids read ``FILE/KEY`` (logical id, or Terraform address)."""

    key: str = ""
    source_label: str = ""

    @property
    def label(self) -> str:
        """``template.yaml/WorkerRole``: the file and the role's key, as test ids and reports show it."""
        return self.source_label


@dataclass
class _World:
    """One world of one role (a possible account): its choices, notes, and both bounds' backends."""

    label: str
    notes: list[str]
    role: DeclaredRole | None
    choices: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    ref: RoleRef | None = None
    lower: SnapshotBackend | None = None
    upper: SnapshotBackend | None = None
    owner: TemplateBackend | None = None

    def upper_backend(self) -> SnapshotBackend:
        """The upper account, built on first use (the lower one when the file leaves nothing unknown)."""
        assert self.owner is not None
        return self.owner.upper(self)

    def unknowns(self, kind: str, action: str | None) -> list[tuple[str, str]]:
        """The unknowns bearing on a requirement: where each is in the file and why, and what resolves it."""
        if self.role is None:
            return []
        return [(u.describe(), u.resolve) for u in role_unknowns(self.role, action).get(kind, [])]


class TemplateBackend(Backend):
    """Answers from a template or plan; every decision is the engine's, over lower and upper accounts."""

    name = "template"
    capabilities = Capabilities(weighs_possible_accounts=True, declares_roles=True)
    batches_resources = False  # the engine decides: each action on its own resources only

    def __init__(
        self,
        template: Path | str | None = None,
        plan: Path | str | None = None,
        *,
        parameters: Mapping[str, str] | None = None,
        account: str | None = None,
        region: str | None = None,
        snapshot: Path | str | None = None,
        scps: Sequence[Path | str] = (),
    ) -> None:
        super().__init__()
        from verification.snapshot import load_scp_files, load_snapshot

        if (template is None) == (plan is None):
            raise InputError("give one of --template FILE or --plan FILE")
        self.snapshot_file = load_snapshot(Path(snapshot)) if snapshot else None
        self.scps: list[list[dict[str, Any]]] = load_scp_files(Path(p) for p in scps) if scps else []
        partition = (region_partition(region) if region else None) or "aws"
        self.partition = partition
        #: The region the template is deployed in (--aws-region): its permissions are judged there.
        self.region = region
        account = account or (self.snapshot_file.account_id if self.snapshot_file else None)
        self.account = account
        self.snapshot_account: Account | None = None
        if self.snapshot_file is not None:
            from verification.policy.account import Account

            self.snapshot_account = Account(self.snapshot_file.details)
        self.managed = ManagedPolicies(snapshot=self.snapshot_account)
        self.warnings: list[str] = []
        path = Path(template) if template is not None else Path(str(plan))
        self.path = path
        self.source: Any
        if template is not None:
            from verification.backends.template.cloudformation import CloudFormation, load_template

            data = load_template(path)
            self.source = CloudFormation(
                path,
                data,
                parameters=parameters or {},
                account=account,
                region=region,
                partition=partition,
                managed=self.managed,
            )
        else:
            from verification.backends.template.terraform import TerraformPlan, load_plan

            if parameters:
                raise InputError("--parameter applies to --template: a Terraform plan has its variables already set")
            data = load_plan(path)
            self.source = TerraformPlan(path, data, account=account, partition=partition, managed=self.managed)
            self.warnings.extend(self.source.warnings)
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self._worlds: dict[str, list[_World]] = {}
        self._refs: dict[str, TemplateRoleRef] = {}

    # -- what the file holds ----------------------------------------------------------------

    def role_keys(self) -> list[str]:
        """Every role the file declares: CloudFormation logical ids, or Terraform resource addresses."""
        keys: list[str] = self.source.role_keys()
        return keys

    def select(self, names: Sequence[str] = ()) -> list[TemplateRoleRef]:
        """The roles to verify (all when ``names`` is empty), read and checked now, before any test."""
        keys = self.role_keys()
        if not keys:
            elsewhere = getattr(self.source, "roles_elsewhere", lambda: "")()
            raise self.source.fault(f"it declares no IAM role (AWS::IAM::Role, aws_iam_role){elsewhere}")
        for name in names:
            if name not in keys:
                raise self.source.fault(f"no role {name!r}; it declares {', '.join(keys)}")
        return [self.ref(key) for key in (list(dict.fromkeys(names)) or keys)]

    def check(self, refs: Sequence[TemplateRoleRef]) -> None:
        """Build every world's accounts now, so a fault (a policy the engine refuses) is one line before any test."""
        for ref in refs:
            self._engines(ref.key)

    def ref(self, key: str) -> TemplateRoleRef:
        """The role's reference: an ARN stable across worlds, and a label ``FILE/KEY``."""
        found = self._refs.get(key)
        if found is None:
            worlds = self.worlds(key)
            account = self.account or PLACEHOLDER_ACCOUNT
            arns = {role_arn(w.role, account, self.partition) for w in worlds if w.role is not None}
            taken = {known.arn for known in self._refs.values()}
            # Two roles may share a name under exclusive Conditions: each keeps an ARN of its own.
            arn = (
                arns.pop()
                if len(arns) == 1 and not arns & taken
                else f"arn:{self.partition}:iam::{account}:role/{_iam_name(key)}"
            )
            base = RoleRef.parse(arn)
            found = TemplateRoleRef(
                base.arn,
                base.partition,
                base.account,
                base.path,
                base.name,
                key=key,
                source_label=f"{self.path.name}/{key}",
            )
            self._refs[key] = found
        return found

    def worlds(self, key: str) -> list[_World]:
        """The role in each world the file needs, read once."""
        found = self._worlds.get(key)
        if found is None:
            found = []
            for choices, role, notes in self.source.worlds(key):
                label = ", ".join(_choice(k, v) for k, v in choices.items())
                if role is not None and not role.profiles:
                    notes = [*notes, *self._profiles_from_snapshot(role)]
                found.append(_World(label, list(notes), role, choices=dict(choices), owner=self))
            self._worlds[key] = found
        return found

    def _profiles_from_snapshot(self, role: DeclaredRole) -> list[str]:
        """A role the file puts in no instance profile may already be in one: the snapshot says (a note)."""
        if self.snapshot_account is None or not isinstance(role.name, str) or self.snapshot_file is None:
            return []
        info = self.snapshot_account.find_role(role.name)
        if info is None:
            return []
        for profile in info.instance_profiles:
            role.profiles.append(
                ProfileRef(
                    str(profile["InstanceProfileName"]), str(profile["Arn"]), f"snapshot {self.snapshot_file.path}"
                )
            )
        return (
            [f"instance profiles of {role.name} from snapshot {self.snapshot_file.path}"]
            if info.instance_profiles
            else []
        )

    @property
    def description(self) -> str:
        scp = f"{len(self.scps)} SCP level(s) from --scp" if self.scps else "no SCPs"
        account = self.account or f"account not given (ARNs use {PLACEHOLDER_ACCOUNT}; AWS::AccountId is unknown)"
        extra = f"; managed policies also from snapshot {self.snapshot_file.path}" if self.snapshot_file else ""
        copies = sorted({source for source in self.managed.used.values() if source.startswith("moto")})
        extra += "".join(f"; AWS managed policies from {copy}" for copy in copies)
        return (
            f"{self.source.kind} {self.path} (sha256 {self.sha256[:16]}...; {account}; {scp}{extra}); "
            f"{OUTSIDE}: what is deployed may differ"
        )

    # -- the engine's answers per world and bound -------------------------------------------

    def _engines(self, key: str) -> list[_World]:
        """Each world's lower account, built (and its policies parsed) once; upper ones wait for ``upper``."""
        worlds = self.worlds(key)
        account = self.account or PLACEHOLDER_ACCOUNT
        for world in worlds:
            if world.role is None or world.lower is not None:
                continue
            world.ref = RoleRef.parse(role_arn(world.role, account, self.partition))
            world.lower = self._account(world, "lower")
        return worlds

    def upper(self, world: _World) -> SnapshotBackend:
        """The world's upper account: the lower one itself when the file leaves nothing unknown."""
        if world.upper is None:
            assert world.lower is not None and world.role is not None
            details = bounds(world.role, self.account or PLACEHOLDER_ACCOUNT, self.partition, "upper")
            world.upper = (
                world.lower if details == world.lower.snapshot.details else self._account(world, "upper", details)
            )
        return world.upper

    def _account(self, world: _World, bound: Bound, details: Mapping[str, Any] | None = None) -> SnapshotBackend:
        from verification.backends.snapshot import SnapshotBackend
        from verification.snapshot import Snapshot

        assert world.role is not None and world.ref is not None
        account = self.account or PLACEHOLDER_ACCOUNT
        details = details if details is not None else bounds(world.role, account, self.partition, bound)
        backend = SnapshotBackend(Snapshot(self.path, self.sha256, details, account_id=account, scps=self.scps))
        try:
            backend._policy_set(world.ref.arn)  # parse now: a fault is one line naming the file
        except InputError as error:
            raise self.source.fault(f"{world.role.where}: {_after(error)}") from None
        try:
            backend.get_role(world.ref)  # the trust policy too, named as such (not as the role's name)
        except InputError as error:
            detail = _after(error).split(": ", 1)[-1] if _after(error).startswith("policy ") else _after(error)
            raise self.source.fault(f"{world.role.where}: trust policy: {detail}") from None
        backend.exchanges.clear()
        return backend

    def held_account(self, role_arn: str) -> HeldAccount:
        """The first world's lower account (see ``details_for``) and the SCP levels of ``--scp``."""
        return self.details_for(role_arn), self.scps

    @property
    def source_file(self) -> Path:
        """The template or plan the roles are declared in."""
        return self.path

    def details_for(self, arn: str) -> Mapping[str, Any] | None:
        """The first world's lower account (for evidence and replay): what a pass rests on."""
        world = self._first(arn)
        return world.lower.snapshot.details if world is not None and world.lower is not None else None

    def _first(self, arn: str) -> _World | None:
        for key, ref in self._refs.items():
            if ref.arn == arn:
                return next((w for w in self._engines(key) if w.lower is not None), None)
        return None

    weighing_note = f"{OUTSIDE} (--scp applies SCPs)"

    def possible_accounts(self, ref: RoleRef) -> list[_World]:
        """The role's worlds, each with its lower account built (verdicts are weighed over them)."""
        key = ref.key if isinstance(ref, TemplateRoleRef) else _key_of(self, ref)
        worlds = self._engines(key)
        if self.managed.used:
            self.record(
                ref.arn,
                Exchange(
                    "ResolveManagedPolicies", {"Source": str(self.path)}, {"ResolvedFrom": dict(self.managed.used)}
                ),
            )
        return worlds

    def policy_sets(self, role: RoleRef) -> tuple[PolicySet, ...] | None:
        """The role's policies in each possible account, at their most permissive (its upper bound)."""
        out: list[PolicySet] = []
        for world in self.possible_accounts(role):
            if world.ref is not None:
                out.extend(world.upper_backend().policy_sets(world.ref) or ())
        return tuple(out)

    def keep_exchanges(self, ref: RoleRef, world: _World, backend: Backend, bound: str) -> None:
        """Keep a bound's exchanges as the role's evidence, naming the world and the bound."""
        assert world.ref is not None
        for exchange in backend.exchanges.pop(world.ref.arn, []):
            params = {**exchange.params, "TemplateWorld": world.label or "the only one", "Bound": bound}
            self.record(ref.arn, Exchange(exchange.operation, params, exchange.response))

    # -- the Backend questions (answered from the first world's lower account) --------------

    def caller(self) -> CallerIdentity:
        """No one calls: the file is read. The account is the one given, if any."""
        identity = CallerIdentity(account=self.account or "", arn="")
        self.record("caller", Exchange("GetCallerIdentity", {}, {"Account": identity.account, "Arn": "", "UserId": ""}))
        return identity

    def _world_for(self, arn: str) -> _World:
        world = self._first(arn)
        if world is None or world.lower is None or world.ref is None:
            raise CheckError(f"{self.path} declares no role {arn}", code="NoSuchEntity")
        return world

    def get_role(self, role: RoleRef) -> Role:
        """The role as the first world's lower account holds it."""
        world = self._world_for(role.arn)
        assert world.lower is not None and world.ref is not None
        return world.lower.get_role(world.ref)

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        """The instance profiles the file certainly puts the role in."""
        world = self._world_for(role.arn)
        assert world.lower is not None and world.ref is not None
        return world.lower.list_instance_profiles(world.ref)

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        """Simulate in the first world's lower account (a proposed fix is checked where it is hardest)."""
        world = self._world_for(request.principal_arn)
        assert world.lower is not None and world.ref is not None
        results = world.lower.answer(replace(request, principal_arn=world.ref.arn), evidence_key)
        for key, exchanges in list(world.lower.exchanges.items()):
            for exchange in exchanges:
                self.record(key, exchange)
            world.lower.exchanges.pop(key)
        return results


def _choice(key: tuple[str, str], value: Any) -> str:
    """One choice of a world: ``Stage=prod``, or ``condition IsProd is true``."""
    kind, name = key
    if kind == "condition":
        return f"condition {name} is {str(bool(value)).lower()}"
    return f"{name}={value}"


def _iam_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "+=,.@_-" else "-" for c in key)[-64:]


def _key_of(backend: TemplateBackend, ref: RoleRef) -> str:
    for key, known in backend._refs.items():
        if known.arn == ref.arn:
            return key
    raise InputError(f"{backend.path}: no role {ref.arn}")


def _after(error: InputError) -> str:
    text = str(error)
    return text.split(": ", 1)[1] if text.startswith("snapshot ") and ": " in text else text
