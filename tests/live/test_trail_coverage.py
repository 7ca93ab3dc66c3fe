"""Which selectors record ALL of a bucket's read / write data events (pure functions)."""

from __future__ import annotations

import pytest

from policies.sources.live_trails import selectors_coverage, trail_reaches_region


def basic(values, kind="All", resource_type="AWS::S3::Object"):
    return [{"ReadWriteType": kind, "DataResources": [{"Type": resource_type, "Values": values}]}]


def advanced(*conditions):
    base = [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]
    return [{"Name": "s3", "FieldSelectors": base + list(conditions)}]


@pytest.mark.parametrize(("selectors", "expected"), [
    (basic(["arn:aws:s3"]), (True, True)),
    (basic(["arn:aws:s3:::"], "ReadOnly"), (True, False)),
    (basic(["arn:aws:s3:::logs/"], "WriteOnly"), (False, True)),
    (basic(["arn:aws:s3:::logs"]), (True, True)),
    (basic(["arn:aws:s3:::logs/prefix/"]), (False, False)),   # part of the bucket only
    (basic(["arn:aws:s3:::logs2/"]), (False, False)),         # another bucket
    (basic(["arn:aws-us-gov:s3:::logs/"]), (True, True)),
    (basic(["arn:aws:s3"], resource_type="AWS::Lambda::Function"), (False, False)),
    ([], (False, False)),
])
def test_basic_selectors(selectors, expected) -> None:
    assert selectors_coverage(selectors, None, "logs") == expected


@pytest.mark.parametrize(("selectors", "expected"), [
    (advanced(), (True, True)),
    (advanced({"Field": "readOnly", "Equals": ["true"]}), (True, False)),
    (advanced({"Field": "readOnly", "Equals": ["false"]}), (False, True)),
    (advanced({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::logs/"]}), (True, True)),
    (advanced({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::lo"]}), (True, True)),
    (advanced({"Field": "resources.ARN", "StartsWith": ["arn:aws-us-gov:s3:::logs/"]}), (True, True)),
    (advanced({"Field": "resources.ARN", "NotStartsWith": ["arn:aws-cn:s3:::logs/"]}), (False, False)),
    (advanced({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::logs/secret/"]}), (False, False)),
    (advanced({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::logs/tmp/"]}), (False, False)),
    (advanced({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::other/"]}), (True, True)),
    (advanced({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::logs"]}), (False, False)),
    (advanced({"Field": "resources.ARN", "Equals": ["arn:aws:s3:::logs/a.txt"]}), (False, False)),
    (advanced({"Field": "eventName", "Equals": ["PutObject"]}), (False, False)),
    (advanced({"Field": "eventSource", "Equals": ["s3.amazonaws.com"]}), (True, True)),
    ([{"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}], (False, False)),
])
def test_advanced_selectors(selectors, expected) -> None:
    assert selectors_coverage(None, selectors, "logs") == expected


def test_read_and_write_from_separate_selectors_add_up() -> None:
    selectors = advanced({"Field": "readOnly", "Equals": ["true"]}) + advanced({"Field": "readOnly", "Equals": ["false"]})
    assert selectors_coverage(None, selectors, "logs") == (True, True)


def test_single_region_trails_reach_only_their_home_region() -> None:
    assert trail_reaches_region({"IsMultiRegionTrail": True, "HomeRegion": "us-east-1"}, "eu-west-1")
    assert trail_reaches_region({"IsMultiRegionTrail": False, "HomeRegion": "eu-west-1"}, "eu-west-1")
    assert not trail_reaches_region({"IsMultiRegionTrail": False, "HomeRegion": "us-east-1"}, "eu-west-1")
    assert not trail_reaches_region({"IsMultiRegionTrail": False, "HomeRegion": "us-east-1"}, None)
