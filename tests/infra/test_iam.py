"""No policy in the app grants every action on every resource, in any policy document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synth_support import Synthesized

pytestmark = pytest.mark.xdist_group("infra")
POLICY_PROPERTIES = ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument")


def statements(template: dict) -> Iterator[tuple[str, dict]]:
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [props[p] for p in POLICY_PROPERTIES if p in props]
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_statements_were_found(assembly: Synthesized, home_stage: str) -> None:
    found = list(statements(assembly.templates[home_stage]))
    assert len(found) > 30  # roles, keys, bucket/topic/queue policies all inspected


def test_no_allow_of_every_action_on_every_resource(assembly: Synthesized) -> None:
    for stage, template in assembly.templates.items():
        for logical_id, statement in statements(template):
            if statement["Effect"] != "Allow":
                continue
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            assert not ("*" in actions and "*" in resources), (stage, logical_id, statement)
            assert not any(a.endswith(":*") and "*" in resources for a in actions if not a.startswith("kms:")), (
                stage,
                logical_id,
                statement,
            )


def test_the_only_service_wide_grant_is_the_key_admin_default(assembly: Synthesized) -> None:
    # kms:* on the key itself for the account root is how KMS lets IAM policies manage a key.
    for template in assembly.templates.values():
        for logical_id, statement in statements(template):
            if statement["Effect"] == "Allow" and "kms:*" in as_list(statement["Action"]):
                assert template["Resources"][logical_id]["Type"] == "AWS::KMS::Key"
                assert ":root" in str(statement["Principal"])
