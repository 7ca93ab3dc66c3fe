"""PantherEvent and the Panther-compatible helper modules."""

from __future__ import annotations

import pytest

from detectors.engine.rules import ensure_helpers_importable
from detectors.event import PantherEvent

ensure_helpers_importable()

import panther_aws_helpers as aws  # noqa: E402
import panther_base_helpers as base  # noqa: E402


def test_keys_are_case_insensitive_at_every_depth():
    event = PantherEvent({"tlsversion": "TLSv1.2", "userIdentity": {"sessionContext": {"Attributes": {"mfa": "true"}}}})
    assert event["tlsVersion"] == "TLSv1.2"
    assert event.get("TLSVERSION") == "TLSv1.2"
    assert "TlsVersion" in event
    assert event.deep_get("useridentity", "SessionContext", "attributes", "MFA") == "true"
    assert event.get("missing", "x") == "x"
    with pytest.raises(KeyError):
        event["missing"]


def test_exact_spelling_wins_over_other_case():
    event = PantherEvent({"Key": "upper", "key": "lower"})
    assert event["key"] == "lower" and event["Key"] == "upper"


def test_event_is_immutable_including_nested_lists():
    event = PantherEvent({"a": {"b": [1, {"c": 2}]}})
    with pytest.raises(TypeError):
        event["a"] = 1  # type: ignore[index]
    items = event["a"]["b"]
    assert isinstance(items, tuple) and items[1]["C"] == 2


def test_deep_get_default_on_missing_or_null():
    event = PantherEvent({"a": {"b": None}})
    assert event.deep_get("a", "b", default="d") == "d"
    assert event.deep_get("a", "x", "y", default=0) == 0


@pytest.mark.parametrize(("identity", "actor"), [
    ({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/jane",
      "sessionContext": {"sessionIssuer": {"userName": "Admin"}}}, "Admin"),
    ({"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/alice"}, "alice"),
    ({"type": "Root", "arn": "arn:aws:iam::1:root", "accountId": "1"}, "1"),
    ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, "cloudtrail.amazonaws.com"),
])
def test_udm_actor_user_for_cloudtrail(identity, actor):
    event = PantherEvent({"eventName": "GetObject", "userIdentity": identity})
    assert event.udm("actor_user") == actor


def test_udm_for_s3_access_uses_the_data_model():
    event = PantherEvent({"p_log_type": "AWS.S3ServerAccess", "remoteip": "1.2.3.4", "httpstatus": 403})
    assert event.udm("source_ip") == "1.2.3.4" and event.udm("http_status") == 403


def test_base_helpers():
    assert base.deep_get({"a": {"b": 1}}, "a", "b") == 1
    assert base.deep_get({"a": None}, "a", "b", default="d") == "d"
    assert base.deep_walk({"a": [{"b": 1}, {"b": 2}, {"b": 1}]}, "a", "b") == [1, 2]
    assert base.deep_walk({"a": [{"b": 1}, {"b": 2}]}, "a", "b", return_val="last") == 2
    assert base.pattern_match("REST.GET.OBJECT", "REST.*.OBJECT")
    assert not base.pattern_match("REST.GET.BUCKET", "REST.*.OBJECT")
    assert not base.pattern_match(None, "*")
    assert base.pattern_match_list("a/b", ["x*", "a/*"])
    assert base.is_ip_in_network("10.1.2.3", ["10.0.0.0/8"])
    assert not base.is_ip_in_network("2001:db8::1", ["10.0.0.0/8"])
    assert not base.is_ip_in_network("not-an-ip", ["10.0.0.0/8"])


def test_aws_helpers():
    assert aws.aws_cloudtrail_success({"errorCode": ""})
    assert not aws.aws_cloudtrail_success({"errorCode": "AccessDenied"})
    assert not aws.aws_cloudtrail_success({"errorMessage": "nope"})
    context = aws.aws_rule_context(PantherEvent({"eventName": "PutBucketPolicy", "userIdentity": {"arn": "x"}}))
    assert context["eventName"] == "PutBucketPolicy" and context["userIdentity"] == {"arn": "x"}
    assert context["awsRegion"] == "<MISSING_AWS_REGION>"
    assert aws.aws_strip_role_session_id("arn:aws:sts::1:assumed-role/R/s") == "arn:aws:sts::1:assumed-role/R"
