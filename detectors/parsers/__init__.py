"""Log parsers: S3 server access logs (vectorized, with a precise per-line fallback) and CloudTrail."""

from detectors.parsers.detect import detect_log_type
from detectors.parsers.s3_access_format import format_access_log_line
from detectors.parsers.s3_access_line import LineError, parse_access_line

__all__ = ["LineError", "detect_log_type", "format_access_log_line", "parse_access_line"]
