"""The lake: Glue databases and tables from detectors/schema.py with partition projection, the
IP view, the Athena workgroup and the processed bucket."""

from __future__ import annotations

import base64
import json

import pytest
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, HOME_REGION, Synthesized, render

from detectors import schema
from policies.posture_handler import POSTURE_FINDINGS_SCHEMA

pytestmark = pytest.mark.xdist_group("infra")
LAKE = f"s3://bucketwatch-lake-{ACCOUNT}-{HOME_REGION}"


def tables(assembly: Synthesized, stage: str) -> dict[str, dict]:
    template = assembly.templates[stage]
    found = {}
    for table in assembly.resources(stage, "AWS::Glue::Table").values():
        props = render(table["Properties"], template)
        found[f"{props['DatabaseName']}.{props['TableInput']['Name']}"] = props
    return found


def test_lake_as_a_template_spec(assembly: Synthesized, home_stage: str) -> None:
    template = Template.from_json(assembly.templates[home_stage])
    template.resource_count_is("AWS::Glue::Database", 4)
    template.resource_count_is("AWS::Glue::Table", 8)  # 5 tables, 3 views
    template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "DatabaseName": "panther_logs",
            "TableInput": Match.object_like(
                {
                    "Name": "aws_s3serveraccess",
                    "Parameters": Match.object_like({"projection.enabled": "true", "projection.month.digits": "2"}),
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {"WorkGroupConfiguration": Match.object_like({"EnforceWorkGroupConfiguration": True})},
    )


def test_databases(assembly: Synthesized, home_stage: str) -> None:
    names = {d["Properties"]["DatabaseInput"]["Name"] for d in assembly.resources(home_stage, "AWS::Glue::Database").values()}
    assert names == {"panther_logs", "panther_rule_matches", "panther_views", "bucketwatch"}


@pytest.mark.parametrize(
    ("database", "table", "arrow_schema"),
    [
        ("panther_logs", "aws_s3serveraccess", schema.S3_ACCESS_SCHEMA),
        ("panther_logs", "aws_cloudtrail", schema.CLOUDTRAIL_SCHEMA),
        ("panther_rule_matches", "aws_s3serveraccess", schema.rule_matches_schema(schema.LOG_TYPE_S3)),
        ("panther_rule_matches", "aws_cloudtrail", schema.rule_matches_schema(schema.LOG_TYPE_CLOUDTRAIL)),
        ("bucketwatch", "posture_findings", POSTURE_FINDINGS_SCHEMA),
    ],
)
def test_table_columns_and_projection(assembly: Synthesized, home_stage: str, database: str, table: str, arrow_schema) -> None:
    props = tables(assembly, home_stage)[f"{database}.{table}"]["TableInput"]
    location = f"{LAKE}/{database}/{table}/"
    storage = props["StorageDescriptor"]
    assert storage["Location"] == location
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [(f.name, schema.glue_type(f.type)) for f in arrow_schema]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert props["PartitionKeys"] == [{"Name": c, "Type": "int"} for c in ("year", "month", "day", "hour")]
    assert props["TableType"] == "EXTERNAL_TABLE"
    assert props["Parameters"] == {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.year.type": "integer",
        "projection.year.range": "2006,2099",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": f"{location}year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}/",
    }


@pytest.mark.parametrize("table", ["panther_logs.aws_s3serveraccess", "panther_logs.aws_cloudtrail",
                                   "panther_rule_matches.aws_cloudtrail", "bucketwatch.posture_findings"])
def test_every_lake_table_says_which_account_and_region(assembly: Synthesized, home_stage: str, table: str) -> None:
    """The organization's data contract: p_account_id and p_region are columns Athena can filter and group on."""
    columns = tables(assembly, home_stage)[table]["TableInput"]["StorageDescriptor"]["Columns"]
    assert {"Name": "p_account_id", "Type": "string"} in columns
    assert {"Name": "p_region", "Type": "string"} in columns


def test_rule_match_tables_carry_the_alert_columns(assembly: Synthesized, home_stage: str) -> None:
    props = tables(assembly, home_stage)["panther_rule_matches.aws_s3serveraccess"]["TableInput"]
    names = [c["Name"] for c in props["StorageDescriptor"]["Columns"]]
    assert names[-6:] == ["p_rule_id", "p_alert_id", "p_rule_severity", "p_alert_creation_time", "p_alert_update_time", "p_rule_tags"]


@pytest.mark.parametrize(
    ("view", "indicator"),
    [("all_ip_addresses", "p_any_ip_addresses"), ("all_aws_arns", "p_any_aws_arns"), ("all_aws_account_ids", "p_any_aws_account_ids")],
)
def test_indicator_views_are_athena_views_over_both_log_tables(
    assembly: Synthesized, home_stage: str, view: str, indicator: str
) -> None:
    props = tables(assembly, home_stage)[f"panther_views.{view}"]["TableInput"]
    assert props["TableType"] == "VIRTUAL_VIEW"
    assert props["Parameters"]["presto_view"] == "true"
    text = props["ViewOriginalText"]
    assert text.startswith("/* Presto View: ") and text.endswith(" */")
    definition = json.loads(base64.b64decode(text.removeprefix("/* Presto View: ").removesuffix(" */")))
    assert definition["catalog"] == "awsdatacatalog" and definition["schema"] == "panther_views"
    columns = f"p_log_type, p_row_id, p_event_time, p_source, p_account_id, p_region, {indicator}, year, month, day, hour"
    assert definition["originalSql"] == (
        f"SELECT {columns} FROM panther_logs.aws_s3serveraccess UNION ALL SELECT {columns} FROM panther_logs.aws_cloudtrail"
    )
    assert [(c["name"], c["type"]) for c in definition["columns"]] == [
        ("p_log_type", "varchar"),
        ("p_row_id", "varchar"),
        ("p_event_time", "timestamp"),
        ("p_source", "varchar"),
        ("p_account_id", "varchar"),
        ("p_region", "varchar"),
        (indicator, "array(varchar)"),
        ("year", "integer"),
        ("month", "integer"),
        ("day", "integer"),
        ("hour", "integer"),
    ]


def test_workgroup_encrypts_results_and_enforces_its_settings(assembly: Synthesized, home_stage: str) -> None:
    (workgroup,) = assembly.resources(home_stage, "AWS::Athena::WorkGroup").values()
    config = render(workgroup["Properties"]["WorkGroupConfiguration"], assembly.templates[home_stage])
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"] == {
        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": f"<{monitoring_key(assembly, home_stage)}.Arn>"},
        "OutputLocation": f"{LAKE}/athena-results/",
    }


def test_processed_bucket(assembly: Synthesized, home_stage: str) -> None:
    template = assembly.templates[home_stage]
    bucket = next(
        b["Properties"] for b in assembly.resources(home_stage, "AWS::S3::Bucket").values()
        if render(b["Properties"]["BucketName"], template) == LAKE.removeprefix("s3://")
    )
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": [monitoring_key(assembly, home_stage), "Arn"]},
            },
        }
    ]
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert (rules["athena-results"]["Prefix"], rules["athena-results"]["ExpirationInDays"]) == ("athena-results/", 30)
    assert rules["lake-retention"]["ExpirationInDays"] == 365 and "Prefix" not in rules["lake-retention"]
    assert "ObjectLockEnabled" not in bucket  # opt-in; see test_gate


def monitoring_key(assembly: Synthesized, stage: str) -> str:
    return next(
        k for k, v in assembly.resources(stage, "AWS::KMS::Key").items() if v["Properties"]["Description"] == "Bucketwatch monitoring"
    )
