"""One exit-code table for every command (detectors/common/exitcodes.py), stated once in the docs
(docs/detection.md "Exit codes"); the other docs point at it. Issue 15: `schedule run` exited 3 for
alerts and 1 for failures while `detect` exited 1 for alerts."""

from __future__ import annotations

import re
from pathlib import Path

from bucketwatch.cli import main
from bucketwatch.commands import schedule
from detectors.common import exitcodes

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _table(text: str) -> dict[int, str]:
    section = text.split("### Exit codes", 1)[1].split("\n\n", 2)[2]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d) \| (.+) \|$", section, re.M)}


def test_the_docs_state_the_one_table() -> None:
    table = _table((DOCS / "detection.md").read_text())
    assert set(table) == {exitcodes.OK, exitcodes.FINDINGS, exitcodes.UNUSABLE, exitcodes.QUARANTINED}
    assert table[exitcodes.FINDINGS].startswith("findings")
    assert table[exitcodes.UNUSABLE].startswith("unusable input")
    assert "quarantined" in table[exitcodes.QUARANTINED]
    # The ingest docs point at it instead of keeping a table of their own.
    ingest = (DOCS / "ingest.md").read_text()
    assert "detection.md#exit-codes" in ingest and "| code | meaning |" not in ingest


def test_unusable_wins_then_findings_then_quarantined() -> None:
    assert exitcodes.combine(unusable=True, findings=True, quarantined=True) == exitcodes.UNUSABLE
    assert exitcodes.combine(findings=True, quarantined=True) == exitcodes.FINDINGS
    assert exitcodes.combine(quarantined=True) == exitcodes.QUARANTINED
    assert exitcodes.combine() == exitcodes.OK


def test_schedule_run_uses_the_table() -> None:
    assert schedule.ALERTS_EXIT_CODE == exitcodes.FINDINGS
    assert schedule.FAILED_EXIT_CODE == exitcodes.UNUSABLE


def test_an_invalid_query_is_a_usage_error(tmp_path: Path, capsys) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    assert main(["query", "SELEC 1", "--lake", str(lake)]) == exitcodes.UNUSABLE
    assert capsys.readouterr().err.startswith("bucketwatch query: error: Parser Error")
