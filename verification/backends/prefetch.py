"""Fleet mode: one account's roles from GetAccountAuthorizationDetails pages, then one simulation per role.

Per role the live backend spends GetRole, ListInstanceProfilesForRole, a simulation of the role's
actions and a simulation of the appliance's own ``sts:AssumeRole``. ``PrefetchBackend`` answers the
first two from the account's GetAccountAuthorizationDetails (GAAD) pages, read once, and the
fourth from one simulation per account and appliance role with every verified role of the account
in ``ResourceArns``. The role's own simulation stays one live call per role.

The pages are read with the snapshot backend's parser, so the facts are the ones an offline run
would see; with the role's policies in hand, the engine decides every action as well (double
entry): each live answer carries the engine's answer to the same request, per region, resource and
context (``SimulationResult.second_opinion``). The verdict still follows AWS.

When GAAD is refused (the verifier policy lists it as optional) or fails, the backend falls back to
the live per-role calls and says so once (``fallback``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verification.backends.base import Backend, Capabilities
from verification.backends.exchange import Exchange
from verification.backends.facts import InstanceProfile, Role
from verification.backends.live import MAX_ITEMS, LiveBackend
from verification.backends.simulation import SimulationRequest, SimulationResult, restrictiveness
from verification.errors import CheckError, InputError
from verification.names import CallerIdentity, RoleRef
from verification.policy.account import AccountError
from verification.policy.model import PolicySet

#: The GAAD filter: roles and customer managed policies. AWS managed policies are read one by one
#: (GetPolicy, GetPolicyVersion) when a verified role uses them: the full list is megabytes.
GAAD_FILTER = ("Role", "LocalManagedPolicy")
#: Roles of one account a run must verify before ``--prefetch auto`` reads GAAD (see docs/nightly.md).
AUTO_THRESHOLD = 2
#: The most ResourceArns one batched appliance simulation names (one page of answers).
BATCH = MAX_ITEMS


class PrefetchBackend(Backend):
    """The live backend, with an account's roles read from GAAD pages and the appliance side batched."""

    name = "live"
    # It answers as the live API does, already read ahead: not prefetchable again.
    capabilities = Capabilities(live_api=True, lists_roles=True)

    def __init__(
        self,
        live: LiveBackend,
        *,
        verified: Mapping[str, Sequence[str]] | None = None,
        double_entry: bool = True,
    ) -> None:
        """``verified``: per appliance role ARN, the role ARNs of this account whose trust it is checked for."""
        super().__init__()
        self.live = live
        self.exchanges = live.exchanges  # one evidence store: the plugin pops a role's after attaching them
        self.account = live.account
        self.endpoint_url = live.endpoint_url
        self.double_entry = double_entry
        self._verified = {arn: list(dict.fromkeys(roles)) for arn, roles in (verified or {}).items()}
        self._lock = threading.Lock()
        self._appliance_locks: dict[str, threading.Lock] = {}
        self._offline: Any = None
        #: Why GAAD could not be used (then every call is the live backend's), or None.
        self.fallback: str | None = None
        self._loaded = False
        self._appliance: dict[str, dict[str, tuple[SimulationResult, str | None]] | CheckError] = {}
        self._fixes: dict[str, tuple[str, list[SimulationResult], str | None]] = {}
        #: One lock per fix fingerprint: identical checks asked at once on two threads wait for the first.
        self._fix_locks: dict[str, threading.Lock] = {}
        self._page_of: dict[str, str | None] = {}
        #: Fix checks answered from an identical earlier one (same policies, same question).
        self.fix_checks_reused = 0

    @property
    def description(self) -> str:
        return self.live.description + ", roles from GetAccountAuthorizationDetails"

    def caller(self) -> CallerIdentity:
        return self.live.caller()

    def list_roles(self) -> list[str]:
        """ListRoles through the live backend (resolving patterns needs no GAAD)."""
        return self.live.list_roles()

    # --- the account's details, read once ---------------------------------------------------------

    def _details(self) -> Any:
        """The snapshot backend over this account's GAAD pages; None after a fallback."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                try:
                    self._offline = self._read_account()
                except CheckError as error:
                    what = "refused" if error.code in ("AccessDenied", "AccessDeniedException") else "failed"
                    self.fallback = (
                        f"account {self.account}: GetAccountAuthorizationDetails {what} ({error.message}); "
                        "verified with per-role calls instead (GetRole, ListInstanceProfilesForRole, one "
                        "appliance simulation per role)"
                    )
            return self._offline

    def _read_account(self) -> Any:
        from verification.backends.snapshot import SnapshotBackend
        from verification.snapshot import Snapshot, details_from_pages

        iam = self.live.iam
        params = {"Filter": list(GAAD_FILTER)}
        paginator = iam.get_paginator("get_account_authorization_details")
        pages = self.live._pages(
            f"account:{self.account}",
            "GetAccountAuthorizationDetails",
            params,
            paginator.paginate(**params, PaginationConfig={"PageSize": MAX_ITEMS}),
        )
        try:
            details = details_from_pages(pages, f"GetAccountAuthorizationDetails of account {self.account}")
        except InputError as error:
            raise CheckError(f"GetAccountAuthorizationDetails: the answer cannot be read: {error}") from None
        self._add_aws_managed(details)
        digest = hashlib.sha256(json.dumps(details, default=str, sort_keys=True).encode()).hexdigest()
        snapshot = Snapshot(
            path=Path(f"GetAccountAuthorizationDetails({self.account})"),
            sha256=digest,
            details=details,
            account_id=self.account if self.account.isdigit() else None,
        )
        # The pages' evidence is account-wide; each role gets its own entry when it is read.
        self.exchanges.pop(f"account:{self.account}", None)
        for page in pages:
            request_id = (page.get("ResponseMetadata") or {}).get("RequestId")
            for role in page.get("RoleDetailList") or ():
                self._page_of[role["Arn"]] = request_id
        return SnapshotBackend(snapshot)

    def _add_aws_managed(self, details: dict[str, Any]) -> None:
        """AWS managed policies the roles use, read once each (GAAD's AWSManagedPolicy filter lists them all)."""
        known = {policy["Arn"] for policy in details["Policies"]}
        wanted: list[str] = []
        for role in details["RoleDetailList"]:
            arns = [p["PolicyArn"] for p in role.get("AttachedManagedPolicies") or ()]
            boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            wanted += [arn for arn in [*arns, boundary] if arn and arn not in known and ":iam::aws:policy/" in arn]
        if not wanted:
            return
        for arn in dict.fromkeys(wanted):
            policy = self.live._call(
                f"account:{self.account}", "GetPolicy", self.live.iam.get_policy, {"PolicyArn": arn}
            )["Policy"]
            version = self.live._call(
                f"account:{self.account}",
                "GetPolicyVersion",
                self.live.iam.get_policy_version,
                {"PolicyArn": arn, "VersionId": policy["DefaultVersionId"]},
            )["PolicyVersion"]
            details["Policies"].append(
                {
                    "Arn": arn,
                    "PolicyName": policy.get("PolicyName", arn.rsplit("/", 1)[-1]),
                    "DefaultVersionId": policy["DefaultVersionId"],
                    "PolicyVersionList": [
                        {"Document": version["Document"], "VersionId": version["VersionId"], "IsDefaultVersion": True}
                    ],
                }
            )
        self.exchanges.pop(f"account:{self.account}", None)

    def _offline_for(self, role: RoleRef) -> Any:
        """The account's details when they can answer for ``role`` (same account as the caller), else None."""
        offline = self._details()
        if offline is None or role.account != self.live.caller().account:
            return None
        return offline

    # --- the questions ------------------------------------------------------------------------------

    def get_role(self, role: RoleRef) -> Role:
        offline = self._offline_for(role)
        if offline is None:
            return self.live.get_role(role)
        try:
            found: Role = offline.get_role(role)
        except InputError as error:
            if offline.account.find_role(role.arn) is None:
                raise CheckError(
                    f"GetAccountAuthorizationDetails: the role does not exist ({role.arn} is not in account "
                    f"{role.account}'s roles)",
                    "check the role name and the account of the credentials",
                    code="NoSuchEntity",
                ) from None
            raise CheckError(f"GetAccountAuthorizationDetails: {error}") from None
        self._move(offline, role.arn, "GetRole")
        return found

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        offline = self._offline_for(role)
        if offline is None:
            return self.live.list_instance_profiles(role)
        try:
            profiles: list[InstanceProfile] = offline.list_instance_profiles(role)
        except InputError as error:
            raise CheckError(f"GetAccountAuthorizationDetails: {error}") from None
        self._move(offline, role.arn, "ListInstanceProfilesForRole")
        return profiles

    def _move(self, offline: Any, key: str, operation: str) -> None:
        """Keep the offline backend's GetRole-shaped answer as this role's evidence, naming its source."""
        for exchange in offline.exchanges.pop(key, []):
            params = {**exchange.params, "AnsweredFrom": "GetAccountAuthorizationDetails"}
            request_id = self._page_of.get(key)  # the request id of the GAAD page that held the role
            response = {**exchange.response, "ResponseMetadata": {"RequestId": request_id}}
            self.record(key, Exchange(operation, params, response, request_id))

    def get_key_policy(self, key_arn: str, *, evidence_key: str) -> Mapping[str, Any]:
        return self.live.get_key_policy(key_arn, evidence_key=evidence_key)

    def policy_sets(self, role: RoleRef) -> tuple[PolicySet, ...] | None:
        """The role's policies from the account's GAAD pages (no SCPs: AWS applies those live)."""
        offline = self._offline_for(role)
        if offline is None or offline.account.find_role(role.arn) is None:
            return None
        sets: tuple[PolicySet, ...] | None = offline.policy_sets(role)
        return sets

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        """The role's own simulation live (and by the engine); the appliance side from the account's batch."""
        principal_arn, actions, resources = request.principal_arn, request.actions, request.resources
        context, extra_policies, key = request.context, request.extra_policies, evidence_key
        batched = [arns for appliance, arns in self._verified.items() if appliance == principal_arn]
        if (
            batched
            and not extra_policies
            and [a.lower() for a in actions] == ["sts:assumerole"]
            and len(resources) == 1
            and resources[0] in batched[0]
        ):
            return [self._appliance_side(principal_arn, resources[0], context, key)]
        offline = self._details()
        if offline is None or offline.account.find_role(principal_arn) is None:
            return self.live.answer(request, key)
        if extra_policies:
            return self._fix_check(offline, principal_arn, actions, resources, extra_policies, context, key)
        results = self.live.answer(request, key)
        if not self.double_entry:
            return results
        return second_opinions(results, self._engine(offline, request))

    def _engine(self, offline: Any, request: SimulationRequest) -> list[SimulationResult] | CheckError:
        """The engine's answers to the same question, the wanted ones only (no SCPs: AWS applies those)."""
        key = f"engine:{request.principal_arn}"
        try:
            answers: list[SimulationResult] = offline.answer(request, key)
        except (CheckError, InputError) as error:
            return CheckError(f"the policy engine could not decide: {error}")
        finally:
            offline.exchanges.pop(key, None)
        return answers

    def _appliance_side(
        self, appliance: str, role_arn: str, context: Mapping[str, Sequence[str]] | None, key: str
    ) -> SimulationResult:
        """The appliance's ``sts:AssumeRole`` on ``role_arn``, from one simulation of every verified role."""
        # One batch per appliance and request context (a region, say), the clock aside.
        batch = f"{appliance}|{_context_key(context)}"
        with self._lock:
            lock = self._appliance_locks.setdefault(batch, threading.Lock())
        with lock:
            if batch not in self._appliance:
                self._appliance[batch] = self._batch(appliance, context)
        answers = self._appliance[batch]
        if isinstance(answers, CheckError):
            raise answers
        if role_arn not in answers:
            raise CheckError("the appliance role's simulation returned no answer for sts:AssumeRole on this role")
        found, request_id = answers[role_arn]
        self.record(
            key,
            Exchange(
                "SimulatePrincipalPolicy",
                {
                    "PolicySourceArn": appliance,
                    "ActionNames": ["sts:AssumeRole"],
                    "ResourceArns": [role_arn],
                    "AnsweredFrom": f"one simulation of {len(answers)} role(s) of account {self.account}",
                },
                {"EvaluationResults": [dict(found.raw)], "ResponseMetadata": {"RequestId": request_id}},
                request_id,
            ),
        )
        return found

    def _batch(
        self, appliance: str, context: Mapping[str, Sequence[str]] | None
    ) -> dict[str, tuple[SimulationResult, str | None]] | CheckError:
        roles = self._verified[appliance]
        out: dict[str, tuple[SimulationResult, str | None]] = {}
        try:
            pending = [roles[start : start + BATCH] for start in range(0, len(roles), BATCH)]
            while pending:
                pending += self._settle(appliance, pending.pop(0), context, out)
        except CheckError as error:
            return error
        finally:
            self.exchanges.pop(f"appliance:{appliance}", None)
        return out

    def _settle(
        self,
        appliance: str,
        chunk: list[str],
        context: Mapping[str, Sequence[str]] | None,
        out: dict[str, tuple[SimulationResult, str | None]],
    ) -> list[list[str]]:
        """Simulate ``chunk`` at once; keep the roles whose answer is their own; return the chunks to ask again.

        Since 2026 the top-level decision is the strictest over all the resources asked, SCPs included,
        and the per-resource answers leave SCPs out. A role whose own answer is kinder than the top level
        cannot be told apart from a role an SCP denies, when other roles are in the same request: it
        is asked again with the other such roles only, and alone in the end, where the top level is its
        own. Roles whose own answer is as strict as the top level are settled (1 extra call per account
        when some roles are denied and the rest are not).
        """
        key = f"appliance:{appliance}"
        answers = self.live.simulate(appliance, ["sts:AssumeRole"], resources=chunk, context=context, evidence_key=key)
        request_id = ",".join(e.request_id or "" for e in self.exchanges.pop(key, [])) or None
        unsettled: set[str] = set()
        for result in answers:
            if result.action.lower() != "sts:assumerole" or result.resource not in chunk:
                continue
            own = _own_decision(result)
            if len(chunk) > 1 and own is not None and _rank(own) < _rank(str(result.raw.get("EvalDecision"))):
                unsettled.add(result.resource)
                continue
            one = dataclasses.replace(result, raw=_one_resource(result))
            known = out.get(result.resource)
            if known is None or _rank(one.decision) > _rank(known[0].decision):
                out[result.resource] = (one, request_id)
        again = [arn for arn in chunk if arn in unsettled]
        if not again:
            return []
        if len(again) < len(chunk):
            return [again]
        half = len(again) // 2  # no role settled: split, so each half's top level is nearer its own
        return [again[:half], again[half:]]

    def _fix_check(
        self,
        offline: Any,
        principal_arn: str,
        actions: Sequence[str],
        resources: Sequence[str],
        extra_policies: Sequence[str],
        context: Mapping[str, Sequence[str]] | None,
        key: str,
    ) -> list[SimulationResult]:
        """A remediation check; an identical one (same policies, same fix, same question) is asked once.

        The simulator's answer depends on the principal's policies, its boundary, the account's SCPs,
        the policies added and the question, not on the role's name: two roles of one account whose
        policy documents, names, boundary and tags are equal get the same answer.
        """
        fingerprint = self._fingerprint(offline, principal_arn, actions, resources, extra_policies, context)
        if not fingerprint:
            return self._ask_fix(principal_arn, actions, resources, extra_policies, context, key, None)
        with self._lock:
            lock = self._fix_locks.setdefault(fingerprint, threading.Lock())
        with lock:
            return self._ask_fix(principal_arn, actions, resources, extra_policies, context, key, fingerprint)

    def _ask_fix(
        self,
        principal_arn: str,
        actions: Sequence[str],
        resources: Sequence[str],
        extra_policies: Sequence[str],
        context: Mapping[str, Sequence[str]] | None,
        key: str,
        fingerprint: str | None,
    ) -> list[SimulationResult]:
        """Answer a fix check from an identical earlier one, or ask it (and remember the answer)."""
        with self._lock:
            known = self._fixes.get(fingerprint) if fingerprint else None
        if known is not None:
            source, results, request_id = known
            self.fix_checks_reused += 1
            params = {
                "PolicySourceArn": principal_arn,
                "ActionNames": list(actions),
                "ResourceArns": list(resources),
                "PolicyInputList": list(extra_policies),
                "AnsweredFrom": f"the identical check of {source} (same policies, boundary and tags)",
            }
            response = {"EvaluationResults": [r.raw for r in results], "ResponseMetadata": {"RequestId": request_id}}
            self.record(key, Exchange("SimulatePrincipalPolicy", params, response, request_id))
            return results
        results = self.live.simulate(
            principal_arn,
            actions,
            resources=resources,
            context=context,
            extra_policies=extra_policies,
            evidence_key=key,
        )
        if fingerprint:
            asked = self.exchanges.get(key, [])[-1:]
            with self._lock:
                self._fixes[fingerprint] = (principal_arn, results, asked[0].request_id if asked else None)
        return results

    @staticmethod
    def _fingerprint(
        offline: Any,
        principal_arn: str,
        actions: Sequence[str],
        resources: Sequence[str],
        extra_policies: Sequence[str],
        context: Mapping[str, Sequence[str]] | None,
    ) -> str | None:
        info = offline.account.find_role(principal_arn)
        if info is None:
            return None
        raw = info.raw
        texts = [json.dumps(doc, default=str) for _, doc in info.inline] + list(extra_policies)
        for arn in [*info.attached, *([info.boundary_arn] if info.boundary_arn else [])]:
            try:
                texts.append(json.dumps(offline.account.managed_document(arn, used_by=principal_arn), default=str))
            except AccountError:  # a policy the pages lack: whether it names the role cannot be told
                return None
        # The session's context names the role itself (aws:PrincipalArn, aws:userid); policies that
        # read neither (nor any policy variable) answer two such roles alike, so the fingerprint may
        # leave them out. A policy that reads them keeps them in: its roles are asked one by one.
        names_role = any(marker in text.lower() for text in texts for marker in _ROLE_MARKERS)
        data = {
            "inline": sorted([name, json.dumps(doc, sort_keys=True, default=str)] for name, doc in info.inline),
            "attached": sorted(info.attached),
            "boundary": info.boundary_arn,
            "tags": sorted(json.dumps(tag, sort_keys=True) for tag in raw.get("Tags") or ()),
            "actions": list(actions),
            "resources": list(resources),
            "extra": list(extra_policies),
            "context": _context_key(context, frozenset() if names_role else _ROLE_KEYS),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


#: Context keys that only say when a request was made: two requests a second apart ask the same question.
_CLOCK_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})


#: Session context keys whose values name the role itself (its ARN, its unique id).
_ROLE_KEYS = frozenset({"aws:principalarn", "aws:userid"})
#: What a policy document holds when its decision may depend on which role asks.
_ROLE_MARKERS = ("aws:principalarn", "aws:userid", "aws:username", "${")


def _context_key(context: Mapping[str, Sequence[str]] | None, leave_out: frozenset[str] = frozenset()) -> str:
    """The request context as a cache key, without the clock (and without ``leave_out``)."""
    skipped = _CLOCK_KEYS | leave_out
    kept = {k.lower(): sorted(v) for k, v in (context or {}).items() if k.lower() not in skipped}
    return json.dumps(kept, sort_keys=True)


def _rank(decision: str) -> int:
    return restrictiveness(decision)


def _own_decision(result: SimulationResult) -> str | None:
    """The resource's own decision in a 2026 answer (``ResourceSpecificResults``), else None (one per resource)."""
    for item in result.raw.get("ResourceSpecificResults") or ():
        if isinstance(item, Mapping) and item.get("EvalResourceName") == result.resource:
            return str(item.get("EvalResourceDecision"))
    return None


def _one_resource(result: SimulationResult) -> dict[str, Any]:
    """A batched answer's raw result, cut down to this resource (the whole batch is not each role's evidence)."""
    raw = dict(result.raw)
    specific = raw.get("ResourceSpecificResults")
    if specific:
        raw["ResourceSpecificResults"] = [item for item in specific if item.get("EvalResourceName") == result.resource]
        raw["EvalResourceName"] = result.resource
    return raw


def second_opinions(
    live: list[SimulationResult], engine: list[SimulationResult] | CheckError
) -> list[SimulationResult]:
    """Each live answer with the engine's answer to the same request (double entry).

    Both were asked the same actions on the same ``ResourceArns`` with the same context; a live
    answer for one resource (``ResourceSpecificResults``, or one result per resource) is compared with
    the engine's answer for that resource, and a top-level answer that stands for every resource
    asked (an ARN template) with the engine's strictest over them. The live answer keeps its own
    fields (the verdict follows AWS); the engine's, explanation included, is ``second_opinion``. An
    answer that the organization's SCPs decided is not compared: the engine is not given the SCPs here.
    """
    if isinstance(engine, CheckError):
        return [dataclasses.replace(result, second_opinion=engine) for result in live]
    by_key = {(e.action.lower(), e.resource): e for e in engine}
    strictest: dict[str, SimulationResult] = {}
    for answer in engine:
        known = strictest.get(answer.action.lower())
        if known is None or _rank(answer.decision) > _rank(known.decision):
            strictest[answer.action.lower()] = answer
    out = []
    for result in live:
        other = by_key.get((result.action.lower(), result.resource))
        if other is None and not result.specific:
            other = strictest.get(result.action.lower())
        if other is None or result.allowed_by_organizations is False:
            out.append(result)
        else:
            out.append(dataclasses.replace(result, second_opinion=other))
    return out


def wants_prefetch(mode: str, roles_in_account: int) -> bool:
    """``--prefetch``: always, never, or auto (at least ``AUTO_THRESHOLD`` roles of the account)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return roles_in_account >= AUTO_THRESHOLD
