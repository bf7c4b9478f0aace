"""The live backend: the IAM and STS APIs through boto3, read-only, retried by botocore."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from verification import __version__, readonly
from verification.backends import (
    Backend,
    CallerIdentity,
    Exchange,
    InstanceProfile,
    Role,
    RoleRef,
    SimulationResult,
)
from verification.errors import CheckError, InputError

#: What the verifying identity needs; said in every AccessDenied message.
VERIFIER_POLICY_HINT = (
    "the verifying identity needs iam:GetRole, iam:ListInstanceProfilesForRole and "
    "iam:SimulatePrincipalPolicy on the role (see fixtures/verifier-policy.json)"
)
#: SimulatePrincipalPolicy's largest page.
MAX_ITEMS = 1000


class LiveBackend(Backend):
    """Asks AWS (or any IAM-compatible endpoint, such as the local one)."""

    name = "live"

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: str = "standard",
        max_attempts: int | None = None,
        session: boto3.Session | None = None,
    ) -> None:
        super().__init__()
        try:
            self.session = session or boto3.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound:
            raise InputError(
                f"AWS profile {profile!r} is not configured: check ~/.aws/config or --aws-profile"
            ) from None
        retries: Any = {"mode": retry_mode}
        if max_attempts is not None:
            retries["total_max_attempts"] = max_attempts
        config = Config(
            region_name=self.session.region_name or "us-east-1",
            retries=retries,
            user_agent_extra=f"veeam-role-verification/{__version__}",
        )
        self.endpoint_url = endpoint_url
        self.retry_mode = retry_mode
        self.iam = readonly.client(self.session, "iam", endpoint_url=endpoint_url, config=config)
        self.sts = readonly.client(self.session, "sts", endpoint_url=endpoint_url, config=config)
        self._caller: CallerIdentity | None = None

    @property
    def description(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"live IAM API at {where} (botocore retry mode {self.retry_mode})"

    def caller(self) -> CallerIdentity:
        if self._caller is None:
            response = self._call("caller", "GetCallerIdentity", self.sts.get_caller_identity, {})
            self._caller = CallerIdentity(response["Account"], response["Arn"], response.get("UserId", ""))
        return self._caller

    def get_role(self, role: RoleRef) -> Role:
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
        return Role(data["Arn"], data["RoleName"], role.account, data["RoleId"], data["Path"], trust, boundary)

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        paginator = self.iam.get_paginator("list_instance_profiles_for_role")
        profiles: list[InstanceProfile] = []
        pages = paginator.paginate(RoleName=role.name)
        for page in self._pages(role.arn, "ListInstanceProfilesForRole", {"RoleName": role.name}, pages):
            for item in page["InstanceProfiles"]:
                names = tuple(r["RoleName"] for r in item.get("Roles", []))
                profiles.append(InstanceProfile(item["InstanceProfileName"], item["Arn"], names))
        return profiles

    def simulate(
        self,
        principal_arn: str,
        actions: Sequence[str],
        *,
        resources: Sequence[str] = ("*",),
        context: Mapping[str, Sequence[str]] | None = None,
        extra_policies: Sequence[str] = (),
        evidence_key: str | None = None,
    ) -> list[SimulationResult]:
        params: dict[str, Any] = {
            "PolicySourceArn": principal_arn,
            "ActionNames": list(actions),
            "ResourceArns": list(resources),
        }
        if context:
            params["ContextEntries"] = [
                {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": "stringList"}
                for key, values in context.items()
            ]
        if extra_policies:
            params["PolicyInputList"] = list(extra_policies)
        paginator = self.iam.get_paginator("simulate_principal_policy")
        pages = paginator.paginate(**params, PaginationConfig={"PageSize": MAX_ITEMS})
        results: list[SimulationResult] = []
        key = evidence_key or principal_arn
        for page in self._pages(key, "SimulatePrincipalPolicy", params, pages):
            results.extend(SimulationResult.from_results(page["EvaluationResults"]))
        return results

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
            raise _check_error(operation, error) from error
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
        self.record(key, Exchange(operation, params, response, _request_id(response)))
        return response


def _request_id(response: Mapping[str, Any]) -> str | None:
    metadata = response.get("ResponseMetadata") or {}
    request_id = metadata.get("RequestId")
    return str(request_id) if request_id else None


def _check_error(operation: str, error: botocore.exceptions.ClientError) -> CheckError:
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
    return CheckError(f"{operation}: {code}: {message}".rstrip(": "))
