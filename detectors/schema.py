"""Field names and Arrow schemas of the lake tables (the shared data contract).

Which log types and tables exist is the log-type registry's (detectors/logtypes): `LOG_TYPES`,
`TABLE_OF_LOG_TYPE` and `SCHEMA_OF_LOG_TYPE` below are live views of it.

Every producer (parsers, the detection engine writing rule matches, the posture scanner) and
every consumer (DuckDB views, the Glue tables in infra/) takes its columns from here.

Conventions
- Timestamps are stored as Arrow/Parquet `timestamp[ms]` without a zone, always in UTC
  (Athena and DuckDB both read them as plain TIMESTAMP; no session time zone can shift them).
- S3 server access records use Panther's field names exactly (`tlsVersion` keeps its case);
  numbers are int64, absent values are null, `additionalFields` holds unknown trailing fields.
- CloudTrail records keep their top-level field names as columns; nested objects are stored as
  JSON strings (DuckDB: `json_extract(userIdentity, '$.arn')`, Athena: `json_extract_scalar`).
  Top-level keys this schema does not know are kept together as JSON in `additionalFields`.
- Partition columns (year, month, day, hour) come from the hive-style directory names and are
  NOT stored inside the Parquet files.
"""

from __future__ import annotations

import pyarrow as pa

from detectors import logtypes
from detectors.parsers import limits

# The built-in log types' names; each is declared (table, schema, parser, sniffer, data model) by
# its module in detectors/logtypes/.
LOG_TYPE_S3 = "AWS.S3ServerAccess"
LOG_TYPE_CLOUDTRAIL = "AWS.CloudTrail"
# Every registered log type's name, table and schema: live views of the registry, in its order.
LOG_TYPES = logtypes.NAMES
TABLE_OF_LOG_TYPE = logtypes.TABLES
SCHEMA_OF_LOG_TYPE = logtypes.SCHEMAS

DB_LOGS = "panther_logs"
DB_RULE_MATCHES = "panther_rule_matches"
DB_VIEWS = "panther_views"
DB_BUCKETWATCH = "bucketwatch"

PARTITION_COLUMNS = ("year", "month", "day", "hour")
LAKE_YEARS = limits.LAKE_YEARS  # re-exported: infra/lake.py's partition projection reads it here

TIMESTAMP = pa.timestamp("ms")
STRING_LIST = pa.list_(pa.string())

# --- S3 server access logs -------------------------------------------------------------------

# In log order: position i of a log line is S3_ACCESS_FIELDS[i] (the bracketed time is one field).
S3_ACCESS_FIELDS = (
    "bucketowner",
    "bucket",
    "time",
    "remoteip",
    "requester",
    "requestid",
    "operation",
    "key",
    "requesturi",
    "httpstatus",
    "errorcode",
    "bytessent",
    "objectsize",
    "totaltime",
    "turnaroundtime",
    "referrer",
    "useragent",
    "versionid",
    "hostid",
    "signatureversion",
    "ciphersuite",
    "authenticationtype",
    "hostheader",
    "tlsVersion",
    "accesspointarn",
    "aclrequired",
    "sourceregion",
)
S3_ACCESS_INT_FIELDS = frozenset({"httpstatus", "bytessent", "objectsize", "totaltime", "turnaroundtime"})
S3_ACCESS_QUOTED_FIELDS = frozenset({"requesturi", "referrer", "useragent"})
S3_ACCESS_MIN_FIELDS = 18  # the oldest generation ends with versionid

# --- p_ fields (Panther's standard fields) --------------------------------------------------

P_FIELDS = (
    pa.field("p_log_type", pa.string()),
    pa.field("p_row_id", pa.string()),
    pa.field("p_event_time", TIMESTAMP),
    pa.field("p_parse_time", TIMESTAMP),
    pa.field("p_source", pa.string()),
    # The account and region that own the bucket (access logs) or recorded the event (CloudTrail);
    # null when the source does not say (detectors/parsers/origin.py).
    pa.field("p_account_id", pa.string()),
    pa.field("p_region", pa.string()),
    pa.field("p_any_ip_addresses", STRING_LIST),
    pa.field("p_any_aws_arns", STRING_LIST),
    pa.field("p_any_aws_account_ids", STRING_LIST),
)
P_FIELD_NAMES = tuple(f.name for f in P_FIELDS)

# panther_views.<view>: these standard fields of every log table plus one indicator column, the
# same in DuckDB (detectors/lake/reader.py) and Glue/Athena (infra/lake.py).
VIEW_COMMON_COLUMNS = ("p_log_type", "p_row_id", "p_event_time", "p_source", "p_account_id", "p_region")
INDICATOR_VIEWS = {
    "all_ip_addresses": "p_any_ip_addresses",
    "all_aws_arns": "p_any_aws_arns",
    "all_aws_account_ids": "p_any_aws_account_ids",
}


def _s3_access_field(name: str) -> pa.Field:
    if name == "time":
        return pa.field(name, TIMESTAMP)
    if name in S3_ACCESS_INT_FIELDS:
        return pa.field(name, pa.int64())
    return pa.field(name, pa.string())


S3_ACCESS_SCHEMA = pa.schema(
    [_s3_access_field(name) for name in S3_ACCESS_FIELDS]
    + [pa.field("additionalFields", STRING_LIST)]
    + list(P_FIELDS)
)

# --- CloudTrail -----------------------------------------------------------------------------

# Top-level record fields whose values are objects/arrays: stored as JSON text.
CLOUDTRAIL_JSON_FIELDS = (
    "userIdentity",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "resources",
    "serviceEventDetails",
    "tlsDetails",
    "edgeDeviceDetails",
    "insightDetails",
    "addendum",
)
CLOUDTRAIL_BOOL_FIELDS = ("readOnly", "managementEvent")
CLOUDTRAIL_STRING_FIELDS = (
    "eventVersion",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "sessionCredentialFromConsole",
)
CLOUDTRAIL_KNOWN_FIELDS = frozenset(
    ("eventTime", *CLOUDTRAIL_STRING_FIELDS, *CLOUDTRAIL_BOOL_FIELDS, *CLOUDTRAIL_JSON_FIELDS)
)

CLOUDTRAIL_SCHEMA = pa.schema(
    [
        pa.field("eventVersion", pa.string()),
        pa.field("eventTime", TIMESTAMP),
        *(pa.field(name, pa.string()) for name in CLOUDTRAIL_STRING_FIELDS if name != "eventVersion"),
        *(pa.field(name, pa.bool_()) for name in CLOUDTRAIL_BOOL_FIELDS),
        *(pa.field(name, pa.string()) for name in CLOUDTRAIL_JSON_FIELDS),
        # Top-level keys not listed above, as one JSON object (nothing of a record is lost).
        pa.field("additionalFields", pa.string()),
        *P_FIELDS,
    ]
)

# --- rule matches (panther_rule_matches.<table>) ---------------------------------------------

RULE_MATCH_FIELDS = (
    pa.field("p_rule_id", pa.string()),
    pa.field("p_alert_id", pa.string()),
    pa.field("p_rule_severity", pa.string()),
    pa.field("p_alert_creation_time", TIMESTAMP),
    pa.field("p_alert_update_time", TIMESTAMP),
    pa.field("p_rule_tags", STRING_LIST),
)


def rule_matches_schema(log_type: str) -> pa.Schema:
    """Schema of panther_rule_matches.<table>: the log table's columns plus the alert fields."""
    base = SCHEMA_OF_LOG_TYPE[log_type]
    return pa.schema(list(base) + list(RULE_MATCH_FIELDS))


# --- Glue/Athena column types (infra/ builds the Glue tables from these) ---------------------

def glue_type(arrow_type: pa.DataType) -> str:
    """Hive/Glue type name for an Arrow type used in the lake schemas."""
    if pa.types.is_string(arrow_type):
        return "string"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    raise ValueError(f"no Glue type for Arrow type {arrow_type}")


def glue_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """[(column name, Glue type)] in schema order; partition columns are not included."""
    return [(f.name, glue_type(f.type)) for f in schema]


def table_path(database: str, table: str) -> str:
    """Relative location of a table inside the lake root (local folder or S3 prefix)."""
    return f"{database}/{table}"
