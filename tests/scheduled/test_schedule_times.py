"""Schedules: rate and cron ticks in UTC, catch-up, first runs, bad expressions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from detectors.common.errors import UserError
from detectors.scheduled import schedule as schedule_module
from detectors.scheduled.queries import query_from_spec
from detectors.scheduled.schedule import Schedule, due_ticks


def t(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse(**raw):
    return Schedule.parse({"TimeoutMinutes": 1, **raw}, "Schedule")


def test_rate_ticks_are_aligned_and_cover_the_gap():
    rate = parse(RateMinutes=10)
    assert rate.latest_tick(t("2024-05-14 12:07:59")) == t("2024-05-14 12:00")
    assert rate.ticks_after(t("2024-05-14 11:30"), t("2024-05-14 12:07")) == [
        t("2024-05-14 11:40"), t("2024-05-14 11:50"), t("2024-05-14 12:00")]
    assert rate.ticks_after(t("2024-05-14 11:35"), t("2024-05-14 11:39")) == []


@pytest.mark.parametrize(("expression", "now", "latest"), [
    ("0 9 * * 1", "2024-05-14 12:00", "2024-05-13 09:00"),            # Mondays 09:00
    ("0 9 * * MON", "2024-05-13 08:59", "2024-05-06 09:00"),
    ("*/15 * * * *", "2024-05-14 12:14", "2024-05-14 12:00"),
    ("30 2 1 * *", "2024-05-14 12:00", "2024-05-01 02:30"),
    ("0 0 1 JAN *", "2024-05-14 12:00", "2024-01-01 00:00"),
    ("0 12 13 * FRI", "2024-05-14 12:00", "2024-05-13 12:00"),        # day 13 OR a Friday
    ("0 0 * * 7", "2024-05-14 12:00", "2024-05-12 00:00"),            # 7 is Sunday too
])
def test_cron_latest_tick(expression, now, latest):
    assert parse(CronExpression=expression).latest_tick(t(now)) == t(latest)


def test_cron_ticks_between():
    cron = parse(CronExpression="0 8-10/2 * * *")
    assert cron.ticks_after(t("2024-05-14 08:00"), t("2024-05-15 09:00")) == [
        t("2024-05-14 10:00"), t("2024-05-15 08:00")]


def test_first_run_is_the_newest_tick_only_and_catch_up_is_limited(monkeypatch):
    rate = parse(RateMinutes=5)
    assert due_ticks(rate, None, t("2024-05-14 12:07")) == ([t("2024-05-14 12:05")], 0)
    monkeypatch.setattr(schedule_module, "MAX_TICKS", 3)
    ticks, skipped = due_ticks(rate, t("2024-05-14 11:00"), t("2024-05-14 11:30"))
    assert ticks == [t("2024-05-14 11:20"), t("2024-05-14 11:25"), t("2024-05-14 11:30")] and skipped == 3


@pytest.mark.parametrize(("raw", "message"), [
    ({"CronExpression": "0 9 * *"}, "has 5 fields"),
    ({"CronExpression": "0 25 * * *"}, "hour field '25' must stay within 0-23"),
    ({"CronExpression": "0 9 * * FUNDAY"}, "cannot read the day of week field"),
    ({"CronExpression": "0 0 31 2 *"}, "never matches"),
    ({"RateMinutes": 0}, "RateMinutes: expected a whole number"),
    ({"RateMinutes": 5, "TimeoutMinutes": 10}, "RateMinutes (5) must be at least TimeoutMinutes (10)"),
    ({"RateMinutes": 5, "Every": 3}, "unknown key(s) Every"),
    ({}, "exactly one of RateMinutes and CronExpression"),
])
def test_bad_schedules(raw, message):
    with pytest.raises(UserError) as raised:
        Schedule.parse({"TimeoutMinutes": 1, **raw}, "Schedule").latest_tick(t("2024-05-14 12:00"))
    assert message in str(raised.value)


@pytest.mark.parametrize(("extra", "message"), [
    ({"Lookback": True}, "Lookback needs LookbackWindowSeconds"),
    ({"ResultTable": "panther_logs.x"}, "ResultTable must be bucketwatch.<table name>"),
    ({"Query": None, "AthenaQuery": None}, "has no Query"),
    ({"Querry": "SELECT 1"}, "unknown key(s) Querry"),
])
def test_bad_scheduled_query_specs(extra, message):
    spec = {"AnalysisType": "scheduled_query", "QueryName": "Q", "Enabled": True, "Query": "SELECT 1",
            "Schedule": {"RateMinutes": 60, "TimeoutMinutes": 5}, **extra}
    with pytest.raises(UserError) as raised:
        query_from_spec(Path("q.yml"), spec)
    assert message in str(raised.value)


def test_a_query_runs_in_the_dialect_it_is_written_in_for_that_engine():
    query = query_from_spec(Path("q.yml"), {
        "AnalysisType": "scheduled_query", "QueryName": "Q", "Enabled": True,
        "SnowflakeQuery": "SELECT userIdentity:arn FROM panther_logs.public.aws_cloudtrail",
        "AthenaQuery": "SELECT 'athena text' FROM panther_logs.aws_cloudtrail",
        "Schedule": {"CronExpression": "0 * * * *", "TimeoutMinutes": 5}})
    assert "athena text" in query.sql_for("athena", None)
    assert "JSON_EXTRACT_STRING(userIdentity, '$.arn')" in query.sql_for("duckdb", t("2024-05-14 12:00"))
