"""The plugin's command-line options: one table, each row with its parser, checked when parsed.

A bad value fails argparse with one line (what is wrong, what would be right) before any API call.
Parsers are imported lazily, so a pytest run that verifies nothing pays nothing for them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from verification.errors import InputError

NOTHING_TO_VERIFY = (
    "nothing to verify: name a role with --role-arn arn:aws:iam::ACCOUNT:role/NAME "
    "(or --targets FILE), or try the bundled demo with --demo"
)
#: The target options (their dests in OPTIONS), whose presence means "verify something": without any
#: of them the plugin stays inert, and any other option of ours is a usage error naming these.
VERIFY_OPTIONS = ("role_arns", "targets", "snapshot", "template", "plan", "demo", "organization")


def _arg_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Wrap a parser that raises InputError as an argparse type, so bad values fail at parse time."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def role_arn(value: str) -> Any:
    from verification.backends import RoleRef

    return RoleRef.parse(value)


def appliance_principal(value: str) -> Any:
    from verification.verdicts import AppliancePrincipal

    return AppliancePrincipal.parse(value)


def kms_key(value: str) -> Any:
    from verification.verdicts import KmsKey

    return KmsKey.parse(value)


def endpoint_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"--endpoint-url {value!r} is not an http(s) URL such as http://127.0.0.1:5000")
    return value


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        raise InputError(f"{value}: no such file")
    return path


def aws_region(value: str) -> str:
    """A region botocore's partitions data lists: a typo fails here, naming the closest regions."""
    from verification.scope.regions import region_partition, unknown_region

    if region_partition(value) is None:
        raise unknown_region(value, "--aws-region")
    return value


def parameter(value: str) -> tuple[str, str]:
    """``KEY=VALUE`` for a template parameter (or a pseudo parameter such as AWS::StackName)."""
    key, sep, given = value.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--parameter {value!r} is not KEY=VALUE, such as Stage=prod")
    return key.strip(), given


def account_id(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{12}", value, re.ASCII):
        raise InputError(f"--account {value!r} is not a 12-digit AWS account id")
    return value


def regions(value: str) -> tuple[str, ...]:
    from verification.scope.regions import parse_regions

    return parse_regions(value)


def context_value(value: str) -> tuple[str, str]:
    from verification.scope.context import parse_context_option

    return parse_context_option(value)


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def concurrency(value: str) -> int:
    """``--concurrency``: fetches in flight per process, 1 (off) to 10 (a botocore client's connection pool)."""
    if not value.isdigit() or not 1 <= int(value) <= 10:
        raise InputError(
            f"--concurrency {value!r} is not a whole number from 1 (one call at a time) to 10 (fetches in flight "
            "at once)"
        )
    return int(value)


def member_role(value: str) -> str:
    import re

    if not re.fullmatch(r"[\w+=,.@-]{1,64}", value):
        raise InputError(f"--member-role {value!r} is not a role name, such as RoleVerification")
    return value


def role_name_pattern(value: str) -> str:
    import re

    if not re.fullmatch(r"[\w+=,.@*?\[\]!-]{1,64}", value):
        raise InputError(f"--role-name {value!r} is not a role name or glob, such as 'VeeamWorker*'")
    return value


def ou_id(value: str) -> str:
    from verification.fleet.organization import OU_RE

    if not OU_RE.match(value):
        raise InputError(f"{value!r} is not an OU id (ou-xxxx-xxxxxxxx) or the root's id (r-xxxx)")
    return value


def skip_account(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{12}", value, re.ASCII):
        raise InputError(f"--skip-account {value!r} is not a 12-digit AWS account id")
    return value


def shard(value: str) -> Any:
    from verification.fleet.organization import Shard

    return Shard.parse(value)


def max_rate(value: str) -> float:
    from verification.fleet.pacing import parse_rate

    return parse_rate(value)


def sarif_category(value: str) -> str:
    """``--sarif-category``: a code scanning category, such as nightly/eu-accounts (no spaces, no trailing /)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9._:@=+-]+(/[A-Za-z0-9._:@=+-]+)*", value):
        raise InputError(
            f"--sarif-category {value!r} is not a category such as nightly/eu-accounts: letters, digits and "
            "._:@=+- in parts joined by /"
        )
    return value


@dataclass(frozen=True)
class Option:
    """One row of the table: the flag, where it lands, and how its value is read."""

    flag: str
    dest: str
    help: str
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    default: Any = None
    action: str | None = None
    choices: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add_to(self, group: Any) -> None:
        kwargs: dict[str, Any] = {"dest": self.dest, "default": self.default, "help": self.help}
        if self.action:
            kwargs["action"] = self.action
        if self.metavar and self.action != "store_true":
            kwargs["metavar"] = self.metavar
        if self.parse is not None:
            kwargs["type"] = _arg_type(self.parse)
        if self.choices:
            kwargs["choices"] = self.choices
        group.addoption(self.flag, **kwargs, **self.extra)


OPTIONS: tuple[Option, ...] = (
    Option("--role-arn", "role_arns", "role to verify (repeatable)", "ARN", role_arn, [], "append"),
    Option(
        "--appliance-principal",
        "appliance",
        "the backup appliance's Impersonation role ARN or AWS account id (without it, trust:appliance is skipped)",
        "ARN|ACCOUNT",
        appliance_principal,
    ),
    Option(
        "--kms-key",
        "kms_key",
        "the KMS key the worker uses: its key policy (kms:GetKeyPolicy) decides the kms: requirements "
        "with the role's own permissions (live only)",
        "ARN",
        kms_key,
    ),
    Option(
        "--requirements",
        "requirements",
        "requirement set to verify against: NAME[@VERSION][:PART,PART] or a file (default: veeam-flr-worker-prod); "
        "repeat it for a role used for several operations: the union is verified, a shared requirement once",
        "NAME|PATH",
        None,
        [],
        "append",
    ),
    Option("--aws-profile", "aws_profile", "AWS profile for the live API (default: boto3's credential chain)", "NAME"),
    Option(
        "--aws-region",
        "aws_region",
        "AWS region for the API clients (default: boto3's, else us-east-1)",
        "REGION",
        aws_region,
    ),
    Option(
        "--regions",
        "regions",
        "regions the worker runs in: each permission must be allowed in every one (default: --aws-region, "
        "else boto3's region); global services are judged in their partition's global region",
        "R1,R2",
        regions,
    ),
    Option(
        "--context",
        "context",
        "a value the worker's requests are known to carry, such as aws:SourceVpce=vpce-1a2b3c4d (repeatable)",
        "KEY=VALUE",
        context_value,
        [],
        "append",
    ),
    Option(
        "--endpoint-url",
        "endpoint_url",
        "IAM/STS endpoint (default: boto3's own, which honours AWS_ENDPOINT_URL)",
        "URL",
        endpoint_url,
    ),
    Option(
        "--retry-mode",
        "retry_mode",
        "botocore retry mode (default: standard)",
        default="standard",
        choices=("standard", "adaptive", "legacy"),
    ),
    Option("--max-attempts", "max_attempts", "botocore total attempts per call, first one included", "N", positive_int),
    Option(
        "--snapshot",
        "snapshot",
        "verify offline from `aws iam get-account-authorization-details` output (.json/.json.gz)",
        "FILE",
        existing_file,
    ),
    Option(
        "--scp",
        "scps",
        "with --snapshot: SCP file(s) of the organization, root -> OUs -> account (repeatable)",
        "FILE",
        existing_file,
        [],
        "append",
    ),
    Option(
        "--demo",
        "demo",
        "verify the bundled demo account on a local IAM endpoint (no AWS needed; needs the [demo] extra)",
        default=False,
        action="store_true",
    ),
    Option(
        "--evidence-dir",
        "evidence_dir",
        "evidence bundle folder: raw answers, verdicts, checked remediation, replay snapshot, manifest "
        "(default: reports/evidence/<UTC timestamp>/; check with `python -m verification evidence verify`)",
        "DIR",
        Path,
    ),
    Option(
        "--targets",
        "targets",
        "YAML/JSON list of roles (ARNs, or account + role-name pattern) and how to reach their accounts",
        "FILE",
        existing_file,
    ),
    Option(
        "--max-rate",
        "max_rate",
        "API requests per second per account, retries included (default 5; off for a loopback endpoint; "
        "0 turns pacing off)",
        "N",
        max_rate,
    ),
    Option(
        "--prefetch",
        "prefetch",
        "read each account's roles from GetAccountAuthorizationDetails pages and batch the appliance's "
        "simulation: auto (when a run verifies at least 2 roles of the account), always, or never (per-role calls)",
        default="auto",
        choices=("auto", "always", "never"),
    ),
    Option(
        "--concurrency",
        "concurrency",
        "live API calls in flight at once (per pytest process, accounts in turn), fetched ahead of the tests "
        "under each account's pace "
        "(default 4; 1 turns it off)",
        "N",
        concurrency,
        4,
    ),
    Option(
        "--template",
        "template",
        "verify the roles a CloudFormation template (JSON/YAML) or CDK synth output declares, before deployment",
        "FILE",
        existing_file,
    ),
    Option(
        "--plan",
        "plan",
        "verify the roles a Terraform plan declares (`terraform show -json PLANFILE` output), before apply",
        "FILE",
        existing_file,
    ),
    Option(
        "--role",
        "template_roles",
        "with --template/--plan: a role's logical id or resource address (repeatable; default: every role)",
        "NAME",
        None,
        [],
        "append",
    ),
    Option(
        "--parameter",
        "parameters",
        "with --template: a parameter's value, KEY=VALUE (repeatable; wins over --parameters-file and Defaults)",
        "KEY=VALUE",
        parameter,
        [],
        "append",
    ),
    Option(
        "--parameters-file",
        "parameters_file",
        "with --template: parameter values, as `aws cloudformation` takes them ([{ParameterKey, ParameterValue}]) "
        "or a KEY: VALUE mapping (JSON/YAML)",
        "FILE",
        existing_file,
    ),
    Option(
        "--account",
        "account",
        "with --template/--plan: the account the roles will be deployed to (AWS::AccountId, ARNs)",
        "ID",
        account_id,
    ),
    # --- organization: discovery of member accounts, and shards (issue 27) ---
    Option(
        "--organization",
        "organization",
        "verify the roles of every ACTIVE account of the AWS Organization (credentials of the management "
        "account or a delegated administrator), reached by --member-role; see docs/organization.md",
        default=False,
        action="store_true",
    ),
    Option(
        "--member-role",
        "member_role",
        "with --organization: the read-only role to assume in each member account (not OrganizationAccountAccessRole)",
        "NAME",
        member_role,
    ),
    Option(
        "--role-name",
        "role_names",
        "with --organization: verify every role whose name matches PATTERN, a glob such as 'VeeamWorker*' (repeatable)",
        "PATTERN",
        role_name_pattern,
        [],
        "append",
    ),
    Option(
        "--ou",
        "ous",
        "with --organization: only accounts under this OU or root id, its descendants too (repeatable)",
        "OU_ID",
        ou_id,
        [],
        "append",
    ),
    Option(
        "--skip-ou",
        "skip_ous",
        "with --organization: leave out the accounts under this OU (repeatable)",
        "OU_ID",
        ou_id,
        [],
        "append",
    ),
    Option(
        "--skip-account",
        "skip_accounts",
        "with --organization: leave out this account, the management account too (repeatable)",
        "ID",
        skip_account,
        [],
        "append",
    ),
    Option(
        "--shard",
        "shard",
        "verify shard I of N of the accounts (a stable hash of the account id); merge the shards' folders with "
        "`python -m verification merge`",
        "I/N",
        shard,
    ),
    # --- end organization ---
    Option(
        "--step-summary",
        "step_summary",
        "append a Markdown summary (a row per role) to FILE; $GITHUB_STEP_SUMMARY is used when set",
        "FILE",
        Path,
    ),
    # -- SARIF for code scanning (issue #29): verification/plugin/sarif_output.py --------------
    Option(
        "--sarif",
        "sarif",
        "write the failed (error) and broken (warning) requirements as SARIF 2.1.0 to FILE, whatever the outcome, "
        "for GitHub code scanning; a run that names roles on the command line also writes FILE.roles.txt",
        "FILE",
        Path,
    ),
    Option(
        "--sarif-category",
        "sarif_category",
        "with --sarif: the run's category (automationDetails.id; default: derived from the run, such as "
        "template/FILE or targets/FILE; a shard's is followed by /shard-I-of-N)",
        "NAME",
        sarif_category,
    ),
    # --- excess (#28): the permissions a role holds beyond its sets, ranked by risk ---
    Option(
        "--excess",
        "excess",
        "report (default): list each role's permissions beyond its requirement sets, ranked by risk, in the "
        "summaries, Allure and the evidence; fail: also one test per risk group, excess:<group>, failing where "
        "the role holds such permissions; off: do not look (docs/excess.md)",
        default="report",
        choices=("report", "fail", "off"),
    ),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every option lives in one group, from the table above."""
    group = parser.getgroup("role verification", "Verify IAM roles against a requirement set")
    for option in OPTIONS:
        option.add_to(group)


def verification_requested(config: pytest.Config) -> bool:
    """Did the user ask this run to verify anything? Without it the plugin changes nothing."""
    return any(getattr(config.option, name, None) for name in VERIFY_OPTIONS)


def options_without_target(config: pytest.Config) -> list[str]:
    """This plugin's options the run was given, when none of VERIFY_OPTIONS names what to verify.

    An option counts as given when its value is not the default (command line, ``addopts``,
    ``@file``) or when its flag is on the command line (``--retry-mode standard`` is the default,
    but still a forgotten target). Empty for a run that names a target, or that uses none of ours.
    """
    if verification_requested(config):
        return []
    args = [str(arg) for arg in config.invocation_params.args]
    given = []
    for option in OPTIONS:
        if option.dest in VERIFY_OPTIONS:
            continue
        value = getattr(config.option, option.dest, option.default)
        named = any(arg == option.flag or arg.startswith(option.flag + "=") for arg in args)
        if named or value != option.default:
            given.append(option.flag)
    return given


def target_missing_message(given: list[str]) -> str:
    """One line: which of our options were given, and the options that name what to verify."""
    flags = {option.dest: f"{option.flag} {option.metavar}" if option.metavar else option.flag for option in OPTIONS}
    targets = [flags[name] for name in VERIFY_OPTIONS if name in flags]
    listed = ", ".join(targets[:-1]) + " or " + targets[-1]
    return f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} something to verify: add {listed}"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Settle the rootdir and ini file again, now that this plugin's options are known.

    pytest picks the rootdir before plugins load, so it takes the value of ``--snapshot FILE`` (a
    space, not ``=``) for a path to test, and moves the rootdir to that file's folder: the ini file,
    its ``testpaths`` and the cache folder are then lost. With our options known, their values are
    no longer among the paths, and the choice is made again from the paths the user really named.
    """
    ns = early_config.known_args_namespace
    if not any(getattr(ns, name, None) for name in VERIFY_OPTIONS):
        return
    from _pytest.config.findpaths import determine_setup

    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=ns.inifilename,
        override_ini=ns.override_ini,
        args=ns.file_or_dir,
        rootdir_cmd_arg=ns.rootdir or None,
        invocation_dir=early_config.invocation_params.dir,
    )
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    old_cut = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    early_config._rootpath, early_config._inipath = rootpath, inipath
    early_config._inicfg, early_config._ignored_config_files = inicfg, ignored
    early_config._inicache.clear()
    parser.extra_info["rootdir"], parser.extra_info["inifile"] = str(rootpath), str(inipath)
    if ns.confcutdir == old_cut:
        ns.confcutdir = str(inipath.parent if inipath else rootpath)
