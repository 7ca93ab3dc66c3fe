"""The log-type registry: a third log type, declared here and nowhere else, is sniffed, parsed,
written to the lake, queryable through the DuckDB views and gets its Glue tables from infra's
Lake construct, with no other code change. Also: the registry's own rules (unique names, one
catch-all) and that the two built-in types keep their order and sniffing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from detectors import logtypes
from detectors.event import PantherEvent, guess_log_type
from detectors.lake import open_lake
from detectors.lake.ingest import ingest_inputs
from detectors.parsers.detect import detect_log_type
from detectors.pipeline import ParsedBatch, Reader, parse_inputs
from detectors.quarantine import MemoryQuarantine
from detectors.schema import DB_LOGS, DB_RULE_MATCHES, P_FIELDS, TIMESTAMP, glue_type, rule_matches_schema

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples" / "logs"
ACCESS_SAMPLE = SAMPLES / "s3-access" / "finance-reports" / "2024-05-14-10-00-00-5F3A0E4C1B2D7A98"

# --- the toy log type: door badge readers writing JSON lines ------------------------------------

BADGES = "Toy.Badges"
BADGES_SCHEMA = pa.schema([
    pa.field("badgeTime", TIMESTAMP),
    pa.field("holder", pa.string()),
    pa.field("door", pa.string()),
    pa.field("readerIp", pa.string()),
    *P_FIELDS,
])


def sniff_badges(head: bytes) -> str | None:
    first_line = head.lstrip().partition(b"\n")[0]
    return BADGES if first_line.startswith(b"{") and b'"badgeTime"' in first_line else None


def parse_badges(stream: Any, reader: Reader) -> Iterator[ParsedBatch]:
    data = b"".join(iter(lambda: stream.read(1 << 20), b""))
    reader.content(data)
    digest = hashlib.sha256(data).hexdigest()[:20]
    parse_time = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows, offset = [], 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip():
            row = _badge_row(line, f"{digest}{number:07d}", reader.source, parse_time)
            if isinstance(row, str):
                reader.reject(number, row, line.decode("utf-8", "replace"), offset, len(line))
            else:
                reader.stats.records_in += 1
                rows.append(row)
        offset += len(line) + 1
    if rows:
        reader.stats.records_out += len(rows)
        yield ParsedBatch(BADGES, reader.source, pa.Table.from_pylist(rows, schema=BADGES_SCHEMA))


def _badge_row(line: bytes, row_id: str, source: str, parse_time: datetime) -> dict[str, Any] | str:
    """The lake row of one line, or why it is not a badge event."""
    try:
        record = json.loads(line)
        time = datetime.fromisoformat(record["badgeTime"]).astimezone(UTC).replace(tzinfo=None)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"not a badge event: {type(exc).__name__}"
    return {
        "badgeTime": time, "holder": record.get("holder"), "door": record.get("door"),
        "readerIp": record.get("readerIp"),
        "p_log_type": BADGES, "p_row_id": row_id, "p_event_time": time, "p_parse_time": parse_time,
        "p_source": source, "p_account_id": record.get("account"), "p_region": record.get("region"),
        "p_any_ip_addresses": [record["readerIp"]] if record.get("readerIp") else [],
        "p_any_aws_arns": [], "p_any_aws_account_ids": [record["account"]] if record.get("account") else [],
    }


TOY = logtypes.LogType(
    name=BADGES,
    table="toy_badges",
    schema=BADGES_SCHEMA,
    parse=parse_badges,
    sniff_content=sniff_badges,
    data_model={"actor_user": ("holder",), "source_ip": ("readerIp",)},
    looks_like=lambda data: "badgeTime" in data,
)


@pytest.fixture
def badges() -> Iterator[logtypes.LogType]:
    logtypes.register(TOY)
    try:
        yield TOY
    finally:
        logtypes.unregister(BADGES)


def _badge(time: str, holder: str, door: str, ip: str) -> str:
    return json.dumps({"badgeTime": time, "holder": holder, "door": door, "readerIp": ip,
                       "account": "123456789012", "region": "eu-west-1"})


BADGE_LINES = [
    _badge("2024-05-14T10:01:00+00:00", "alice", "lab", "10.0.0.5"),
    "{not json",
    _badge("2024-05-14T11:30:00+00:00", "bob", "vault", "10.0.0.6"),
    '{"holder": "carol"}',  # no badgeTime
]


def _badge_file(folder: Path) -> Path:
    path = folder / "badges" / "door-events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(BADGE_LINES) + "\n")
    return path


# --- the proof ------------------------------------------------------------------------------------

def test_a_registered_type_is_sniffed_and_the_built_in_verdicts_stay(badges: logtypes.LogType) -> None:
    head = "\n".join(BADGE_LINES).encode()
    assert detect_log_type("door-events.jsonl", head) == BADGES
    # What the built-in types recognised before is theirs still; other JSON lines stay access-log
    # lines (quarantined one by one), a single JSON document stays CloudTrail.
    assert detect_log_type("x", b'{"a": 1}\n{"b": 2}\n') == "AWS.S3ServerAccess"
    assert detect_log_type("x", json.dumps({"Records": []}).encode()) == "AWS.CloudTrail"
    assert detect_log_type("x", ACCESS_SAMPLE.read_bytes()[:4096]) == "AWS.S3ServerAccess"


def test_without_registration_the_same_file_is_read_as_access_log_lines() -> None:
    assert BADGES not in logtypes.NAMES
    assert detect_log_type("door-events.jsonl", "\n".join(BADGE_LINES).encode()) == "AWS.S3ServerAccess"


def test_a_registered_type_is_parsed_with_bad_lines_quarantined(badges: logtypes.LogType, tmp_path: Path) -> None:
    quarantine = MemoryQuarantine()
    run = parse_inputs([str(_badge_file(tmp_path))], quarantine=quarantine)
    batches = list(run)
    assert [b.log_type for b in batches] == [BADGES]
    events = list(batches[0].events())
    assert [(e["holder"], e["door"], e["badgeTime"]) for e in events] == [
        ("alice", "lab", "2024-05-14 10:01:00.000000000"), ("bob", "vault", "2024-05-14 11:30:00.000000000")]
    assert (run.stats.records_in, run.stats.records_out, run.stats.quarantined) == (4, 2, 2)
    assert run.stats.reconciles()
    assert [(e.line_number, e.log_type, e.reason) for e in quarantine.entries] == [
        (2, BADGES, "not a badge event: JSONDecodeError"), (4, BADGES, "not a badge event: KeyError")]


def test_a_registered_type_can_be_forced(badges: logtypes.LogType, tmp_path: Path) -> None:
    run = parse_inputs([str(_badge_file(tmp_path))], log_type=BADGES)
    assert sum(b.table.num_rows for b in run) == 2


def test_a_registered_type_lands_in_the_lake_and_its_views(badges: logtypes.LogType, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    _badge_file(logs)
    access = logs / "access" / ACCESS_SAMPLE.name
    access.parent.mkdir(parents=True)
    access.write_bytes(ACCESS_SAMPLE.read_bytes())
    lake = tmp_path / "lake"
    stats = ingest_inputs([str(logs)], lake)
    assert (stats.rows_written, stats.quarantined) == (2 + _lines(ACCESS_SAMPLE), 2)
    assert sorted(p.relative_to(lake).as_posix() for p in (lake / DB_LOGS / "toy_badges").rglob("*.parquet"))[0] \
        .startswith("panther_logs/toy_badges/year=2024/month=05/day=14/hour=10/")
    con = open_lake(lake)
    assert con.execute(f"SELECT holder, door, p_account_id, p_region FROM {DB_LOGS}.toy_badges ORDER BY 1").fetchall() \
        == [("alice", "lab", "123456789012", "eu-west-1"), ("bob", "vault", "123456789012", "eu-west-1")]
    ips = con.execute("SELECT p_any_ip_addresses FROM panther_views.all_ip_addresses "
                      f"WHERE p_log_type = '{BADGES}' ORDER BY p_event_time").fetchall()
    assert ips == [(["10.0.0.5"],), (["10.0.0.6"],)]
    by_type = dict(con.execute("SELECT p_log_type, COUNT(*) FROM panther_views.all_aws_account_ids GROUP BY 1").fetchall())
    assert by_type == {BADGES: 2, "AWS.S3ServerAccess": _lines(ACCESS_SAMPLE)}
    # Its rule-match table exists (empty) for detections to write to.
    assert con.execute(f"SELECT COUNT(*) FROM {DB_RULE_MATCHES}.toy_badges").fetchone() == (0,)


VAULT_RULE_SPEC = """AnalysisType: rule
Filename: toy_vault_badge.py
RuleID: "Toy.VaultBadge"
Enabled: true
LogTypes: [Toy.Badges]
Severity: High
Tests:
  - Name: vault
    ExpectedResult: true
    Log: {"badgeTime": "2024-05-14 11:30:00", "holder": "bob", "door": "vault", "readerIp": "10.0.0.6"}
  - Name: lab
    ExpectedResult: false
    Log: {"badgeTime": "2024-05-14 10:01:00", "holder": "alice", "door": "lab", "readerIp": "10.0.0.5"}
"""
VAULT_RULE = """def rule(event):
    return event.get("door") == "vault"


def title(event):
    return f"{event.udm('actor_user')} badged into the vault"
"""


def test_rules_run_on_a_registered_type_and_their_matches_land_in_its_table(badges: logtypes.LogType,
                                                                              tmp_path: Path) -> None:
    from bucketwatch.cli import main

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "toy_vault_badge.yml").write_text(VAULT_RULE_SPEC)
    (rules / "toy_vault_badge.py").write_text(VAULT_RULE)
    assert main(["test", str(rules)]) == 0  # Panther-style tests: the type guessed from the event's shape
    lake, alerts = tmp_path / "lake", tmp_path / "alerts.jsonl"
    code = main(["detect", str(_badge_file(tmp_path)), "--rules", str(rules), "--lake", str(lake),
                 "--alerts", str(alerts), "--quiet"])
    assert code == 3  # two lines were quarantined
    raised = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [(a["rule_id"], a["title"]) for a in raised] == [("Toy.VaultBadge", "bob badged into the vault")]
    matches = open_lake(lake).execute(f"SELECT holder, p_rule_id FROM {DB_RULE_MATCHES}.toy_badges").fetchall()
    assert matches == [("bob", "Toy.VaultBadge")]


def test_an_empty_lake_has_the_registered_type_s_tables(badges: logtypes.LogType, tmp_path: Path) -> None:
    con = open_lake(tmp_path / "empty")
    columns = [row[0] for row in con.execute(f"DESCRIBE {DB_LOGS}.toy_badges").fetchall()]
    assert columns == [*BADGES_SCHEMA.names, "year", "month", "day", "hour"]


def test_a_registered_type_s_events_use_its_data_model(badges: logtypes.LogType) -> None:
    event = PantherEvent({"badgeTime": "2024-05-14 10:01:00", "holder": "alice", "readerIp": "10.0.0.5"})
    assert event.log_type == BADGES  # guessed from its shape
    assert (event.udm("actor_user"), event.udm("source_ip")) == ("alice", "10.0.0.5")
    assert guess_log_type({"eventName": "GetObject"}) == "AWS.CloudTrail"
    assert guess_log_type({"operation": "REST.GET.OBJECT"}) == "AWS.S3ServerAccess"


def test_the_lake_construct_gives_a_registered_type_its_glue_tables(badges: logtypes.LogType) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Template

    from infra.lake import Lake

    stack = Stack(App(), "LakeOnly")
    Lake(stack, "Lake", key=kms.Key(stack, "Key"), bucket_name="lake-bucket")
    template = Template.from_stack(stack).to_json()
    tables = {f"{t['Properties']['DatabaseName']}.{t['Properties']['TableInput']['Name']}": t["Properties"]
              for t in template["Resources"].values() if t["Type"] == "AWS::Glue::Table"}
    assert {"panther_logs.toy_badges", "panther_rule_matches.toy_badges"} <= set(tables)
    for database, arrow_schema in ((DB_LOGS, BADGES_SCHEMA), (DB_RULE_MATCHES, rule_matches_schema(BADGES))):
        table = tables[f"{database}.toy_badges"]["TableInput"]
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert columns == [(f.name, glue_type(f.type)) for f in arrow_schema]
        assert table["Parameters"]["projection.enabled"] == "true"
        location = json.dumps(table["Parameters"]["storage.location.template"])  # a Fn::Join of the bucket
        assert f"/{database}/toy_badges/year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}/" in location
    view = tables["panther_views.all_ip_addresses"]["TableInput"]["ViewOriginalText"]
    sql = json.loads(base64.b64decode(view.removeprefix("/* Presto View: ").removesuffix(" */")))["originalSql"]
    assert sql.count("UNION ALL") == 2
    assert sql.endswith("FROM panther_logs.toy_badges")


# --- the registry itself ----------------------------------------------------------------------------

def test_built_in_types_come_first_in_a_fixed_order(badges: logtypes.LogType) -> None:
    assert list(logtypes.NAMES) == ["AWS.S3ServerAccess", "AWS.CloudTrail", BADGES]
    assert dict(logtypes.TABLES) == {"AWS.S3ServerAccess": "aws_s3serveraccess", "AWS.CloudTrail": "aws_cloudtrail",
                                     BADGES: "toy_badges"}
    assert [t.name for t in logtypes.sniffing_order()] == ["AWS.CloudTrail", BADGES, "AWS.S3ServerAccess"]
    assert logtypes.get("CloudTrail.Digest").name == "AWS.CloudTrail"  # a skipped kind names its owner


def test_names_tables_and_the_catch_all_are_unique(badges: logtypes.LogType) -> None:
    with pytest.raises(ValueError, match="already registered"):
        logtypes.register(TOY)
    with pytest.raises(ValueError, match="already registered"):
        logtypes.register(logtypes.LogType("Toy.Other", "aws_cloudtrail", BADGES_SCHEMA, parse_badges))
    with pytest.raises(ValueError, match="only one log type can be the catch-all"):
        logtypes.register(logtypes.LogType("Toy.Other", "toy_other", BADGES_SCHEMA, parse_badges, catch_all=True))
    logtypes.unregister("AWS.CloudTrail")  # built-in types cannot be removed
    assert "AWS.CloudTrail" in logtypes.NAMES


def test_an_unknown_forced_type_names_the_registered_ones(badges: logtypes.LogType) -> None:
    with pytest.raises(ValueError, match=r"unknown log type 'Nope': use auto, AWS.S3ServerAccess, AWS.CloudTrail, "
                                         r"Toy.Badges"):
        parse_inputs(["-"], log_type="Nope")


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())
