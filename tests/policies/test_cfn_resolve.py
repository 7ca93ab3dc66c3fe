"""Intrinsic functions: resolved where the answer is fixed at synth time, Unresolved otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.sources.cfn_load import Template
from policies.sources.cfn_resolve import Resolver, Unresolved, first_unresolved
from policies.sources.template import collect_template_subjects

BODY = {
    "Parameters": {"Env": {"Type": "String", "Default": "prod"}},
    "Mappings": {"Retention": {"prod": {"Days": 365}}},
    "Conditions": {
        "Yes": {"Fn::Equals": ["a", "a"]},
        "No": {"Fn::Not": [{"Condition": "Yes"}]},
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "YesOrProd": {"Fn::Or": [{"Condition": "Yes"}, {"Condition": "IsProd"}]},
        "NoAndProd": {"Fn::And": [{"Condition": "No"}, {"Condition": "IsProd"}]},
    },
    "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}, "Role": {"Type": "AWS::IAM::Role"}},
}


@pytest.fixture
def resolver() -> Resolver:
    template = Template(path=Path("t.json"), body=BODY, stack="app", account="111122223333")
    return Resolver(template, {"Bucket": "app-bucket"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Fn::Join": ["-", ["a", 1, True]]}, "a-1-true"),
        ({"Fn::Sub": "${AWS::AccountId}-${Bucket}-${!Literal}"}, "111122223333-app-bucket-${Literal}"),
        ({"Fn::Sub": ["${X}/${Bucket.Arn}", {"X": "x"}]}, "x/arn:aws:s3:::app-bucket"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"Fn::FindInMap": ["Retention", "prod", "Days"]}, 365),
        ({"Fn::If": ["Yes", "on", "off"]}, "on"),
        ({"Fn::If": ["YesOrProd", "on", "off"]}, "on"),  # Or with one decided true branch
        ({"Fn::If": ["NoAndProd", "on", "off"]}, "off"),  # And with one decided false branch
        ({"Fn::GetAtt": ["Role", "Arn"]}, "arn:aws:iam::111122223333:role/${Role}"),
        ({"Ref": "Role"}, "${Role}"),
        ({"A": {"Ref": "AWS::NoValue"}, "B": [1, {"Ref": "AWS::NoValue"}]}, {"B": [1]}),
    ],
)
def test_resolved(resolver: Resolver, value, expected) -> None:
    assert resolver.resolve(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"Ref": "Env"}, "parameter Env is given at deploy time"),
        ({"Fn::If": ["IsProd", "on", "off"]}, "parameter Env"),
        ({"Fn::GetAZs": ""}, "Fn::GetAZs is only evaluated at deploy time"),
        ({"Fn::ImportValue": "other-stack:Name"}, "comes from another stack"),
        ({"Fn::Join": ["", ["arn:", {"Ref": "Env"}]]}, "parameter Env"),
        ({"Ref": "Nothing"}, "does not define"),
        ({"Fn::FindInMap": ["Retention", "dev", "Days"]}, "no entry"),
    ],
)
def test_unresolved(resolver: Resolver, value, reason) -> None:
    found = first_unresolved(resolver.resolve(value))
    assert isinstance(found, Unresolved) and reason in found.reason


def test_resources_whose_condition_is_false_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "Conditions:\n  Never: !Equals [a, b]\n  Param: !Equals [!Ref P, x]\nParameters:\n  P: {Type: String}\n"
        "Resources:\n  Skipped:\n    Type: AWS::S3::Bucket\n    Condition: Never\n"
        "  Maybe:\n    Type: AWS::S3::Bucket\n    Condition: Param\n"
    )
    assert [s.ref.logical_id for s in collect_template_subjects([str(tmp_path / "t.yaml")])] == ["Maybe"]
