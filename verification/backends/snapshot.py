"""The snapshot backend: answers from an account snapshot with the local policy engine, offline.

It answers the same questions as the live backend, and records each answer as an ``Exchange``
shaped like the AWS response, so evidence reads the same whichever backend answered. Faults in the
snapshot (the role is not there, a policy version is missing, a document will not parse) are the
user's input: ``InputError`` naming the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from verification.backends.base import Backend, Capabilities
from verification.backends.exchange import Exchange
from verification.backends.facts import HeldAccount, InstanceProfile, Role
from verification.backends.simulation import SimulationRequest, SimulationResult
from verification.errors import CheckError, InputError
from verification.names import CallerIdentity, RoleRef
from verification.policy import Context, PolicyError, PolicySet, parse_policy, simulate
from verification.policy.account import Account, AccountError, RoleInfo
from verification.policy.explain import simulation_results
from verification.snapshot import Snapshot, load_scp_files, load_snapshot

T = TypeVar("T")


class SnapshotBackend(Backend):
    """Reads one snapshot; SCPs come from ``scps`` files when given, else from the snapshot."""

    name = "snapshot"
    capabilities = Capabilities(own_region=False, fix_check="the policy engine on the snapshot, with the policy added")
    batches_resources = False  # the engine's calls are free: decide each action on its own resources only

    def __init__(self, snapshot: Snapshot | Path | str, scps: Sequence[Path | str] = ()) -> None:
        super().__init__()
        self.snapshot = snapshot if isinstance(snapshot, Snapshot) else load_snapshot(Path(snapshot))
        self.account = Account(self.snapshot.details)
        if scps:
            self.scps: list[list[dict[str, Any]]] = load_scp_files(Path(p) for p in scps)
            self.scp_source = f"{len(self.scps)} SCP level(s) from --scp"
        elif self.snapshot.scps is not None:
            self.scps = self.snapshot.scps
            self.scp_source = f"{len(self.scps)} SCP level(s) from the snapshot"
        else:
            self.scps = []
            self.scp_source = "no SCPs" + (f" ({self.snapshot.scp_note})" if self.snapshot.scp_note else "")
        self._policy_sets: dict[str, PolicySet] = {}
        self.organization_id = self.snapshot.organization_id

    @property
    def description(self) -> str:
        when = f", captured {self.snapshot.captured_at}" if self.snapshot.captured_at else ""
        return f"snapshot {self.snapshot.path} (sha256 {self.snapshot.sha256}{when}; {self.scp_source})"

    def caller(self) -> CallerIdentity:
        """Who exported the snapshot, when it says; else the snapshot's account with no ARN."""
        caller = self.snapshot.caller or CallerIdentity(account=self.snapshot.account_id or "", arn="")
        response = {"Account": caller.account, "Arn": caller.arn, "UserId": caller.user_id}
        self.record("caller", Exchange("GetCallerIdentity", {}, response))
        return caller

    def get_role(self, role: RoleRef) -> Role:
        """The role as GetRole would give it; also checks its policies, so faults surface first."""
        info = self._role(role.arn)
        self._policy_set(info.arn)
        self._fault_to_input(lambda: self.account.trust_policy(info.arn))
        raw = info.raw
        data = {
            key: raw[key]
            for key in ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "Tags", "RoleLastUsed")
            if key in raw
        }
        data["AssumeRolePolicyDocument"] = info.trust_policy
        if raw.get("PermissionsBoundary"):
            data["PermissionsBoundary"] = raw["PermissionsBoundary"]
        self.record(role.arn, Exchange("GetRole", {"RoleName": role.name}, {"Role": data}))
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in raw.get("Tags") or () if isinstance(t, Mapping)}
        return Role(
            info.arn, info.name, role.account, info.role_id, info.path, info.trust_policy, info.boundary_arn, tags
        )

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        """The role's instance profiles, from ``InstanceProfileList``."""
        info = self._role(role.arn)
        profiles = [
            InstanceProfile(
                item["InstanceProfileName"],
                item["Arn"],
                tuple(r["RoleName"] for r in item.get("Roles") or () if isinstance(r, Mapping) and "RoleName" in r),
            )
            for item in info.instance_profiles
        ]
        response = {"InstanceProfiles": [dict(item) for item in info.instance_profiles], "IsTruncated": False}
        self.record(role.arn, Exchange("ListInstanceProfilesForRole", {"RoleName": role.name}, response))
        return profiles

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        """Decide each action on each resource with the engine, as SimulatePrincipalPolicy would."""
        try:
            info = self._role(request.principal_arn)
        except InputError as error:
            # Asked to simulate a principal the account does not hold: answer as IAM would.
            raise CheckError(f"SimulatePrincipalPolicy: {error}", code="NoSuchEntity") from None
        policies = self._policy_set(info.arn)
        if request.extra_policies:
            extra = []
            for number, document in enumerate(request.extra_policies, start=1):
                try:
                    extra.append(
                        parse_policy(document, policy_id=f"PolicyInputList.{number}", policy_type="IAM Policy")
                    )
                except PolicyError as error:
                    raise CheckError(f"SimulatePrincipalPolicy: InvalidInput: {error}") from None
            policies = dataclasses.replace(policies, identity=(*policies.identity, *extra))
        context = Context.of(request.context)
        # The engine's calls are free: decide each action only on the resources whose answer is wanted,
        # one batch per resource set (each recorded as the simulation of that set would be answered).
        groups: dict[tuple[str, ...], list[str]] = {}
        for action in request.actions:
            groups.setdefault(request.pairs_of(action), []).append(action)
        out: list[SimulationResult] = []
        for resources, actions in groups.items():
            if not resources:
                continue
            asked = dataclasses.replace(request, actions=tuple(actions), resources=resources, wanted=None)
            evaluations = simulate(policies, actions, resources, context)
            results = simulation_results(evaluations, actions, principal_arn=request.principal_arn)
            response = {"EvaluationResults": results, "IsTruncated": False}
            self.record(evidence_key, Exchange("SimulatePrincipalPolicy", asked.params, response))
            explanations = {(e.action.lower(), e.resource): e.explanation for e in evaluations}
            out.extend(
                dataclasses.replace(result, explanation=explanations.get((result.action.lower(), result.resource)))
                for result in asked.read(results)
            )
        return out

    def held_account(self, role_arn: str) -> HeldAccount:
        """The snapshot's whole account and its SCP levels."""
        return self.snapshot.details, self.scps

    def policy_sets(self, role: RoleRef) -> tuple[PolicySet, ...] | None:
        """The role's policy set (its SCPs included): the snapshot holds every policy."""
        return (self._policy_set(self._role(role.arn).arn),)

    def _role(self, arn: str) -> RoleInfo:
        """The role named by ``arn``; InputError when the snapshot does not hold it."""
        path = self.snapshot.path
        info = self.account.find_role(arn)
        if info is None:
            account = arn.split(":")[4] if arn.count(":") >= 5 else ""
            if self.snapshot.account_id and account and account != self.snapshot.account_id:
                raise InputError(
                    f"snapshot {path}: role {arn} is in account {account}, "
                    f"but the snapshot is of account {self.snapshot.account_id}"
                )
            raise InputError(f"snapshot {path}: role {arn} is not in the snapshot")
        if info.arn != arn:
            raise CheckError(
                f"the snapshot holds {info.arn}, not {arn}",
                "check the role's path in the ARN; the harness verifies exactly the role named",
            )
        return info

    def _policy_set(self, role_arn: str) -> PolicySet:
        found = self._policy_sets.get(role_arn)
        if found is None:
            found = self._fault_to_input(lambda: self.account.policy_set_for(role_arn, self.scps))
            self._policy_sets[role_arn] = found
        return found

    def _fault_to_input(self, build: Callable[[], T]) -> T:
        """Run ``build``; a fault in the snapshot's data becomes one InputError line naming the file."""
        try:
            return build()
        except (AccountError, PolicyError) as error:
            raise InputError(f"snapshot {self.snapshot.path}: {error}") from None
