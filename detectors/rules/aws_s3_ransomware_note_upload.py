"""An object whose name looks like a ransom note was uploaded."""

import re

import pyarrow.compute as pc
from bucketwatch_helpers import column_ci, principal_label, s3_access

# Names ransomware crews use for their notes (compiled once; matched on the file name only).
RANSOM_NOTE = re.compile(
    r"(how[_\- ]?to[_\- ]?(decrypt|restore|recover|get[_\- ]?back)"
    r"|decrypt[_\- ]?(instructions|files|my|your)"
    r"|ransom|files[_\- ]?(are[_\- ]?|were[_\- ]?|have[_\- ]?been[_\- ]?)?(encrypted|deleted|stolen)"
    r"|your[_\- ]?files|restore[_\- ]?(my[_\- ]?)?files"
    r"|readme[_\- ]?(to|for)[_\- ]?decrypt|recovery[_\- ]?(instructions|key))",
    re.IGNORECASE,
)
UPLOADS = {"PutObject", "PostObject", "CopyObject", "CompleteMultipartUpload"}


def _file_name(access):
    return (access.key or "").rsplit("/", 1)[-1]


def rule(event):
    access = s3_access(event)
    if access is None or access.internal or access.error or access.operation not in UPLOADS:
        return False
    return RANSOM_NOTE.search(_file_name(access)) is not None


def prefilter_table(table, log_type):
    """Access-log rows whose key contains a note-like name (RE2, vectorized); the rule then
    checks the file name itself. CloudTrail keeps the key inside JSON: no shortcut there."""
    column = column_ci(table, "key") if log_type == "AWS.S3ServerAccess" else None
    if column is None:
        return None
    return pc.fill_null(pc.match_substring_regex(column, "(?i)" + RANSOM_NOTE.pattern), False)


def title(event):
    access = s3_access(event)
    return f"Possible ransom note [{_file_name(access)}] uploaded to S3 bucket [{access.bucket}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal, "ip": access.ip}
