"""Deployment settings from context: defaults, overrides, the organization, and one-line errors
naming the key for every bad value (exit 2 from `python app.py`, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from synth_support import REPO_ROOT, no_credentials_env

from infra.config import PROJECT_DIR, ConfigError, deployments_from_context, plan_from_context
from infra.trail import ReadWrite

LAYER_US = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python314:3"
LAYER_EU = "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python314:2"
CENTRAL = {"account": "999999999999", "region": "us-east-1"}
MEMBERS = [{"account": "111111111111", "regions": ["us-east-1", "eu-west-1"]}, {"account": "222222222222", "regions": ["eu-west-1"]}]
REASON = "write events only: reads are covered by the access logs"


def org(**changes) -> dict:
    return {"organization": {"id": "o-a1b2c3d4e5", "central": CENTRAL, "members": MEMBERS, **changes}}


def test_no_deployments_means_one_for_the_cli_default_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    (only,) = deployments_from_context({"deployments": []})
    assert (only.account, only.region, only.stage_id, only.trail, only.posture) == (None, None, "Bucketwatch", True, True)
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "222222222222")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "ap-south-1")
    (only,) = deployments_from_context(None)
    assert only.stage_id == "Bucketwatch-222222222222-ap-south-1"


def test_defaults_overrides_and_one_trail_and_one_scanner_per_account() -> None:
    deployments = deployments_from_context(
        {
            "defaults": {
                "detectorReservedConcurrency": 3,
                "dataEvents": {"buckets": ["payroll/"], "readWrite": "write", "waiverReason": REASON},
            },
            "deployments": [
                {"account": "111111111111", "region": "us-east-1"},
                {"account": "111111111111", "region": "eu-west-1", "detectorReservedConcurrency": 7},
                {"account": "333333333333", "region": "eu-west-1"},
            ],
        }
    )
    assert [d.trail for d in deployments] == [True, False, True]
    assert [d.posture for d in deployments] == [True, False, True]
    assert [d.detector_reserved_concurrency for d in deployments] == [3, 7, 3]
    assert [d.account_regions for d in deployments] == [("us-east-1", "eu-west-1")] * 2 + [("eu-west-1",)]
    assert deployments[0].data_events.scope.locations == ("payroll/",)
    assert deployments[0].data_events.scope.read_write is ReadWrite.WRITE_ONLY
    assert deployments[0].data_events.waiver_reason == REASON


def test_layer_arn_is_chosen_per_region() -> None:
    deployments = deployments_from_context(
        {
            "defaults": {"pyarrowLayerArns": {"us-east-1": LAYER_US, "eu-west-1": LAYER_EU}},
            "deployments": [
                {"account": "111111111111", "region": "us-east-1"},
                {"account": "111111111111", "region": "eu-west-1"},
                {"account": "111111111111", "region": "ap-south-1"},  # none given: asked at deploy time
            ],
        }
    )
    assert [d.pyarrow_layer_arn for d in deployments] == [LAYER_US, LAYER_EU, None]


def test_organization_plan() -> None:
    plan = plan_from_context(
        {
            "defaults": {"dataEvents": {"buckets": ["payroll"]}, "pyarrowLayerArns": {"us-east-1": LAYER_US}},
            **org(trustedAccounts=["444455556666"], members=[*MEMBERS, {"account": "333333333333", "regions": ["eu-west-1"], "trail": False}]),
        }
    )
    assert plan.deployments == ()
    organization = plan.organization
    assert organization is not None
    assert organization.accounts == ("999999999999", "111111111111", "222222222222", "333333333333")
    assert organization.central.stage_id == "Bucketwatch-999999999999-us-east-1"
    assert organization.central.pyarrow_layer_arn == LAYER_US
    assert organization.audit_role_name == "BucketwatchAudit"
    assert [(m.account, m.home_region, m.trail) for m in organization.members] == [
        ("111111111111", "us-east-1", True), ("222222222222", "eu-west-1", True), ("333333333333", "eu-west-1", False)
    ]
    # Members inherit the default data events unless they say otherwise.
    assert organization.members[0].data_events.scope.locations == ("payroll",)
    assert json.loads(organization.settings().to_json()) == {
        "id": "o-a1b2c3d4e5",
        "accounts": ["999999999999", "111111111111", "222222222222", "333333333333"],
        "trusted_accounts": ["444455556666"],
        "audit_role_name": "BucketwatchAudit",
    }


def test_context_given_as_a_json_string_on_the_command_line() -> None:
    # `cdk synth -c bucketwatch='{...}'` hands the app a string.
    plan = plan_from_context(json.dumps(org()))
    assert plan.organization is not None and plan.organization.central_account == "999999999999"


W = "context.bucketwatch"
BAD = [
    # single-account stages
    ({"deployments": [{"account": "12345", "region": "us-east-1"}]},
     f"{W}.deployments[0].account: '12345' is not a 12-digit AWS account id"),
    ({"deployments": [{"account": "111111111111", "region": "mars-1"}]},
     f"{W}.deployments[0].region: 'mars-1' is not an AWS region name like us-east-1"),
    ({"deployments": [{"account": "111111111111", "region": "eu-wset-1"}]},
     f"{W}.deployments[0].region: 'eu-wset-1' is not a known AWS region; did you mean eu-west-1?"),
    ({"deployments": [{"regoin": "us-east-1"}]},
     f"{W}.deployments[0]: unknown key(s) regoin (did you mean region?); expected account, configFile, dataEvents, "
     "detectorMemoryMb, detectorReservedConcurrency, notifier, objectLockDays, posture, postureSchedule, pyarrowLayerArn, "
     "pyarrowLayerArns, region, scanRegions, scheduledAnalysis, trail"),
    ({"deployments": {"account": "111111111111"}}, f"{W}.deployments: expected a list, got dict"),
    ({"defaults": {"dataEvents": {"readWrite": "both"}}},
     f"{W}.defaults.dataEvents.readWrite: 'both' is not one of all, read, write"),
    ({"defaults": {"dataEvents": {"buckets": "payroll"}}}, f"{W}.defaults.dataEvents.buckets: expected a list, got str"),
    ({"defaults": {"postureSchedule": "daily"}},
     f"{W}.defaults.postureSchedule: expected an EventBridge expression like 'rate(1 day)' or 'cron(0 6 * * ? *)', got 'daily'"),
    ({"defaults": {"detectorReservedConcurrency": 0}},
     f"{W}.defaults.detectorReservedConcurrency: expected a whole number from 1 to 1000, got 0"),
    ({"defaults": {"trail": "yes"}}, f"{W}.defaults.trail: expected true or false, got 'yes'"),
    ({"deploy": []}, f"{W}: unknown key(s) deploy (did you mean deployments?); expected defaults, deployments, organization"),
    ({"deployments": [{"account": "111111111111", "region": "us-east-1"}] * 2},
     f"{W}.deployments[1]: Bucketwatch-111111111111-us-east-1 is listed twice (also at [0])"),
    # data events that the gate would refuse, or that would make the trail log itself
    ({"deployments": [{"account": "222222222222", "region": "us-east-1", "dataEvents": {"readWrite": "write"}}]},
     f"{W}.deployments[0].dataEvents.readWrite: 'write' records no S3 read data events, which fails the "
     f"BW.CloudTrail.S3DataEvents gate at synthesis; use 'all', or say why in {W}.deployments[0].dataEvents.waiverReason"),
    ({"defaults": {"dataEvents": {"readWrite": "read", "waiverReason": "cheaper"}}},
     f"{W}.defaults.dataEvents.waiverReason: a reason of at least 20 characters, got 'cheaper'"),
    ({"defaults": {"dataEvents": {"waiverReason": REASON}}},
     f"{W}.defaults.dataEvents.waiverReason: only needed when readWrite is 'read' or 'write'; remove it"),
    ({"defaults": {"dataEvents": {"buckets": ["ok", "bucketwatch-lake-111111111111-us-east-1/panther_logs/"]}}},
     f"{W}.defaults.dataEvents.buckets[1]: 'bucketwatch-lake-111111111111-us-east-1' is one of the monitoring's "
     "own buckets; recording it would make the trail log its own deliveries"),
    # one posture scanner per account
    ({"deployments": [{"account": "111111111111", "region": "us-east-1"},
                      {"account": "111111111111", "region": "eu-west-1", "posture": True}]},
     f"{W}.deployments[1].posture: account 111111111111 already has a posture scanner ({W}.deployments[0]); "
     "one per account, or every bucket is scanned and alerted on twice"),
    # layers are regional
    ({"deployments": [{"account": "111111111111", "region": "eu-west-1", "pyarrowLayerArn": LAYER_US}]},
     f"{W}.deployments[0].pyarrowLayerArn: the layer is in us-east-1 but the stage is in eu-west-1; layers are "
     "regional, give one per region in pyarrowLayerArns"),
    ({"defaults": {"pyarrowLayerArns": {"eu-west-1": LAYER_US}}},
     f"{W}.defaults.pyarrowLayerArns.eu-west-1: the layer ARN is in us-east-1; layers are regional"),
    ({"defaults": {"pyarrowLayerArns": {"us-east-1": "pandas"}}},
     f"{W}.defaults.pyarrowLayerArns.us-east-1: expected a Lambda layer version ARN like "
     "arn:aws:lambda:<region>:336392948345:layer:AWSSDKPandas-Python314:<n>, got 'pandas'"),
    # the config file: where it is, and what the CLI would say about it
    ({"defaults": {"configFile": "../outside.yml"}},
     f"{W}.defaults.configFile: '../outside.yml' is outside the project directory {PROJECT_DIR}; "
     "the Lambda bundle only takes files inside it"),
    ({"defaults": {"configFile": "/etc/passwd"}},
     f"{W}.defaults.configFile: '/etc/passwd' is outside the project directory {PROJECT_DIR}; "
     "the Lambda bundle only takes files inside it"),
    ({"defaults": {"configFile": "nope.yml"}},
     f"{W}.defaults.configFile: 'nope.yml' does not exist; give a path relative to {PROJECT_DIR}"),
    # the organization
    ({**org(), "deployments": [{"account": "111111111111", "region": "us-east-1"}]},
     f"{W}: give either 'deployments' (single-account stages) or 'organization', not both"),
    ({"organization": {"id": "o-a1b2c3d4e5", "members": MEMBERS}},
     f"{W}.organization.central: missing: name the central security account, e.g. "
     '{"account": "999999999999", "region": "us-east-1"}'),
    ({"organization": {"central": CENTRAL, "members": MEMBERS}},
     f"{W}.organization.id: missing: the AWS Organizations id (o-...) scopes every cross-account grant (aws:PrincipalOrgID)"),
    (org(id="a1b2c3"), f"{W}.organization.id: 'a1b2c3' is not an AWS Organizations id like o-a1b2c3d4e5"),
    (org(central={"account": "999999999999"}),
     f"{W}.organization.central.region: missing: the central stage needs a concrete account and region"),
    (org(members=[MEMBERS[0], {"account": "111111111111", "regions": ["us-east-1"]}]),
     f"{W}.organization.members[1].account: '111111111111' is listed twice (also at {W}.organization.members[0])"),
    (org(members=[{"account": "999999999999", "regions": ["eu-west-1"]}]),
     f"{W}.organization.members[0].account: '999999999999' is the central account; the central stage monitors "
     "its own region, list only other accounts"),
    (org(members=[{"account": "111111111111", "regions": ["us-east-1", "eu-wset-1"]}]),
     f"{W}.organization.members[0].regions[1]: 'eu-wset-1' is not a known AWS region; did you mean eu-west-1?"),
    (org(members=[{"account": "111111111111", "regions": ["us-east-1", "us-east-1"]}]),
     f"{W}.organization.members[0].regions[1]: 'us-east-1' is listed twice (also at [0])"),
    (org(members=[{"account": "111111111111"}]),
     f"{W}.organization.members[0].regions: missing: the member's regions, e.g. [\"us-east-1\", \"eu-west-1\"]"),
    (org(members=[]), f"{W}.organization.members: must list at least one value"),
    (org(members=[{"account": "111111111111", "regions": ["us-east-1"], "dataEvents": {"readWrite": "read"}}]),
     f"{W}.organization.members[0].dataEvents.readWrite: 'read' records no S3 write data events, which fails the "
     f"BW.CloudTrail.S3DataEvents gate at synthesis; use 'all', or say why in {W}.organization.members[0].dataEvents.waiverReason"),
    (org(members=[{"account": "111111111111", "regions": ["us-east-1"], "scanRegions": []}]),
     f"{W}.organization.members[0]: unknown key(s) scanRegions (did you mean regions?); expected account, dataEvents, regions, trail"),
    (org(central={**CENTRAL, "posture": False}),
     f"{W}.organization.central.posture: the central stage runs the organization's posture scan; it cannot be off"),
    (org(auditRoleName="Audit Role"),
     f"{W}.organization.auditRoleName: expected an IAM role name (letters, digits and +=,.@_-, up to 64), got 'Audit Role'"),
    (org(trustedAccounts=["222222222222"]),
     f"{W}.organization.trustedAccounts[0]: '222222222222' is in the organization already; list only partners outside it"),
]


@pytest.mark.parametrize(("context", "message"), BAD, ids=[m.split(":")[0].removeprefix(W) or "top" for _, m in BAD])
def test_bad_values_are_refused_in_one_line_naming_the_key(context: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_from_context(context)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


def test_bad_config_file_gives_the_clis_error_with_the_key(tmp_path) -> None:
    bad = PROJECT_DIR / "build" / f"bad-config-{tmp_path.name}.yml"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text("detections:\n  ip_allowlist:\n    - cidrs: [10.0.0.0/33]\n")
    try:
        with pytest.raises(ConfigError) as raised:
            plan_from_context({"defaults": {"configFile": str(bad.relative_to(PROJECT_DIR))}})
    finally:
        bad.unlink()
    message = str(raised.value)
    assert message.startswith(f"{W}.defaults.configFile: build/{bad.name}: detections.ip_allowlist[0].cidrs[0]: ")
    assert "'10.0.0.0/33' is not an IP network in CIDR notation" in message


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"bucketwatch": {"deployments": [{"account": "nope", "region": "us-east-1"}]}},
         f"{W}.deployments[0].account: 'nope' is not a 12-digit AWS account id"),
        ({"bucketwatch": org(members=[MEMBERS[0], MEMBERS[0]])},
         f"{W}.organization.members[1].account: '111111111111' is listed twice (also at {W}.organization.members[0])"),
        ({"bucketwatch": "{not json"},
         f"{W}: is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ],
)
def test_app_reports_bad_context_in_one_line_and_exits_2(tmp_path, context: dict, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=no_credentials_env(CDK_OUTDIR=str(tmp_path), CDK_CONTEXT_JSON=json.dumps(context)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr == f"bucketwatch app: error: {message}\n"
