"""SimulatePrincipalPolicy, SimulateCustomPolicy and GetContextKeysFor*Policy on moto's IAM.

moto does not implement these calls. Its server dispatches ``Action=SimulatePrincipalPolicy`` to
``IamResponse.simulate_principal_policy``; ``install()`` adds such methods. They stay thin: gather
the principal's policies from moto's IAM and Organizations state, hand them to
``verification.policy.simulate``, and shape the answer as the 2026 IAM API does: one
``EvaluationResult`` per action, named ``*`` at the top level, ``ResourceSpecificResults`` when
``ResourceArns`` are given; an SCP's explicit deny is ``explicitDeny`` without the SCP's statements
or keys; inline policies are named ``role_<Role>_<Policy>``; statement positions start just after
the ``[`` or ``,`` before the statement; ``EvalDecisionDetails`` only across accounts.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import IAMException, InvalidInput, NoSuchEntity
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.organizations.models import organizations_backends
from moto.utilities.aws_headers import gen_amzn_requestid_long

from verification.endpoint.answer import REQUEST_ID, render

#: A handler's answer written by ``answer.render``: (XML body, headers).
Answer = tuple[str, dict[str, str]]

if TYPE_CHECKING:
    from verification.policy.model import PolicySet
    from verification.policy.parse import Policy

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_LIMIT = 1000
#: Most restrictive first: the top-level decision of an action over several resources.
_ENTITY_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user|group)(/.*)?/([^/]+)$")
_ACTION_NAME = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$")
_POLICY_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class PolicyEvaluation(IAMException):
    """IAM's documented 500: a stored policy that the engine cannot read."""

    code = "PolicyEvaluation"


@dataclass(frozen=True)
class Source:
    """One policy document about to be simulated, and where it came from.

    ``kind`` says how ``PolicyExclusionList`` may name it: "inline", "aws-managed",
    "user-managed", "permission-boundary", "scp" or "input" (never excluded).
    """

    document: str
    policy_id: str
    policy_type: str
    kind: str
    arn: str | None = None
    attachment: tuple[str, str] | None = None  # (user|group|role, name) for inline policies


@dataclass(frozen=True)
class Sources:
    """Everything that bears on a principal, before parsing: identity, boundary, SCP levels."""

    identity: tuple[Source, ...]
    boundary: Source | None
    scps: tuple[tuple[Source, ...], ...]
    principal_arn: str | None


# --- gathering policies from moto ------------------------------------------------------------


def _default_document(policy: Any) -> str:
    """The document of a managed policy's default version (other versions are not in force)."""
    for version in policy.versions:
        if version.is_default:
            return str(version.document)
    raise PolicyEvaluation(f"Policy {policy.arn} has no default version.")


def _managed_source(policy: Any, *, kind: str | None = None) -> Source:
    aws_managed = ":iam::aws:policy/" in policy.arn
    policy_type = "aws-managed" if aws_managed else "user-managed"
    return Source(_default_document(policy), policy.name, policy_type, kind or policy_type, arn=policy.arn)


def _inline_sources(owner: Any, owner_type: str) -> list[Source]:
    """Inline policies, named as AWS names them in answers: ``role_<RoleName>_<PolicyName>``."""
    return [
        Source(
            document,
            _inline_id(owner_type, owner.name, name),
            owner_type,
            "inline",
            attachment=(owner_type, owner.name),
        )
        for name, document in owner.policies.items()
    ]


def _inline_id(owner_type: str, owner_name: str, policy_name: str) -> str:
    return f"{owner_type}_{owner_name}_{policy_name}"


def _entity_sources(owner: Any, owner_type: str) -> list[Source]:
    sources = _inline_sources(owner, owner_type)
    sources += [_managed_source(policy) for policy in owner.managed_policies.values()]
    return sources


def _boundary_source(backend: Any, boundary_arn: str | None) -> Source | None:
    if not boundary_arn:
        return None
    policy = backend.managed_policies.get(boundary_arn)
    if policy is None:
        raise PolicyEvaluation(f"Permissions boundary {boundary_arn} does not exist.")
    return _managed_source(policy, kind="permission-boundary")


def principal_sources(arn: str) -> Sources:
    """The policies of the user, group or role named by ``arn``, from moto's state.

    The account is the one the ARN names, whichever credentials signed the request, so that one
    endpoint can answer for every seeded account.
    """
    match = _ENTITY_ARN.match(arn)
    if match is None:
        raise InvalidInput(f"Invalid Entity Arn: {arn} does not clearly define entity type and name.")
    partition, account, entity_type, _, name = match.groups()
    backend = iam_backends[account][partition]
    if entity_type == "role":
        role = next((r for r in backend.roles.values() if r.arn == arn), None)
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        identity = _entity_sources(role, "role")
        boundary = _boundary_source(backend, role.permissions_boundary_arn)
    elif entity_type == "user":
        user = backend.users.get(name)
        if user is None or user.arn != arn:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        identity = _entity_sources(user, "user")
        for member_of in backend.get_groups_for_user(name):
            identity += _entity_sources(member_of, "group")
        boundary = _boundary_source(backend, getattr(user, "permissions_boundary_arn", None))
    else:
        group = backend.groups.get(name)
        if group is None or group.arn != arn:
            raise NoSuchEntity(f"The group with name {name} cannot be found.")
        identity = _entity_sources(group, "group")
        boundary = None
    return Sources(tuple(identity), boundary, account_scps(account, partition), arn)


def account_scps(account: str, partition: str = "aws") -> tuple[tuple[Source, ...], ...]:
    """SCP levels root → OUs → account for a member account; () outside an organization.

    SCPs never restrict the management account, and an organization without all features has none.
    """
    owner = organizations_backends.master_accounts.get(account)
    if owner is None:
        return ()
    management_id, management_partition = owner
    org_backend = organizations_backends[management_id][management_partition]
    if org_backend.org is None or account == management_id or org_backend.org.feature_set != "ALL":
        return ()
    nodes: list[Any] = [org_backend.get_account_by_id(account)]
    by_id = {ou.id: ou for ou in org_backend.ou}
    parent_id: str | None = nodes[0].parent_id
    while parent_id is not None and parent_id in by_id:
        nodes.append(by_id[parent_id])
        parent_id = by_id[parent_id].parent_id
    levels: list[tuple[Source, ...]] = []
    for node in reversed(nodes):
        levels.append(
            tuple(
                Source(str(p.content), p.name, "scp", "scp", arn=p.arn)
                for p in node.attached_policies
                if p.type == "SERVICE_CONTROL_POLICY"
            )
        )
    return tuple(levels)


# --- request parameters ----------------------------------------------------------------------


def _documents(value: Any) -> list[str]:
    return [str(v) for v in value or []]


def _input_sources(params: Mapping[str, Any]) -> tuple[list[Source], Source | None]:
    """``PolicyInputList`` (extra identity policies) and ``PermissionsBoundaryPolicyInputList``."""
    inputs = [
        Source(doc, f"PolicyInputList.{i}", "IAM Policy", "input")
        for i, doc in enumerate(_documents(params.get("PolicyInputList")), start=1)
    ]
    boundaries = _documents(params.get("PermissionsBoundaryPolicyInputList"))
    if len(boundaries) > 1:
        raise InvalidInput("Only one permissions boundary policy can be supplied.")
    boundary = (
        Source(boundaries[0], "PermissionsBoundaryPolicyInputList.1", "IAM Policy", "input") if boundaries else None
    )
    return inputs, boundary


def _action_names(params: Mapping[str, Any], *, allow_wildcards: bool) -> list[str]:
    actions = [str(a) for a in params.get("ActionNames") or []]
    if not actions:
        raise InvalidInput("ActionNames must contain at least one action.")
    for action in actions:
        if not (3 <= len(action) <= 128) or not _ACTION_NAME.match(action):
            raise InvalidInput(f"Invalid action name {action!r}: expected service:Action.")
        if not allow_wildcards and ("*" in action or "?" in action):
            raise InvalidInput(f"Action name {action!r} may not contain wildcards.")
    return actions


def _page(params: Mapping[str, Any], count: int) -> tuple[int, int]:
    """(start, stop) of this page of ``count`` results, from ``Marker`` and ``MaxItems``."""
    max_items = params.get("MaxItems")
    size = DEFAULT_MAX_ITEMS if max_items is None else int(max_items)
    if not 1 <= size <= MAX_ITEMS_LIMIT:
        raise InvalidInput(f"MaxItems must be between 1 and {MAX_ITEMS_LIMIT}.")
    start = 0
    marker = params.get("Marker")
    if marker is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(marker).encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("Invalid Marker.") from None
        if not 0 <= start < count:
            raise InvalidInput("Invalid Marker.")
    return start, min(start + size, count)


def _marker(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def _exclusion_rule(ident: Mapping[str, Any]) -> Callable[[Source], bool]:
    """One ``PolicyExclusionList`` entry as a predicate "this source is excluded"."""
    given = [k for k in ("PolicyType", "PolicyArn", "InlinePolicyIdentifier") if ident.get(k)]
    if len(given) != 1:
        raise InvalidInput("Each PolicyExclusionList entry must name exactly one identifier.")
    if ident.get("PolicyType"):
        wanted = str(ident["PolicyType"])
        if wanted not in ("inline", "aws-managed", "user-managed", "permission-boundary", "scp", "rcp"):
            raise InvalidInput(f"Invalid PolicyType {wanted!r} in PolicyExclusionList.")

        def by_type(source: Source) -> bool:
            return source.kind == wanted

        return by_type
    if ident.get("PolicyArn"):
        pattern = str(ident["PolicyArn"])
        if pattern.count("*") > 1:
            raise InvalidInput("A PolicyArn in PolicyExclusionList may hold at most one '*'.")

        def by_arn(source: Source) -> bool:
            return source.arn is not None and fnmatch.fnmatchcase(source.arn, pattern)

        return by_arn
    inline = ident["InlinePolicyIdentifier"]
    attachment = (str(inline.get("AttachmentType")), str(inline.get("AttachmentName")))
    name = str(inline.get("PolicyName"))

    def by_inline(source: Source) -> bool:
        return source.attachment == attachment and source.policy_id == _inline_id(*attachment, name)

    return by_inline


def _exclusion_filter(identifiers: Iterable[Mapping[str, Any]]) -> Callable[[Source], bool]:
    """A predicate "this source is excluded" from the whole ``PolicyExclusionList``."""
    rules = [_exclusion_rule(ident) for ident in identifiers]
    return lambda source: any(rule(source) for rule in rules)


def _excluding(sources: Sources, excluded: Callable[[Source], bool]) -> Sources:
    boundary = sources.boundary if sources.boundary and not excluded(sources.boundary) else None
    return Sources(
        tuple(s for s in sources.identity if not excluded(s)),
        boundary,
        tuple(tuple(s for s in level if not excluded(s)) for level in sources.scps),
        sources.principal_arn,
    )


# --- the engine ------------------------------------------------------------------------------


def _parse(source: Source, *, supplied: bool) -> Policy:
    """Parse one document; a bad supplied one is the caller's InvalidInput, a bad stored one ours."""
    from verification.policy import PolicyError, parse_policy

    try:
        return parse_policy(source.document, policy_id=source.policy_id, policy_type=source.policy_type)
    except PolicyError as error:
        if supplied or source.kind == "input":
            raise InvalidInput(f"{source.policy_id}: {error}") from None
        raise PolicyEvaluation(f"{source.policy_id} could not be evaluated: {error}") from None


def policy_set(sources: Sources, resource_policy: str | None = None) -> PolicySet:
    """Parse ``sources`` into the engine's ``PolicySet``."""
    from verification.policy import PolicySet

    resource = None
    if resource_policy is not None:
        resource = _parse(Source(resource_policy, "ResourcePolicy", "resource", "input"), supplied=True)
    return PolicySet(
        identity=tuple(_parse(s, supplied=False) for s in sources.identity),
        boundary=_parse(sources.boundary, supplied=False) if sources.boundary else None,
        scps=tuple(tuple(_parse(s, supplied=False) for s in level) for level in sources.scps),
        resource=resource,
        principal_arn=sources.principal_arn,
    )


def run_simulation(params: Mapping[str, Any], sources: Sources, *, allow_wildcards: bool) -> dict[str, Any]:
    """Simulate one page of ``ActionNames`` and return the ``SimulatePolicyResponse`` fields."""
    from verification.policy import Context
    from verification.policy import simulate as engine_simulate
    from verification.policy.explain import simulation_results

    actions = _action_names(params, allow_wildcards=allow_wildcards)
    start, stop = _page(params, len(actions))
    page = actions[start:stop]
    resource_arns = [str(r) for r in params.get("ResourceArns") or []]
    entries = params.get("ContextEntries") or []
    try:
        context = Context.from_context_entries(entries)
    except (KeyError, TypeError):
        raise InvalidInput("Each ContextEntries item needs a ContextKeyName.") from None
    resource_policy = params.get("ResourcePolicy")
    policies = policy_set(sources, str(resource_policy) if resource_policy is not None else None)
    evaluations = engine_simulate(policies, page, tuple(resource_arns) or ("*",), context)
    try:
        results = simulation_results(
            evaluations, page, per_resource=bool(resource_arns), principal_arn=sources.principal_arn
        )
    except LookupError as error:
        raise PolicyEvaluation(f"The engine returned {error}.") from None
    response: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": stop < len(actions)}
    if stop < len(actions):
        response["Marker"] = _marker(stop)
    return response


def context_keys(documents: Iterable[str]) -> list[str]:
    """Condition keys and policy variables the documents reference, first spelling kept, sorted."""
    seen: dict[str, str] = {}

    def note(key: str) -> None:
        seen.setdefault(key.lower(), key)

    def walk_values(value: Any) -> None:
        if isinstance(value, str):
            for variable in _POLICY_VARIABLE.findall(value):
                name = variable.split(",")[0].strip()
                if ":" in name:
                    note(name)
        elif isinstance(value, list):
            for item in value:
                walk_values(item)

    for document in documents:
        try:
            text = document if document.lstrip().startswith("{") else urllib.parse.unquote(document)
            body = json.loads(text)
        except ValueError:
            raise InvalidInput("A policy document is not valid JSON.") from None
        statements = body.get("Statement", []) if isinstance(body, dict) else []
        for statement in statements if isinstance(statements, list) else [statements]:
            if not isinstance(statement, dict):
                continue
            walk_values(statement.get("Resource"))
            walk_values(statement.get("NotResource"))
            for block in (statement.get("Condition") or {}).values():
                for key, values in (block or {}).items():
                    note(key)
                    walk_values(values)
    return sorted(seen.values(), key=str.lower)


# --- the handlers added to moto's IamResponse -------------------------------------------------


def _params(response: IamResponse) -> dict[str, Any]:
    return dict(response._get_params())


def simulate_principal_policy(self: IamResponse) -> Answer:
    """``SimulatePrincipalPolicy``: the principal's own policies, boundary and SCPs, plus inputs."""
    params = _params(self)
    sources = principal_sources(str(params.get("PolicySourceArn", "")))
    inputs, boundary = _input_sources(params)
    sources = Sources(
        sources.identity + tuple(inputs), boundary or sources.boundary, sources.scps, sources.principal_arn
    )
    exclusions = params.get("PolicyExclusionList")
    if exclusions:
        sources = _excluding(sources, _exclusion_filter(exclusions))
    return render("SimulatePrincipalPolicy", run_simulation(params, sources, allow_wildcards=True))


def simulate_custom_policy(self: IamResponse) -> Answer:
    """``SimulateCustomPolicy``: only the supplied documents, SCP levels from the request."""
    params = _params(self)
    inputs, boundary = _input_sources(params)
    if not inputs:
        raise InvalidInput("PolicyInputList must contain at least one policy.")
    levels = params.get("OrderedOrganizationPolicyInputList") or []
    if len(levels) > 7:
        raise InvalidInput("OrderedOrganizationPolicyInputList holds at most 7 levels.")
    scps = tuple(
        tuple(
            Source(doc, f"OrderedOrganizationPolicyInputList.{i}.{j}", "scp", "input")
            for j, doc in enumerate(_documents(level.get("ServiceControlPolicyInputList")), start=1)
        )
        for i, level in enumerate(levels, start=1)
    )
    caller = params.get("CallerArn")
    sources = Sources(tuple(inputs), boundary, scps, str(caller) if caller else None)
    return render("SimulateCustomPolicy", run_simulation(params, sources, allow_wildcards=False))


def get_context_keys_for_principal_policy(self: IamResponse) -> ActionResult:
    """``GetContextKeysForPrincipalPolicy``: keys in identity policies and inputs, not in SCPs."""
    params = _params(self)
    sources = principal_sources(str(params.get("PolicySourceArn", "")))
    documents = [s.document for s in sources.identity] + _documents(params.get("PolicyInputList"))
    return ActionResult({"ContextKeyNames": context_keys(documents)})


def get_context_keys_for_custom_policy(self: IamResponse) -> ActionResult:
    """``GetContextKeysForCustomPolicy``: keys in the supplied documents."""
    documents = _documents(_params(self).get("PolicyInputList"))
    if not documents:
        raise InvalidInput("PolicyInputList must contain at least one policy.")
    return ActionResult({"ContextKeyNames": context_keys(documents)})


def put_user_permissions_boundary(self: IamResponse) -> ActionResult:
    """``PutUserPermissionsBoundary``, which moto lacks; the simulation honours it."""
    params = _params(self)
    user = self.backend.get_user(str(params.get("UserName")))
    boundary = str(params.get("PermissionsBoundary", ""))
    if boundary not in self.backend.managed_policies:
        raise InvalidInput(f"Value ({boundary}) for parameter PermissionsBoundary is invalid.")
    user.permissions_boundary_arn = boundary  # type: ignore[attr-defined]  # moto has no user boundaries
    return ActionResult({})


_HANDLERS: dict[str, Callable[[IamResponse], ActionResult | Answer]] = {
    "simulate_principal_policy": simulate_principal_policy,
    "simulate_custom_policy": simulate_custom_policy,
    "get_context_keys_for_principal_policy": get_context_keys_for_principal_policy,
    "get_context_keys_for_custom_policy": get_context_keys_for_custom_policy,
    "put_user_permissions_boundary": put_user_permissions_boundary,
}


_moto_enrich_response = IamResponse._enrich_response


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's request id (header and body), put into ``render``'s answers without a regex pass.

    moto runs ``re.sub`` for ``<RequestId>`` over every body: a tenth of the endpoint's CPU on a
    simulation answer of a megabyte. ``render`` writes the placeholder once, at the end, and escapes
    every value, so replacing that one occurrence gives moto's bytes. Other bodies go to moto.
    """
    if not (isinstance(body, str) and REQUEST_ID in body[-200:]):
        return _moto_enrich_response(headers, body)
    if "status" in headers:
        headers["status"] = str(headers["status"])
    at = body.rindex(REQUEST_ID)
    request_id = gen_amzn_requestid_long(headers)
    return headers, f"{body[:at]}<RequestId>{request_id}</RequestId>{body[at + len(REQUEST_ID) :]}"


def install() -> None:
    """Add the handlers to moto's ``IamResponse`` (idempotent; affects this process only)."""
    for name, handler in _HANDLERS.items():
        setattr(IamResponse, name, handler)
    IamResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign]
