"""One policy, two places: every spec built as CDK (synthesized for real, judged by the template
source) and as live buckets on moto (judged by the live source) gets the same verdict from
every policy. The only allowed difference: NOT_APPLICABLE at synth time, for settings
CloudFormation cannot express (MFA delete, the account-level public access block)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agreement_builders import build_live, synth_cdk_app
from agreement_specs import BUCKETS, POSTURE_CONFIG, TRAILS

from bucketwatch.localaws import MotoServer, local_aws_environment
from policies.config import parse_posture
from policies.model import ACCOUNT_RESOURCE_TYPE
from policies.registry import load_policies
from policies.runner import NOT_APPLICABLE, evaluate
from policies.sources.live import collect
from policies.sources.live_clients import accounts_for
from policies.sources.live_scan import subject_of
from policies.sources.template import collect_template_subjects

pytestmark = pytest.mark.xdist_group("agreement")

# moto does not apply the defaults AWS gives new buckets (SSE-S3, BucketOwnerEnforced, Block
# Public Access on), so the template side must not assume them either for a like-for-like run.
SETTINGS = parse_posture({**POSTURE_CONFIG, "template_assume_aws_defaults": False})
SPEC_NAMES = {spec.name for spec in BUCKETS} | {trail.name for trail in TRAILS}

Verdicts = dict[tuple[str, str], tuple[str, str]]  # (resource name, policy id) -> (status, reason)


def verdicts(subjects: list) -> Verdicts:
    findings = evaluate(load_policies(), subjects, SETTINGS)
    return {(f.ref.name, f.policy.id): (f.status, f.reason) for f in findings if f.ref.name in SPEC_NAMES}


@pytest.fixture(scope="module")
def synth_verdicts(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    """One real synth of one app holding every spec."""
    assembly = synth_cdk_app(tmp_path_factory.mktemp("agreement") / "cdk.out")
    return verdicts(collect_template_subjects([assembly], SETTINGS))


@pytest.fixture(scope="module")
def live_verdicts() -> Iterator[Verdicts]:
    """Every spec created on its own moto server, then scanned by the live source."""
    with MotoServer() as server, local_aws_environment(server):
        build_live()
        resources = collect(accounts_for(None, None, server.endpoint_url), endpoint_url=server.endpoint_url)
        # The account's own resource (account Block Public Access) has no CloudFormation form:
        # templates never produce one, so there is nothing to agree with.
        yield verdicts([subject_of(r) for r in resources if r["ResourceType"] != ACCOUNT_RESOURCE_TYPE])


def test_both_sides_judge_every_spec(synth_verdicts: Verdicts, live_verdicts: Verdicts) -> None:
    assert len(BUCKETS) >= 20
    assert {name for name, _ in synth_verdicts} == SPEC_NAMES
    assert {name for name, _ in live_verdicts} == SPEC_NAMES
    assert set(synth_verdicts) == set(live_verdicts)


@pytest.mark.parametrize("name", sorted(SPEC_NAMES))
def test_same_verdict_from_template_and_live(name: str, synth_verdicts: Verdicts, live_verdicts: Verdicts) -> None:
    mismatches = []
    for (resource, policy), (synth_status, synth_reason) in sorted(synth_verdicts.items()):
        if resource != name:
            continue
        live_status, live_reason = live_verdicts[(resource, policy)]
        if synth_status == NOT_APPLICABLE and live_status != NOT_APPLICABLE:
            continue  # CloudFormation cannot express it; the reason must say so (checked below)
        if synth_status != live_status:
            mismatches.append(f"{policy}: synth {synth_status} ({synth_reason}) vs live {live_status} ({live_reason})")
    assert not mismatches, "\n".join(mismatches)


def test_not_applicable_only_where_cloudformation_cannot_express_it(synth_verdicts: Verdicts,
                                                                   live_verdicts: Verdicts) -> None:
    synth_only = {policy for key, (status, _) in synth_verdicts.items()
                  if status == NOT_APPLICABLE and live_verdicts[key][0] != NOT_APPLICABLE
                  for policy in [key[1]]}
    assert synth_only == {"BW.S3.MFADelete"}


def test_both_sides_decide_every_pair(synth_verdicts: Verdicts, live_verdicts: Verdicts) -> None:
    # Every spec is fully resolvable: an UNKNOWN on either side would make agreement hollow.
    for side in (synth_verdicts, live_verdicts):
        assert not {key: v for key, v in side.items() if v[0] == "UNKNOWN"}


def test_the_specs_cover_good_bad_and_mixed(live_verdicts: Verdicts) -> None:
    statuses: dict[str, set[str]] = {}
    for (name, _), (status, _) in live_verdicts.items():
        statuses.setdefault(name, set()).add(status)
    assert any(s >= {"PASS", "FAIL"} for s in statuses.values())
    fails = {policy for (_, policy), (status, _) in live_verdicts.items() if status == "FAIL"}
    # Each headline policy fails somewhere in the spec set, so agreement is tested on FAILs too.
    for policy in ("BW.S3.Encryption", "BW.S3.EncryptionKMS", "BW.S3.Versioning", "BW.S3.Logging",
                   "BW.S3.PublicRead", "BW.S3.PublicWrite", "BW.S3.SecureAccess", "BW.S3.PublicAccessBlock",
                   "BW.S3.LogTargetSanity", "BW.S3.CrossAccountPrincipals", "BW.S3.MonitoringCoverage",
                   "BW.S3.AclsDisabled", "BW.CloudTrail.Logging", "BW.CloudTrail.MultiRegion"):
        assert policy in fails, f"no spec makes {policy} fail"
    # ...and coverage by a trail alone (basic and advanced selectors) passes.
    for name in ("agr-trail-covered", "agr-advanced-all"):
        assert live_verdicts[(name, "BW.S3.MonitoringCoverage")][0] == "PASS"
        assert live_verdicts[(name, "BW.S3.Logging")][0] == "FAIL"
