"""Every rule with both forms, `rule(event)` and the vectorized `match_table(table, log_type)`, must
select exactly the rows whose rule() is true, with the dedup strings dedup() gives: over its own
.yml Tests, the sample logs, and generated records (Hypothesis) that exercise every access-log
column an S3 request field is read from. The rules are discovered, not listed: a new two-form
rule is tested without editing this file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.config import activate, parse_detections
from detectors.engine.declared import Declared, holds, where
from detectors.engine.rows import LazyRows
from detectors.engine.rules import ensure_helpers_importable, load_rules
from detectors.pipeline import parse_inputs
from detectors.schema import LOG_TYPE_CLOUDTRAIL, LOG_TYPE_S3, S3_ACCESS_SCHEMA

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "detectors" / "samples" / "logs"
CONFIG = {
    "known_good_access": [{"bucket": "prod-data-lake", "principals": ["arn:aws:sts::*:assumed-role/DataPipelineRole/*"]},
                          {"bucket": "finance-*", "principals": ["arn:aws:iam::111122223333:user/alice"]}],
}
TWO_FORM = [rule for rule in load_rules() if callable(getattr(rule.module, "match_table", None))]

ensure_helpers_importable()
from bucketwatch_helpers import ACCESS_LOG_FIELDS  # noqa: E402

# Every column an S3Access field of an access log is derived from, each with values that sit on
# the edges of the rules' conditions (null, empty, S3's own operations, aws-internal agents,
# old lines without the TLS columns, buckets with and without a known-good list).
POOLS: dict[str, list[Any]] = {
    "operation": [None, "", "REST.GET.OBJECT", "REST.PUT.OBJECT", "REST.POST.OBJECT", "REST.COPY.OBJECT",
                  "REST.COPY.OBJECT_GET", "REST.HEAD.OBJECT", "REST.DELETE.OBJECT", "BATCH.DELETE.OBJECT",
                  "REST.POST.MULTI_OBJECT_DELETE", "REST.POST.UPLOAD", "REST.PUT.PART", "REST.GET.BUCKET",
                  "REST.GET.OBJECT_TAGGING", "S3.EXPIRE.OBJECT", "S3.CREATE.DELETEMARKER", "WEBSITE.GET.OBJECT",
                  "REST.GET.ACL"],
    "bucket": [None, "", "prod-data-lake", "finance-reports", "static-site-assets"],
    "requester": [None, "", "arn:aws:sts::123456789012:assumed-role/DataPipelineRole/i-1",
                  "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/mallory",
                  "svc:logging.s3.amazonaws.com"],
    "errorcode": [None, "", "AccessDenied", "NoSuchKey", "MethodNotAllowed", "InvalidArgument"],
    "httpstatus": [None, 200, 204, 400, 403, 404, 405, 500],
    "useragent": [None, "", "aws-internal/3 aws-sdk-java/1.12", "S3Console/0.4, aws-internal/3", "curl/8.5.0"],
    "tlsVersion": [None, "", "TLSv1.2"],
    "ciphersuite": [None, "", "ECDHE-RSA-AES128-GCM-SHA256"],
    "authenticationtype": [None, "", "AuthHeader"],
    "hostheader": [None, "", "prod-data-lake.s3.us-west-2.amazonaws.com"],
    "remoteip": [None, "", "10.0.0.5", "203.0.113.9", "2001:db8::1"],
    "key": [None, "", "reports/q3.csv"],
}
FIELDS = {field.name: field for field in S3_ACCESS_SCHEMA if field.name != "time"}


@pytest.fixture(autouse=True)
def configured():
    activate(parse_detections(CONFIG))
    yield
    activate(parse_detections(None))


def access_table(records: list[dict[str, Any]]) -> pa.Table:
    """Records as an access-log batch: the parser's column types, absent fields null."""
    return pa.table({name: pa.array([r.get(name) for r in records], field.type) for name, field in FIELDS.items()})


def plain_event(row: dict[str, Any]) -> dict[str, Any]:
    """A row as `ParsedBatch.events()` gives it to the plain path: null fields left out."""
    return {"p_log_type": LOG_TYPE_S3, **{k: v for k, v in row.items() if v is not None}}


def expected(rule, table: pa.Table) -> tuple[list[int], list[str]]:
    """Rows whose rule() is true and their dedup(), row by row, as the engine's lazy rows and the
    plain dicts of the same rows present them; the two must agree first."""
    from detectors.event import PantherEvent

    lazy = LazyRows(table, None).rows()
    rows, dedups = [], []
    for index, (view, row) in enumerate(zip(lazy, table.to_pylist(), strict=True)):
        lazy_event, plain = PantherEvent(view, LOG_TYPE_S3), PantherEvent(plain_event(row), LOG_TYPE_S3)
        verdict = bool(rule.module.rule(lazy_event))
        assert verdict == bool(rule.module.rule(plain)), f"{rule.id}: lazy and plain rows disagree on {row}"
        if verdict:
            rows.append(index)
            dedups.append(str(rule.module.dedup(plain)))
    return rows, dedups


def vectorized(rule, table: pa.Table) -> tuple[list[int], list[str]]:
    found = rule.module.match_table(table, LOG_TYPE_S3)
    assert found is not None, f"{rule.id}: match_table declined an access-log batch"
    rows, dedups = found
    texts = dedups.to_pylist() if isinstance(dedups, pa.Array | pa.ChunkedArray) else list(dedups)
    return [int(r) for r in rows], [str(t) for t in texts]


def assert_same(rule, table: pa.Table) -> tuple[list[int], list[str]]:
    want = expected(rule, table)
    assert vectorized(rule, table) == want, f"{rule.id}: match_table differs from rule()/dedup()"
    return want


def yml_records(rule) -> list[dict[str, Any]]:
    return [test["Log"] for test in rule.tests
            if isinstance(test.get("Log"), dict) and test["Log"].get("p_log_type") == LOG_TYPE_S3]


def sample_tables() -> list[pa.Table]:
    return [batch.table for batch in parse_inputs([str(SAMPLES)]) if batch.log_type == LOG_TYPE_S3]


def test_every_two_form_rule_is_discovered():
    # The access-log rules that have a vectorized form today; a new one joins automatically.
    assert {rule.id for rule in TWO_FORM} >= {
        "AWS.S3.ServerAccess.Error", "AWS.S3.ServerAccess.Insecure", "AWS.S3.ServerAccess.Unauthenticated",
        "AWS.S3.ServerAccess.UnknownRequester", "Bucketwatch.S3.MassGetObject", "Bucketwatch.S3.ObjectUpload"}


@pytest.mark.parametrize("rule", TWO_FORM, ids=lambda rule: rule.id)
def test_own_tests_and_samples_both_ways(rule):
    """The rule's own Tests and every sample access log: same rows, same dedup strings; and these
    inputs are not vacuous for the rule (some rows match, some do not)."""
    verdicts: set[bool] = set()
    tables = [access_table(yml_records(rule))] if yml_records(rule) else []
    for table in [*tables, *sample_tables()]:
        rows, _ = assert_same(rule, table)
        verdicts |= {True} if rows else set()
        verdicts |= {False} if len(rows) < table.num_rows else set()
    pooled = access_table([{name: values[(i * 7 + j) % len(values)] for j, (name, values) in enumerate(POOLS.items())}
                           for i in range(500)])
    rows, _ = assert_same(rule, pooled)
    verdicts |= {bool(rows), len(rows) < pooled.num_rows}
    assert verdicts == {True, False}


@pytest.mark.parametrize("rule", TWO_FORM, ids=lambda rule: rule.id)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.fixed_dictionaries({name: st.sampled_from(values) for name, values in POOLS.items()}),
                        min_size=1, max_size=40))
def test_generated_records_both_ways(rule, records):
    table = access_table(records)
    assert_same(rule, table)
    # The same rows in several chunks (combined batches are chunked) give the same answer.
    if table.num_rows > 1:
        half = table.num_rows // 2
        assert_same(rule, pa.concat_tables([table.slice(0, half), table.slice(half)]))


@pytest.mark.parametrize("rule", TWO_FORM, ids=lambda rule: rule.id)
def test_other_log_types_go_row_by_row(rule):
    """match_table covers access logs only; CloudTrail batches fall back to rule() per event."""
    if LOG_TYPE_CLOUDTRAIL in rule.log_types:
        assert rule.module.match_table(pa.table({"eventName": ["GetObject"]}), LOG_TYPE_CLOUDTRAIL) is None


def test_pools_cover_every_access_log_column_a_field_reads():
    read = {column for columns, _ in ACCESS_LOG_FIELDS.values() for column in columns}
    assert read <= set(POOLS)
    assert read <= set(FIELDS)


# --- the declaration itself -----------------------------------------------------------------

class _View:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


DERIVED = {"size": (("bytes",), lambda b: None if b is None else int(b)),
           "who": (("user", "team"), lambda user, team: f"{team}/{user}" if user else None)}


def _declared(*conditions, dedup=("who",)):
    return Declared(*conditions, dedup=dedup, view=lambda event: _View(**event), columns={"T": DERIVED})


def test_conditions_hold_row_by_row_and_over_a_table():
    match = _declared(where("size").one_of(1, 2), where("who").not_starts_with("ops/"),
                      holds(("size", "who"), lambda size, who: who is not None or size == 2, "someone, or size 2"))
    rows = [{"size": 1, "who": "dev/ann"}, {"size": 2, "who": None}, {"size": 1, "who": None},
            {"size": 3, "who": "dev/bo"}, {"size": 2, "who": "ops/cy"}]
    assert [match.rule(r) for r in rows] == [True, True, False, False, False]
    table = pa.table({"bytes": ["1", "2", "1", "3", "2"], "user": ["ann", None, None, "bo", "cy"],
                      "TEAM": ["dev", "dev", "dev", "dev", "ops"]})  # column names match case-insensitively
    indices, dedups = match.match_table(table, "T")
    assert indices.tolist() == [0, 1]
    assert dedups.to_pylist() == ["dev/ann", "None"]
    assert match.match_table(table, "other log type") is None


def test_absent_columns_read_as_null_and_empty_batches_match_nothing():
    match = _declared(where("who").blank())
    indices, dedups = match.match_table(pa.table({"bytes": ["1", "2"]}), "T")
    assert indices.tolist() == [0, 1] and dedups.to_pylist() == ["None", "None"]
    indices, dedups = match.match_table(pa.table({"bytes": pa.array([], pa.string())}), "T")
    assert indices.tolist() == [] and list(dedups) == []


def test_a_field_without_a_derivation_is_an_error_at_declaration():
    with pytest.raises(ValueError, match=r"T: no column derivation for field\(s\) \['colour'\]"):
        _declared(where("colour").present())
    with pytest.raises(TypeError, match="is_"):
        where("size").is_(2)
