"""`bucketwatch demo` (interim): detection over the bundled sample logs, then a lake summary.

The full local demo (moto account, CDK deploy, traffic) replaces this module later; it is kept
small on purpose: it only runs `detect` on `detectors/samples/` and queries the result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bucketwatch.commands import detect
from detectors.lake import open_lake
from detectors.schema import DB_LOGS, DB_RULE_MATCHES, TABLE_OF_LOG_TYPE

SAMPLES = Path(__file__).resolve().parents[2] / "detectors" / "samples"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the detections over the bundled sample logs and summarize the lake",
        description="Runs `bucketwatch detect` over the bundled sample logs (an attack story, see "
                    "detectors/samples/make_samples.py) with their config file, then prints what the lake holds.")
    parser.add_argument("--lake", type=Path, metavar="DIR",
                        help="lake folder to write (default: a temporary folder, removed afterwards)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.lake is not None:
        return _demo(args.lake)
    with tempfile.TemporaryDirectory(prefix="bucketwatch-demo-") as tmp:
        return _demo(Path(tmp) / "lake")


def _demo(lake: Path) -> int:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    detect.register(subparsers)
    detect_args = parser.parse_args(["detect", str(SAMPLES / "logs"), "--config", str(SAMPLES / "bucketwatch.yml"),
                                     "--lake", str(lake)])
    print("== Alerts ==")
    sys.stdout.flush()
    detect.run(detect_args)
    print(f"\n== Lake ({lake}) ==")
    con = open_lake(lake)
    for database in (DB_LOGS, DB_RULE_MATCHES):
        for table in TABLE_OF_LOG_TYPE.values():
            rows = con.execute(f"SELECT COUNT(*) FROM {database}.{table}").fetchone()[0]
            print(f"{database}.{table}: {rows:,} rows")
    print("\nTop rule matches (SELECT p_rule_id, COUNT(*) ... FROM panther_rule_matches.*):")
    union = " UNION ALL ".join(f"SELECT p_rule_id FROM {DB_RULE_MATCHES}.{t}" for t in TABLE_OF_LOG_TYPE.values())
    for rule_id, count in con.execute(
            f"SELECT p_rule_id, COUNT(*) AS n FROM ({union}) GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5").fetchall():
        print(f"  {count:5}  {rule_id}")
    print("\nThe tutorial's error query (access errors by requester):")
    for row in con.execute(
            "SELECT requester, httpstatus, errorcode, COUNT(*) AS err_count FROM panther_logs.aws_s3serveraccess "
            "WHERE errorcode IS NOT NULL AND httpstatus IN (400, 403, 405) "
            "GROUP BY requester, httpstatus, errorcode ORDER BY err_count DESC").fetchall():
        print(f"  {row[3]:5}  {row[1]} {row[2]}  {row[0]}")
    return 0
