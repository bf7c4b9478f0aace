"""The live backend: the IAM and STS APIs through boto3, read-only, retried by botocore."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.exceptions
import botocore.parsers
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.handlers import json_decode_policies
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from verification import __version__
from verification.backends import fast_reply
from verification.backends.base import Backend, Capabilities
from verification.backends.exchange import Exchange
from verification.backends.facts import InstanceProfile, Role
from verification.backends.simulation import SimulationRequest, SimulationResult
from verification.errors import CheckError, InputError
from verification.fleet.accounting import ApiCounter
from verification.fleet.pacing import Pacer
from verification.names import CallerIdentity, RoleRef
from verification.safety import readonly, redact
from verification.scope.regions import region_partition

#: What the verifying identity needs; said in every AccessDenied message.
VERIFIER_POLICY_HINT = (
    "the verifying identity needs iam:GetRole, iam:ListInstanceProfilesForRole and "
    "iam:SimulatePrincipalPolicy on the role (see fixtures/verifier-policy.json)"
)
#: SimulatePrincipalPolicy's largest page.
MAX_ITEMS = 1000
#: RoleSessionName of cross-account sessions: CloudTrail in the target account shows who called.
SESSION_NAME = "veeam-role-verification"


class LiveBackend(Backend):
    """Asks AWS (or any IAM-compatible endpoint, such as the local one)."""

    name = "live"
    capabilities = Capabilities(live_api=True, prefetchable=True, lists_roles=True)

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: str = "standard",
        max_attempts: int | None = None,
        session: boto3.Session | None = None,
        assume_role_arn: str | None = None,
        external_id: str | None = None,
        account: str | None = None,
        counter: ApiCounter | None = None,
        pacer: Pacer | None = None,
        session_duration: int | None = None,
    ) -> None:
        super().__init__()
        try:
            base = session or boto3.Session(
                botocore_session=_botocore_session(), profile_name=profile, region_name=region
            )
        except botocore.exceptions.ProfileNotFound:
            raise InputError(
                f"AWS profile {profile!r} is not configured: check ~/.aws/config or --aws-profile"
            ) from None
        #: The account whose rate limits these calls spend: pacing and accounting are kept per account.
        self.account = account or (assume_role_arn.split(":")[4] if assume_role_arn else "default")
        self._counter = counter
        self._pacer = pacer
        retries: Any = {"mode": retry_mode}
        if max_attempts is not None:
            retries["total_max_attempts"] = max_attempts
        #: The run's region: permissions are judged in it unless --regions names others.
        self.region = region or base.region_name or "us-east-1"
        config = Config(
            region_name=self.region,
            retries=retries,
            user_agent_extra=f"veeam-role-verification/{__version__}",
        )
        self.endpoint_url = endpoint_url
        self.retry_mode = retry_mode
        self._config = config
        self._kms: dict[str, Any] = {}
        self._organizations: Any = None
        self._key_policies: dict[str, Mapping[str, Any]] = {}
        self._caller: CallerIdentity | CheckError | None = None
        self.session: boto3.Session = base
        redact.protect(base)  # before any request: botocore's DEBUG log prints signed headers
        if assume_role_arn:
            self.session = self._assumed_session(
                base, assume_role_arn, external_id, endpoint_url, config, session_duration
            )
            # The session is the assumed role's: known without a GetCallerIdentity call.
            name = assume_role_arn.rsplit("/", 1)[-1]
            self._caller = CallerIdentity(
                assume_role_arn.split(":")[4],
                f"arn:{assume_role_arn.split(':')[1]}:sts::{assume_role_arn.split(':')[4]}:assumed-role/{name}/{SESSION_NAME}",
            )
        self.iam = self._client(self.session, "iam", endpoint_url=endpoint_url, config=config)
        self.sts = self._client(self.session, "sts", endpoint_url=endpoint_url, config=config)

    def _client(self, session: Any, service: str, **kwargs: Any) -> Any:
        """A read-only client, paced and counted under this backend's account, that knows IAM's answers."""
        client = readonly.client(session, service, **kwargs)
        check_answers(client)
        decode_policies_only_where_answers_hold_them(client)
        if self._pacer is not None:
            self._pacer.install(client, self.account)
        if self._counter is not None:
            self._counter.install(client, self.account)
        return client

    def _assumed_session(
        self,
        base: boto3.Session,
        role_arn: str,
        external_id: str | None,
        endpoint_url: str | None,
        config: Config,
        duration: int | None = None,
    ) -> boto3.Session:
        """A session whose credentials come from STS AssumeRole, made from ``base`` (the default chain).

        botocore's own AssumeRole fetcher does the call on first use and refreshes the credentials
        before they expire, so a long nightly run never signs with stale ones: chained role sessions
        (a member role assumed from an assumed role) last an hour at most. ``duration`` is the
        session's DurationSeconds (the role's default, an hour, when None).
        """
        source = base.get_credentials()
        if source is None:
            raise CheckError(
                f"no AWS credentials found to assume {role_arn}",
                "set AWS_PROFILE (or --aws-profile), or give the job an identity (for example GitHub OIDC)",
            )
        extra: dict[str, Any] = {"RoleSessionName": SESSION_NAME}
        if external_id:
            extra["ExternalId"] = external_id
        if duration is not None:
            extra["DurationSeconds"] = duration

        def sts_client(service: str, **kwargs: Any) -> Any:
            return self._client(base, service, endpoint_url=endpoint_url, config=config, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(sts_client, source, role_arn, extra_args=extra)
        credentials = DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
        botocore_session = _botocore_session()
        botocore_session.register_component("credential_provider", _Fixed(credentials))
        return boto3.Session(botocore_session=botocore_session, region_name=base.region_name or "us-east-1")

    def list_roles(self) -> list[str]:
        """Every role ARN in the account (ListRoles, all pages); used to resolve role-name patterns."""

        def each_page() -> list[str]:
            arns: list[str] = []
            for page in self.iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": MAX_ITEMS}):
                arns.extend(role["Arn"] for role in page["Roles"])
            return arns

        arns: list[str] = self._call("roles", "ListRoles", each_page, None)
        return arns

    def organization_pages(self, operation: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every page of an AWS Organizations read (paginated where the API pages), with a CheckError on failure."""
        if self._organizations is None:
            self._organizations = self._client(
                self.session, "organizations", endpoint_url=self.endpoint_url, config=self._config
            )
        client = self._organizations
        method = botocore.xform_name(operation)

        def each_page() -> list[dict[str, Any]]:
            if client.can_paginate(method):
                return list(client.get_paginator(method).paginate(**params))
            return [getattr(client, method)(**params)]

        pages: list[dict[str, Any]] = self._call("organization", operation, each_page, None)
        return pages

    @property
    def description(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"live IAM API at {where} (botocore retry mode {self.retry_mode})"

    def caller(self) -> CallerIdentity:
        """Asked once per backend; a failure is remembered too, so broken credentials cost one call."""
        if isinstance(self._caller, CheckError):
            raise self._caller
        if self._caller is None:
            try:
                response = self._call("caller", "GetCallerIdentity", self.sts.get_caller_identity, {})
            except CheckError as error:
                self._caller = error
                raise
            self._caller = CallerIdentity(response["Account"], response["Arn"], response.get("UserId", ""))
        return self._caller

    def get_role(self, role: RoleRef) -> Role:
        region = self.iam.meta.region_name
        partition = region_partition(region) if region else None
        if partition is not None and partition != role.partition:
            # Asked anyway, the other partition's IAM would say "the role does not exist".
            raise CheckError(
                f"the region {region} is in partition {partition}, but {role.arn} is in partition {role.partition}",
                "give a region of the role's partition (--aws-region, AWS_REGION or the profile's region)",
            )
        caller = self.caller()
        if caller.account != role.account:
            raise CheckError(
                f"the credentials are for account {caller.account}, but the role is in account {role.account}",
                "use credentials or a profile of the role's account (or a targets file with assume_role_arn)",
            )
        response = self._call(role.arn, "GetRole", self.iam.get_role, {"RoleName": role.name})
        data = response["Role"]
        if data["Arn"] != role.arn:
            raise CheckError(
                f"GetRole answered for {data['Arn']}, not {role.arn}",
                "check the role's path in the ARN; the harness verifies exactly the role named",
            )
        trust = data.get("AssumeRolePolicyDocument")
        if not isinstance(trust, Mapping):
            raise CheckError(f"GetRole returned no readable trust policy for {role.arn}")
        boundary = (data.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in data.get("Tags") or ()}
        return Role(data["Arn"], data["RoleName"], role.account, data["RoleId"], data["Path"], trust, boundary, tags)

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        paginator = self.iam.get_paginator("list_instance_profiles_for_role")
        profiles: list[InstanceProfile] = []
        pages = paginator.paginate(RoleName=role.name)
        for page in self._pages(role.arn, "ListInstanceProfilesForRole", {"RoleName": role.name}, pages):
            for item in page["InstanceProfiles"]:
                names = tuple(r["RoleName"] for r in item.get("Roles", []))
                profiles.append(InstanceProfile(item["InstanceProfileName"], item["Arn"], names))
        return profiles

    def role_policy_details(self, role: RoleRef) -> dict[str, Any]:
        """A failing role's own permissions policies, as a details document (the shape of GAAD's) for the engine.

        Read only to explain an implicit deny (which statement nearly allowed): ListRolePolicies and
        GetRolePolicy for the inline policies, ListAttachedRolePolicies, then GetPolicy and
        GetPolicyVersion for each attached policy's default version. All read-only and optional in
        fixtures/verifier-policy.json; the caller asks only for roles that fail, once each.
        """
        key = role.arn
        names: list[str] = []
        pages = self.iam.get_paginator("list_role_policies").paginate(RoleName=role.name)
        for page in self._pages(key, "ListRolePolicies", {"RoleName": role.name}, pages):
            names.extend(page.get("PolicyNames") or ())
        inline = []
        for name in names:
            params = {"RoleName": role.name, "PolicyName": name}
            document = self._call(key, "GetRolePolicy", self.iam.get_role_policy, params)["PolicyDocument"]
            inline.append({"PolicyName": name, "PolicyDocument": document})
        attached: list[dict[str, str]] = []
        pages = self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role.name)
        for page in self._pages(key, "ListAttachedRolePolicies", {"RoleName": role.name}, pages):
            attached.extend(
                {"PolicyName": p["PolicyName"], "PolicyArn": p["PolicyArn"]} for p in page.get("AttachedPolicies") or ()
            )
        policies = []
        for item in attached:
            arn = item["PolicyArn"]
            policy = self._call(key, "GetPolicy", self.iam.get_policy, {"PolicyArn": arn})["Policy"]
            version_id = policy["DefaultVersionId"]
            params = {"PolicyArn": arn, "VersionId": version_id}
            version = self._call(key, "GetPolicyVersion", self.iam.get_policy_version, params)["PolicyVersion"]
            policies.append(
                {
                    "PolicyName": policy.get("PolicyName", item["PolicyName"]),
                    "Arn": arn,
                    "DefaultVersionId": version_id,
                    "PolicyVersionList": [
                        {"VersionId": version_id, "IsDefaultVersion": True, "Document": version["Document"]}
                    ],
                }
            )
        entry = {
            "Arn": role.arn,
            "RoleName": role.name,
            "RolePolicyList": inline,
            "AttachedManagedPolicies": attached,
        }
        return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [entry], "Policies": policies}

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        params = request.params
        paginator = self.iam.get_paginator("simulate_principal_policy")
        pages = paginator.paginate(**params, PaginationConfig={"PageSize": MAX_ITEMS})
        results: list[SimulationResult] = []
        for page in self._pages(evidence_key, "SimulatePrincipalPolicy", params, pages):
            results.extend(request.read(page["EvaluationResults"]))
        return results

    def get_key_policy(self, key_arn: str, *, evidence_key: str) -> Mapping[str, Any]:
        """The key's default policy, read once per run (kms:GetKeyPolicy, in the key's region)."""
        if key_arn not in self._key_policies:
            region = key_arn.split(":")[3]
            if region not in self._kms:
                config = self._config.merge(Config(region_name=region))
                self._kms[region] = self._client(self.session, "kms", endpoint_url=self.endpoint_url, config=config)
            kms = self._kms[region]
            params = {"KeyId": key_arn, "PolicyName": "default"}
            response = self._call(evidence_key, "GetKeyPolicy", kms.get_key_policy, params)
            try:
                document = json.loads(response["Policy"])
            except (KeyError, TypeError, ValueError):
                raise CheckError(f"GetKeyPolicy returned no readable key policy for {key_arn}") from None
            if not isinstance(document, Mapping):
                raise CheckError(f"GetKeyPolicy returned no readable key policy for {key_arn}")
            self._key_policies[key_arn] = document
        return self._key_policies[key_arn]

    def _pages(self, key: str, operation: str, params: Mapping[str, Any], pages: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def each_page() -> list[dict[str, Any]]:
            for page in pages:
                self.record(key, Exchange(operation, params, page, _request_id(page)))
                out.append(page)
            return out

        pages_read: list[dict[str, Any]] = self._call(key, operation, each_page, None)
        return pages_read

    def _call(self, key: str, operation: str, function: Any, params: Mapping[str, Any] | None) -> Any:
        """Run one API call (or a pagination), turning failures into CheckError with a hint."""
        try:
            if params is None:
                return function()
            response = function(**params)
        except botocore.exceptions.ClientError as error:
            if error.operation_name == "AssumeRole":
                err = error.response.get("Error", {})
                raise CheckError(
                    f"{operation}: could not assume the verification role: {err.get('Code')}: {err.get('Message')}",
                    "check assume_role_arn, its trust policy for the verifying identity, and external_id",
                ) from error
            raise _check_error(operation, error) from error
        except NotAnIamAnswer as error:
            raise CheckError(
                str(error),
                "check --endpoint-url (or AWS_ENDPOINT_URL) and any proxy on the way: it must reach IAM",
            ) from error
        except botocore.exceptions.NoCredentialsError as error:
            raise CheckError(
                "no AWS credentials found",
                "set AWS_PROFILE (or --aws-profile), or run `pytest --demo` to try the harness locally",
            ) from error
        except botocore.exceptions.EndpointConnectionError as error:
            raise CheckError(
                f"{operation}: endpoint unreachable ({error.kwargs.get('endpoint_url')})",
                "check --endpoint-url and the network",
            ) from error
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
            raise CheckError(
                f"{operation}: connection failed after retries ({error})", "check the network and the endpoint"
            ) from error
        except botocore.exceptions.BotoCoreError as error:
            raise CheckError(f"{operation}: {error}") from error
        except botocore.parsers.ResponseParserError as error:  # not a BotoCoreError
            raise CheckError(
                f"{operation}: the API's answer is malformed and could not be read",
                "run again; if it persists, check that --endpoint-url points at an IAM endpoint",
            ) from error
        self.record(key, Exchange(operation, params, response, _request_id(response)))
        return response


class NotAnIamAnswer(botocore.exceptions.BotoCoreError):
    """A successful HTTP answer that is not the query-protocol XML the operation returns.

    A proxy's login page, an empty body, JSON, or another service's answer: botocore would read it
    into a KeyError or an empty result, so it is refused before botocore parses it.
    """

    fmt = "{endpoint} did not answer as IAM does ({what})"


#: The first element of an XML document: an optional declaration, then ``<prefix:Name``.
_FIRST_ELEMENT = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(?:[\w.-]+:)?([\w.-]+)", re.S
)


def not_iam_answer(response: Mapping[str, Any], operation: str) -> str | None:
    """What is wrong with a 2xx answer to ``operation`` (for the message), or None when it looks like IAM's.

    IAM and STS answer ``text/xml`` with a ``<OperationResponse>`` document. A body that is cut off
    but starts right is left to botocore, whose parser reports it as malformed.
    """
    status = int(response.get("status_code") or 0)
    if not 200 <= status < 300:
        return None  # errors are read (or reported by status) as botocore reads them
    body = response.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    headers = response.get("headers") or {}
    content_type = str(headers.get("content-type") or headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not body.strip():
        return "empty body"
    if content_type and not content_type.endswith("xml"):
        return content_type
    first = _FIRST_ELEMENT.match(body)
    if first is None:
        return "not XML" if not body.lstrip().startswith(b"{") else "JSON"
    element = first.group(1).decode("ascii", "replace")
    if element != f"{operation}Response":
        return f"<{element}> instead of <{operation}Response>"
    return None


def decode_policies_only_where_answers_hold_them(client: Any) -> None:
    """botocore's IAM policy decoding, registered only for operations whose answer can hold a policy.

    botocore walks every IAM answer for ``policyDocumentType`` strings to decode. A simulation's
    answer holds none, and walking the 1,230 results of one role's simulation cost 4 ms, a tenth of
    parsing it. The same handler still decodes every answer that can hold a policy document.
    """
    model = client.meta.service_model
    if model.service_name != "iam":
        return
    events = client.meta.events
    events.unregister("after-call.iam", json_decode_policies)
    for operation in operations_with_policy_documents(model):
        events.register(f"after-call.iam.{operation}", json_decode_policies)


@functools.cache
def operations_with_policy_documents(model: ServiceModel) -> frozenset[str]:
    """The operations whose output shape holds a ``policyDocumentType`` anywhere within it."""

    def holds(shape: Shape | None, seen: set[str]) -> bool:
        if shape is None or shape.name in seen:
            return False
        seen.add(shape.name)
        if isinstance(shape, StructureShape):
            return any(holds(member, seen) for member in shape.members.values())
        if isinstance(shape, ListShape):
            return holds(shape.member, seen)
        if isinstance(shape, MapShape):
            return holds(shape.value, seen)
        return shape.name == "policyDocumentType"

    return frozenset(name for name in model.operation_names if holds(model.operation_model(name).output_shape, set()))


def check_answers(client: Any) -> None:
    """Refuse, as NotAnIamAnswer, any 2xx answer to this client that is not IAM's (see ``not_iam_answer``).

    Only for the query-protocol services (IAM, STS); KMS, read for ``--kms-key``, answers JSON.
    """
    if client.meta.service_model.protocol != "query":
        return
    service = client.meta.service_model.service_id.hyphenize()
    endpoint = client.meta.endpoint_url

    def check(operation_model: Any, response_dict: Mapping[str, Any], **_: Any) -> None:
        what = not_iam_answer(response_dict, operation_model.name)
        if what is not None:
            raise NotAnIamAnswer(endpoint=endpoint, what=what)

    client.meta.events.register(f"before-parse.{service}", check)


_LOADER: Any = None


def _botocore_session() -> botocore.session.Session:
    """A botocore session sharing one data loader per process.

    Each session otherwise parses the service models (IAM's alone is hundreds of kilobytes of JSON)
    and endpoint rules anew: once per account and process with a targets file of many accounts.
    Its clients read the simulation reply with ``fast_reply`` (botocore's parser on anything else).
    """
    global _LOADER
    session = botocore.session.get_session()
    fast_reply.install(session)  # the simulation reply, read without botocore's generic walk
    if _LOADER is None:
        _LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _LOADER)
    return session


class _Fixed(CredentialResolver):
    """A credential resolver that always answers with the given (refreshing) credentials."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(providers=[])
        self._credentials = credentials

    def load_credentials(self) -> Credentials:
        return self._credentials


def _request_id(response: Mapping[str, Any]) -> str | None:
    metadata = response.get("ResponseMetadata") or {}
    request_id = metadata.get("RequestId")
    return str(request_id) if request_id else None


def _check_error(operation: str, error: botocore.exceptions.ClientError) -> CheckError:
    """One CheckError that says what failed and what to do, carrying the API's error code."""
    failure = _explain_client_error(operation, error)
    failure.code = error.response.get("Error", {}).get("Code", "") or ""
    return failure


def _explain_client_error(operation: str, error: botocore.exceptions.ClientError) -> CheckError:
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", "")
    attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    if code == "NoSuchEntity":
        return CheckError(
            f"{operation}: the role does not exist ({message})",
            "check the role name and the account of the credentials",
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return CheckError(f"{operation}: access denied to the verifying identity", VERIFIER_POLICY_HINT)
    if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"):
        return CheckError(
            f"{operation}: throttled by the API after {attempts + 1} attempts",
            "run fewer roles at once, lower the pace, or raise --max-attempts",
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"):
        return CheckError(
            f"{operation}: the credentials are expired or invalid ({code})",
            "refresh the session (for example `aws sso login`) and run again",
        )
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if status >= 500:
        detail = message if code == str(status) else f"{code}: {message}".rstrip(": ")
        return CheckError(
            f"{operation}: the API failed with HTTP {status} ({detail}) after {attempts + 1} attempts",
            "a fault on the service side: run again later, or raise --max-attempts",
        )
    return CheckError(f"{operation}: {code}: {message}".rstrip(": "))
