"""The demo account made fresh for a test that changes it leaves the process's other accounts alone.

moto keeps one state per process, shared by every endpoint in an xdist worker: when the demo
account's endpoint was cleared with moto's own reset, the session's fleet of five accounts went
with it, and the scale and SARIF tests that ran after it in that worker found no role.
"""

from __future__ import annotations

import json

from tests.support.accounts import fresh_accounts, plain_session
from tests.support.sessions import assumed_session
from verification.endpoint import start_endpoint

from .conftest import DEMO_ACCOUNT, MISCONFIGURED

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
CHANGE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVolumes", "Resource": "*"}]}


def test_the_demo_account_is_forgotten_and_no_other() -> None:
    demo = json.loads(DEMO_ACCOUNT.read_text())
    with start_endpoint() as shared:
        other = assumed_session(shared.url, "310000000077", "Tester").client("iam", endpoint_url=shared.url)
        other.create_role(RoleName="KeptWorker", AssumeRolePolicyDocument=json.dumps(TRUST))
        with fresh_accounts(demo) as endpoint:
            iam = plain_session().client("iam", endpoint_url=endpoint.url)  # moto's default account: the demo's
            name = MISCONFIGURED.rsplit("/", 1)[-1]
            iam.put_role_policy(RoleName=name, PolicyName="changed", PolicyDocument=json.dumps(CHANGE))
        assert other.get_role(RoleName="KeptWorker")["Role"]["RoleName"] == "KeptWorker"
        # The demo account is forgotten: it seeds again as it was, without the change.
        with fresh_accounts(demo) as endpoint:
            iam = plain_session().client("iam", endpoint_url=endpoint.url)
            assert "changed" not in iam.list_role_policies(RoleName=name)["PolicyNames"]
