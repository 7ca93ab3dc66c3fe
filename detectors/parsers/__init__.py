"""Log parsers: S3 server access logs (vectorized, with a precise per-line fallback) and CloudTrail.

The names below load on first use: `detectors.parsers.limits` is read by every command's config
validation (`bucketwatch check` too), which must not pay for pyarrow."""

from detectors.common.lazy import lazy_getattr

_EXPORTS = {
    "detect_log_type": "detectors.parsers.detect",
    "format_access_log_line": "detectors.parsers.s3_access_format",
    "LineError": "detectors.parsers.s3_access_line",
    "parse_access_line": "detectors.parsers.s3_access_line",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
