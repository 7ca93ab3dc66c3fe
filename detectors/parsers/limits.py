"""What the parsers accept: the maximum record size, the lake's time range, the nesting depth.

The `ingest:` section of the config file (validated here, registered in
detectors.common.config_file) sets the maximum record size for the CLI and the detector Lambda:

    ingest:
      max_record_bytes: 4194304   # a longer access-log line or CloudTrail record is quarantined by reference
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detectors.common import validate

DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024
MIN_MAX_RECORD_BYTES = 1024
MAX_MAX_RECORD_BYTES = 256 * 1024 * 1024
# Deeper CloudTrail records are quarantined: real ones nest about 10 levels; Python's JSON
# parser and encoder recurse, so a record nested near its limit could not be written or printed.
MAX_DEPTH = 128

# Years the lake's partitions cover (first, last): S3 server access logs exist since 2006, and the
# Glue tables' partition projection (infra/lake.py) is generated from this range. Events dated
# outside it are quarantined with a reason instead of landing in partitions no query can see.
# Defined here, not in detectors.schema, so config validation does not import pyarrow.
LAKE_YEARS = (2006, 2099)

LAKE_START = datetime(LAKE_YEARS[0], 1, 1)
LAKE_END = datetime(LAKE_YEARS[1] + 1, 1, 1)  # exclusive
_EPOCH = datetime(1970, 1, 1)
LAKE_START_MS = int((LAKE_START - _EPOCH).total_seconds()) * 1000
LAKE_END_MS = int((LAKE_END - _EPOCH).total_seconds()) * 1000
OUT_OF_RANGE = f"outside the lake's time range (years {LAKE_YEARS[0]} to {LAKE_YEARS[1]})"


def in_lake_range(value: datetime) -> bool:
    """Naive UTC time inside the lake's partitions."""
    return LAKE_START <= value < LAKE_END


@dataclass(frozen=True)
class IngestSettings:
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES


def max_record_bytes(value: Any, where: str) -> int:
    return validate.integer(value, where, MIN_MAX_RECORD_BYTES, MAX_MAX_RECORD_BYTES)


def parse_ingest(raw: dict[str, Any] | None) -> IngestSettings:
    """The config file's `ingest:` section."""
    section = validate.section(raw, ("max_record_bytes",), "ingest")
    return IngestSettings(
        max_record_bytes=validate.optional(section, "max_record_bytes", max_record_bytes, "ingest",
                                           DEFAULT_MAX_RECORD_BYTES))
