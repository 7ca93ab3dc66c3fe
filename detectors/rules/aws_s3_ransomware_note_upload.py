"""An object whose name looks like a ransom note was uploaded."""

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bucketwatch_helpers import column_ci, principal_label, s3_access, s3_match, take_sorted, where

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
# A successful upload by a client (declared: rule() and the access-log pre-filter both use it).
UPLOAD = s3_match(
    where("internal").is_(False),
    where("error").blank(),
    where("operation").one_of(*UPLOADS),
    dedup=("bucket", "principal_label"),
)


def _file_name(access):
    return (access.key or "").rsplit("/", 1)[-1]


def rule(event):
    if not UPLOAD.rule(event):
        return False
    return RANSOM_NOTE.search(_file_name(s3_access(event))) is not None


def prefilter_table(table, log_type):
    """Access-log rows that are uploads (decided per distinct operation, error code) and whose
    key contains a note-like name (RE2, on the uploads' keys only); the rule then checks the
    file name itself. CloudTrail keeps the key inside JSON: no shortcut there."""
    column = column_ci(table, "key") if log_type == "AWS.S3ServerAccess" else None
    uploads = UPLOAD.rows(table, log_type) if column is not None else None
    if uploads is None:
        return None
    mask = np.zeros(table.num_rows, dtype=bool)
    if len(uploads):
        keys = take_sorted(column, uploads)
        named = pc.fill_null(pc.match_substring_regex(keys, "(?i)" + RANSOM_NOTE.pattern), False)
        mask[uploads[np.asarray(named.to_numpy(zero_copy_only=False), dtype=bool)]] = True
    return pa.chunked_array([pa.array(mask)])


def title(event):
    access = s3_access(event)
    return f"Possible ransom note [{_file_name(access)}] uploaded to S3 bucket [{access.bucket}]"


def dedup(event):
    access = s3_access(event)
    return f"{access.bucket}:{principal_label(access)}"


def alert_context(event):
    access = s3_access(event)
    return {"bucket": access.bucket, "key": access.key, "principal": access.principal, "ip": access.ip}
