"""A principal downloaded a lot of data from one bucket (a row of the AWS S3 Large Download query)."""

MIB = 1024 * 1024
THRESHOLD = 50 * MIB  # the query's own HAVING; checked again for rows of other queries
MEDIUM = 100 * MIB
HIGH = 1024 * MIB


def _bytes(row):
    value = row.get("total_bytes_downloaded")
    return int(value) if isinstance(value, int | float) else 0


def rule(row):
    return _bytes(row) >= THRESHOLD and bool(row.get("bucket_name"))


def severity(row):
    total = _bytes(row)
    if total >= HIGH:
        return "High"
    return "Medium" if total >= MEDIUM else "Low"


def _size(total):
    return f"{total / (1024 * MIB):.1f} GiB" if total >= 1024 * MIB else f"{total / MIB:.0f} MiB"


def title(row):
    who = row.get("user_name") if row.get("user_name") not in (None, "unknown") else row.get("user_arn")
    return (f"[{who}] downloaded {_size(_bytes(row))} in {row.get('object_count')} object(s) "
            f"from S3 bucket [{row.get('bucket_name')}]")


def dedup(row):
    return f"{row.get('user_arn')}:{row.get('bucket_name')}"


def alert_context(row):
    keys = ("user_arn", "user_name", "user_type", "bucket_name", "source_ip", "user_agent", "account_id",
            "total_bytes_downloaded", "object_count", "first_download_time", "last_download_time")
    context = {key: row.get(key) for key in keys}
    context["sample_objects"] = list(row.get("sample_objects") or ())[:10]
    return context
