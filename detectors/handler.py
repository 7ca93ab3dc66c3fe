"""The detector Lambda: S3 object notifications in; lake objects, rule matches and alerts out.

Accepts S3 event notifications delivered directly, through SNS, or through SQS (with the SNS
envelope in the body, or raw). Environment (set by infra/detector.py):
  ALERTS_TOPIC_ARN   SNS topic for alerts (one JSON message per new alert)
  PROCESSED_BUCKET   lake bucket (same layout as the local lake)
  DEDUP_TABLE        DynamoDB table (pk S, TTL expires_at) for dedup state and markers
  BUCKETWATCH_CONFIG optional path of the config file (its detections:, ingest: and alerts: sections)
  BUCKETWATCH_ALERT_TOPICS  optional JSON {destination: topic ARN}: routed alerts go there too

Failing loudly, never silently:
- A message that is not a usable S3 notification (not JSON, empty, null, no Records, a record
  that is not an object, an object key that is not a string, ...) fails with its reason: in SQS
  mode it is reported in `batchItemFailures` (SQS retries it, then its dead-letter queue takes
  it); with SNS or a direct invocation the handler raises after processing the other objects,
  so Lambda's retries and then its dead-letter queue take the event, the reason in the error.
  S3's test event (sent once when a notification is configured) is recognised and ignored.
- An object that cannot be read (missing, denied, a read that fails midway) fails only its own
  message, the same way. Bad lines or records inside an object never fail it: they go to the
  quarantine (`_quarantine/` in the processed bucket) with their position and reason, and the
  object's other records are evaluated; a truncated gzip keeps its good prefix.
- A failure of the shared outputs (alerts topic, dedup table) stops the invocation: in SQS mode
  the current and remaining messages are reported failed; otherwise it raises.

Exactly once per S3 object (bucket, key and the ETag S3 returns with its content):
- a marker item `object#...` is written when an object is done; a re-delivery of it is skipped;
- every dedup-group update carries the digest of the rows it adds, written atomically with a
  marker (detectors.engine.stores), so rows counted once are never counted again, even when an
  invocation died halfway through an object;
- an alert is published once: a `published#<alert_id>` marker is written right after SNS accepts
  it (retried with backoff while DynamoDB throttles), and checked before publishing.
The one remaining at-least-once window: if the invocation dies after SNS accepted an alert and
before its marker is stored, the retry publishes that alert again (same alert_id).
Lake writes are idempotent (file names derive from row ids).

Imports: boto3, pyarrow, pyyaml only (no duckdb, aws_cdk, checkov in the Lambda bundle).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote_plus

from detectors.config import DetectionSettings, load_detection_settings
from detectors.engine.routing import alert_publisher, load_routing, topics_from_environment
from detectors.engine.rules import load_rules
from detectors.engine.session import DetectionSession
from detectors.engine.sinks import SNSSink
from detectors.engine.stores import MARKER_TTL_S, DynamoDBStore
from detectors.lake import S3LakeWriter
from detectors.parsers.limits import IngestSettings
from detectors.pipeline import ParseStats, parse_stream
from detectors.quarantine import QuarantineEntry

LOG = logging.getLogger("bucketwatch.detector")
LOG.setLevel(logging.INFO)
QUARANTINE_SPOOL_BYTES = 8 * 1024 * 1024  # quarantine entries beyond this spill to /tmp


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    message_id: str | None  # SQS messageId, for partial batch failures


@dataclass
class ObjectFailure:
    ref: ObjectRef
    error: str


@dataclass
class Unusable:
    """A message that names no object Bucketwatch can read, and why."""
    message_id: str | None
    reason: str


@dataclass
class Outcome:
    objects: int = 0
    duplicates: int = 0          # objects already processed (re-deliveries), skipped
    records: int = 0             # records in
    rows: int = 0                # rows written to the lake
    quarantined: int = 0
    alerts_published: int = 0
    failures: list[ObjectFailure] = field(default_factory=list)


class SharedOutputError(RuntimeError):
    """The alerts topic or dedup table failed: retry the whole invocation."""


# -- reading the event -----------------------------------------------------------------------------
def read_event(event: Any) -> tuple[list[ObjectRef], list[Unusable]]:
    """Every S3 object the event names, and every message that names none usable (with why)."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        return [], [Unusable(None, f"event has no records: {_excerpt(event)}")]
    refs: list[ObjectRef] = []
    unusable: list[Unusable] = []
    for number, record in enumerate(event["Records"], start=1):
        if not isinstance(record, dict):
            unusable.append(Unusable(None, f"record {number} is a {type(record).__name__}, expected an object"))
            continue
        message_id = record.get("messageId") if isinstance(record.get("messageId"), str) else None
        found, problems = _from_record(record, message_id)
        refs += found
        unusable += [Unusable(message_id, f"record {number}: {reason}") for reason in problems]
    return refs, unusable


def object_refs(event: dict[str, Any]) -> list[ObjectRef]:
    """The usable object references of an event (see `read_event` for the rest)."""
    return read_event(event)[0]


def _from_record(record: dict[str, Any], message_id: str | None) -> tuple[list[ObjectRef], list[str]]:
    if record.get("eventSource") == "aws:sqs":
        return _from_body(record.get("body"), message_id)
    if record.get("EventSource") == "aws:sns":
        sns = record.get("Sns")
        return _from_body(sns.get("Message") if isinstance(sns, dict) else None, message_id)
    if record.get("eventSource") == "aws:s3":
        return _from_s3_records({"Records": [record]}, message_id)
    return [], ["not an SQS, SNS or S3 event record"]


def _from_body(body: Any, message_id: str | None) -> tuple[list[ObjectRef], list[str]]:
    if not isinstance(body, str) or not body.strip():
        return [], [f"empty message: {_excerpt(body)}"]
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return [], [f"message is not JSON: {_excerpt(body)}"]
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and "Message" in payload:
        return _from_body(payload["Message"], message_id)  # SNS envelope inside SQS
    return _from_s3_records(payload, message_id)


def _from_s3_records(payload: Any, message_id: str | None) -> tuple[list[ObjectRef], list[str]]:
    if not isinstance(payload, dict):
        return [], [f"message is a JSON {type(payload).__name__}, not an S3 event notification"]
    if payload.get("Event") == "s3:TestEvent":
        return [], []  # sent once when a notification is configured
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        return [], [f"not an S3 event notification (no Records): {_excerpt(payload)}"]
    refs, problems = [], []
    for number, record in enumerate(records, start=1):
        s3 = record.get("s3") if isinstance(record, dict) else None
        bucket = _get(s3, "bucket", "name")
        key = _get(s3, "object", "key")
        if not isinstance(bucket, str) or not bucket:
            problems.append(f"S3 record {number} has no bucket name")
        elif not isinstance(key, str) or not key:
            problems.append(f"S3 record {number}: object key is {_excerpt(key)}, expected a string")
        else:
            # Keys arrive URL-encoded with '+' for spaces.
            refs.append(ObjectRef(bucket=bucket, key=unquote_plus(key), message_id=message_id))
    return refs, problems


def _get(value: Any, *path: str) -> Any:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _excerpt(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:200])
    try:
        return json.dumps(value, default=str)[:200]
    except (ValueError, RecursionError):
        return type(value).__name__


# -- configuration ---------------------------------------------------------------------------------
def load_settings() -> DetectionSettings:
    """BUCKETWATCH_CONFIG's detections (defaults without it), with the organization."""
    return load_detection_settings(os.environ.get("BUCKETWATCH_CONFIG") or None)


def load_ingest_settings() -> IngestSettings:
    """BUCKETWATCH_CONFIG's ingest limits (defaults without it)."""
    from detectors.common.config_file import load_config

    return load_config(os.environ.get("BUCKETWATCH_CONFIG") or None).ingest


_RULES: dict[str, Any] = {}


def _rules(settings: DetectionSettings) -> list[Any]:
    # Loaded once per container: imports of rule modules are the slow part of a cold start.
    key = repr(settings)
    if key not in _RULES:
        _RULES.clear()
        _RULES[key] = load_rules(settings=settings, only_enabled=True)
    return _RULES[key]


# -- processing ------------------------------------------------------------------------------------
def process(refs: list[ObjectRef], s3: Any, sns: Any, dynamodb: Any,
            config: tuple[DetectionSettings, IngestSettings] | None = None) -> Outcome:
    settings, ingest = config or (load_settings(), load_ingest_settings())
    topic = os.environ["ALERTS_TOPIC_ARN"]
    routed = alert_publisher(SNSSink(topic, sns, topics_from_environment()),
                             load_routing(os.environ.get("BUCKETWATCH_CONFIG") or None))
    store = DynamoDBStore(os.environ["DEDUP_TABLE"], dynamodb)
    outcome = Outcome()

    def publish(rule: Any, state: Any) -> None:
        try:
            routed(rule, state)
        except Exception as exc:
            raise SharedOutputError(f"publishing an alert to {topic} failed: {exc}") from exc
        outcome.alerts_published += 1

    writer = S3LakeWriter(s3, os.environ["PROCESSED_BUCKET"])
    session = DetectionSession.create(settings, store, writer, rules=_rules(settings), on_created=publish)
    for position, ref in enumerate(refs):
        try:
            _process_object(ref, s3, session, writer, store, ingest, outcome)
        except Exception as exc:
            if not (isinstance(exc, SharedOutputError) or _is_shared_output_error(exc)):
                LOG.error("object s3://%s/%s failed: %s: %s", ref.bucket, ref.key, type(exc).__name__, exc)
                outcome.failures.append(ObjectFailure(ref, f"{type(exc).__name__}: {exc}"))
                continue
            if any(r.message_id is None for r in refs):
                raise SharedOutputError(str(exc)) from exc
            # SQS: this and every later message are retried; the ones done so far are not.
            outcome.failures += [ObjectFailure(r, f"not processed: {exc}") for r in refs[position:]]
            LOG.error("shared output failed, %d message(s) left for a retry: %s", len(refs) - position, exc)
            break
    return outcome


def _is_shared_output_error(exc: Exception) -> bool:
    operation = getattr(exc, "operation_name", "")
    return operation in {"GetItem", "PutItem", "TransactWriteItems", "Publish"}


def object_marker(bucket: str, key: str, etag: str) -> str:
    return "object#" + hashlib.sha256(f"{bucket}\0{key}\0{etag}".encode()).hexdigest()[:40]


def _process_object(ref: ObjectRef, s3: Any, session: DetectionSession, writer: S3LakeWriter,
                    store: DynamoDBStore, ingest: IngestSettings, outcome: Outcome) -> None:
    source = f"s3://{ref.bucket}/{ref.key}"
    response = s3.get_object(Bucket=ref.bucket, Key=ref.key)
    body = response["Body"]
    marker = object_marker(ref.bucket, ref.key, str(response.get("ETag", "")))
    if store.has_marker(marker):
        body.close()
        outcome.duplicates += 1
        LOG.info("object %s was processed before (same ETag): skipped", source)
        return
    stats = ParseStats()
    rows_before = session.rows_written
    with tempfile.SpooledTemporaryFile(QUARANTINE_SPOOL_BYTES, mode="w+b") as spool:
        quarantine = _SpooledQuarantine(spool)
        try:
            for batch in parse_stream(body, source, quarantine=quarantine, stats=stats,
                                      max_record_bytes=ingest.max_record_bytes):
                session.process(batch)
            session.finish()  # everything of this object is evaluated before the next one starts
        except BaseException:
            session.discard()  # queued rows of a failed object must not ride along with the next one
            raise
        finally:
            body.close()
        if quarantine.count:
            spool.seek(0)
            name = hashlib.sha256(source.encode()).hexdigest()[:32]
            writer.client.put_object(Bucket=writer.bucket, Key=f"_quarantine/{name}.jsonl", Body=spool)
    rows = session.rows_written - rows_before
    if stats.records_in != rows + quarantine.count:
        raise RuntimeError(f"counts do not reconcile for {source}: {stats.records_in} records in != {rows} rows "
                           f"written + {quarantine.count} quarantined")
    store.put_marker(marker, int(time.time()) + MARKER_TTL_S)
    outcome.objects += 1
    outcome.records += stats.records_in
    outcome.rows += rows
    outcome.quarantined += quarantine.count


class _SpooledQuarantine:
    """Quarantine entries as JSON lines in memory, spilling to /tmp past a few MB (bounded memory)."""

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool = spool
        self.count = 0

    def add(self, entry: QuarantineEntry) -> None:
        self.spool.write(entry.to_json().encode("utf-8") + b"\n")
        self.count += 1


def run(event: Any, s3: Any, sns: Any, dynamodb: Any) -> dict[str, Any]:
    """The handler with its clients given (tests pass clients configured for the local endpoint)."""
    # A bad config file fails every invocation loudly (retries, then the dead-letter queue).
    config = load_settings(), load_ingest_settings()
    refs, unusable = read_event(event)
    for problem in unusable:
        LOG.error("unusable message%s: %s", f" {problem.message_id}" if problem.message_id else "", problem.reason)
    outcome = process(refs, s3, sns, dynamodb, config) if refs else Outcome()
    LOG.info("objects=%d (skipped as already processed: %d); %d records in = %d rows written + %d quarantined; "
             "alerts=%d failed=%d unusable=%d", outcome.objects, outcome.duplicates, outcome.records, outcome.rows,
             outcome.quarantined, outcome.alerts_published, len(outcome.failures), len(unusable))
    failed = [(f.ref.message_id, f"s3://{f.ref.bucket}/{f.ref.key}: {f.error}") for f in outcome.failures]
    failed += [(u.message_id, u.reason) for u in unusable]
    if not failed:
        return {"batchItemFailures": []}
    if any(message_id is None for message_id, _ in failed):
        # SNS / direct invocation: no partial batch response; Lambda retries, then its DLQ keeps the event.
        raise RuntimeError("; ".join(reason for _, reason in failed)[:4000])
    return {"batchItemFailures": [{"itemIdentifier": m} for m in sorted({m for m, _ in failed if m})]}


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    import boto3

    return run(event, boto3.client("s3"), boto3.client("sns"), boto3.client("dynamodb"))
