"""The lake's p_account_id / p_region: which account and region own each record."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.lake import LakeWriter, open_lake
from detectors.lake.ingest import ingest_inputs
from detectors.parsers.origin import (
    Origin,
    access_log_origin,
    cloudtrail_key_origin,
    cloudtrail_record_origin,
)
from detectors.schema import DB_LOGS, SCHEMA_OF_LOG_TYPE

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples" / "logs"
ACCESS_SAMPLE = SAMPLES / "s3-access" / "finance-reports" / "2024-05-14-10-00-00-5F3A0E4C1B2D7A98"
NAME = "2024-05-14-10-00-00-5F3A0E4C1B2D7A98"


@pytest.mark.parametrize(("source", "expected"), [
    # PartitionedPrefix as S3 delivers it, in the member's own log bucket ...
    (f"s3://logs-111111111111-eu-west-1/finance/111111111111/eu-west-1/finance/2024/05/14/{NAME}",
     Origin("111111111111", "eu-west-1")),
    # ... and replicated unchanged under a central archive's prefix, and as a local copy.
    (f"s3://central-archive/access-logs/222222222222/ap-southeast-2/web/2024/05/14/{NAME}.gz",
     Origin("222222222222", "ap-southeast-2")),
    (f"/tmp/dl/333333333333/us-gov-west-1/b/2024/05/14/{NAME}", Origin("333333333333", "us-gov-west-1")),
    # SimplePrefix in Bucketwatch's own regional log bucket: the bucket's name says.
    (f"s3://bucketwatch-access-logs-444444444444-us-east-2/web-assets/{NAME}", Origin("444444444444", "us-east-2")),
    # SimplePrefix anywhere else: unknown, never guessed.
    (f"s3://some-logs/web-assets/{NAME}", Origin(None, None)),
    (f"s3://some-logs/123456789012/us-east-1/{NAME}", Origin(None, None)),  # not the whole layout
])
def test_access_log_origin_comes_from_the_key(source: str, expected: Origin) -> None:
    assert access_log_origin(source) == expected


def test_cloudtrail_origin_prefers_the_record() -> None:
    key = "s3://archive/AWSLogs/o-a1b2c3d4e5/555555555555/CloudTrail/eu-central-1/2024/05/14/x.json.gz"
    fallback = cloudtrail_key_origin(key)
    assert fallback == Origin("555555555555", "eu-central-1")
    record = {"recipientAccountId": "666666666666", "awsRegion": "sa-east-1"}
    assert cloudtrail_record_origin(record, fallback) == Origin("666666666666", "sa-east-1")
    assert cloudtrail_record_origin({"recipientAccountId": 5, "awsRegion": "nowhere"}, fallback) == fallback


def _trail_file(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"Records": records}))


def _record(account: str, region: str, event_id: str) -> dict:
    return {"eventVersion": "1.09", "eventTime": "2024-05-14T10:00:00Z", "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "awsRegion": region, "recipientAccountId": account, "eventID": event_id,
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}}


def test_lake_rows_carry_account_and_region_usable_in_sql(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for account, region in (("111111111111", "us-east-1"), ("222222222222", "eu-west-1")):
        target = logs / account / region / "finance-reports" / "2024" / "05" / "14" / NAME
        target.parent.mkdir(parents=True)
        # Each account's log names its own bucket (byte-identical objects are one object's copies).
        target.write_text(ACCESS_SAMPLE.read_text().replace("finance-reports", f"finance-{account}"))
    _trail_file(logs / "AWSLogs" / "333333333333" / "CloudTrail" / "us-west-2" / "2024" / "05" / "14" / "t.json",
                [_record("333333333333", "us-west-2", "e1"), _record("444444444444", "ap-south-1", "e2")])
    lake = tmp_path / "lake"
    stats = ingest_inputs([str(logs)], lake)
    assert stats.quarantined == 0
    con = open_lake(lake)
    lines = sum(1 for line in ACCESS_SAMPLE.read_text().splitlines() if line.strip())
    access = con.execute(
        "SELECT p_account_id, p_region, COUNT(*) FROM panther_logs.aws_s3serveraccess "
        "GROUP BY ALL ORDER BY 1").fetchall()
    assert access == [("111111111111", "us-east-1", lines), ("222222222222", "eu-west-1", lines)]
    trail = con.execute("SELECT eventID, p_account_id, p_region FROM panther_logs.aws_cloudtrail ORDER BY 1").fetchall()
    assert trail == [("e1", "333333333333", "us-west-2"), ("e2", "444444444444", "ap-south-1")]
    across = con.execute("SELECT COUNT(DISTINCT p_account_id) FROM panther_views.all_ip_addresses "
                         "WHERE p_region IN ('us-east-1', 'eu-west-1', 'us-west-2')").fetchone()
    assert across == (3,)


def test_files_written_before_the_columns_existed_still_answer(tmp_path: Path) -> None:
    """A lake written by an older version has no p_account_id: its rows read as NULL, not an error."""
    schema = SCHEMA_OF_LOG_TYPE["AWS.S3ServerAccess"]
    old_schema = pa.schema([f for f in schema if f.name not in ("p_account_id", "p_region")])
    row = {f.name: None for f in old_schema}
    row.update(bucket="old-bucket", p_row_id="r1", p_event_time=pa.scalar(0, pa.timestamp("ms")).as_py())
    folder = tmp_path / DB_LOGS / "aws_s3serveraccess" / "year=2020" / "month=01" / "day=01" / "hour=00"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), folder / "part-old.parquet")
    con = open_lake(tmp_path)
    assert con.execute("SELECT bucket, p_account_id, p_region FROM panther_logs.aws_s3serveraccess").fetchall() == [
        ("old-bucket", None, None)]
    LakeWriter(tmp_path)  # the writer still opens the same folder


def test_empty_lake_lists_only_its_own_tables_with_one_timestamp_type(tmp_path: Path) -> None:
    """No internal helper tables in SHOW ALL TABLES; every timestamp reads as TIMESTAMP, as from Parquet."""
    con = open_lake(tmp_path / "nothing-yet")
    names = {row[2] for row in con.execute("SHOW ALL TABLES").fetchall()}
    assert names == {"aws_s3serveraccess", "aws_cloudtrail", "all_ip_addresses", "all_aws_arns", "all_aws_account_ids"}
    types = {row[0] for row in con.execute(
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE column_name LIKE 'p_%time'").fetchall()}
    assert types == {"TIMESTAMP"}
