"""Which log a file holds: from its key path (AWS's delivery layouts) and then its content.

Each log type of the registry (detectors/logtypes) says what it recognises; they are asked in
order, the catch-all type (access logs) last.
"""

from __future__ import annotations

from detectors import logtypes
from detectors.parsers.cloudtrail import CLOUDTRAIL_DIGEST

__all__ = ["CLOUDTRAIL_DIGEST", "detect_log_type", "log_type_from_content", "log_type_from_key"]


def log_type_from_key(key: str) -> str | None:
    for log_type in logtypes.sniffing_order():
        found = log_type.sniff_key(key) if log_type.sniff_key else None
        if found:
            return found
    return None


def log_type_from_content(head: bytes) -> str:
    """From the first bytes: the first type whose sniffer claims them, else the catch-all type
    (whose parser quarantines what it cannot read, line by line)."""
    for log_type in logtypes.sniffing_order():
        found = log_type.sniff_content(head) if log_type.sniff_content else None
        if found:
            return found
    fallback = logtypes.catch_all()
    if fallback is None:
        raise ValueError("no log type recognises this content and none is the catch-all")
    return fallback.name


def detect_log_type(key: str, head: bytes) -> str:
    """Key path first (it is what AWS controls), then content."""
    return log_type_from_key(key) or log_type_from_content(head)
