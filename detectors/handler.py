"""The detector Lambda: S3 object notifications in; lake objects, rule matches and alerts out.

Accepts S3 event notifications delivered directly, through SNS, or through SQS (with the SNS
envelope in the body, or raw). Environment (set by infra/detector.py):
  ALERTS_TOPIC_ARN   SNS topic for alerts (one JSON message per new alert)
  PROCESSED_BUCKET   lake bucket (same layout as the local lake)
  DEDUP_TABLE        DynamoDB table (pk S, TTL expires_at) for dedup state
  BUCKETWATCH_CONFIG optional path of the config file (its detections: and alerts: sections)
  BUCKETWATCH_ALERT_TOPICS  optional JSON {destination: topic ARN}: routed alerts go there too

Failure handling: each object is processed on its own. Lines that cannot be parsed go to the
quarantine (`_quarantine/` in the processed bucket) and do not fail anything. An object that
cannot be read (missing, corrupt gzip, denied) fails only its own message: with SQS the
handler returns `batchItemFailures` so only those messages are retried; with SNS or a direct
invocation it raises after finishing the other objects, so the platform retries the event.
Errors of the shared outputs (alerts topic, dedup table) raise at once. Lake writes are
idempotent (file names derive from row ids); alerts are published before their dedup state is
saved, so a retry can repeat an alert but never loses one.

Imports: boto3, pyarrow, pyyaml only (no duckdb, aws_cdk, checkov in the Lambda bundle).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from detectors.config import DetectionSettings, load_detection_settings
from detectors.engine.routing import alert_publisher, load_routing, topics_from_environment
from detectors.engine.rules import load_rules
from detectors.engine.session import DetectionSession
from detectors.engine.sinks import SNSSink
from detectors.engine.stores import DynamoDBStore
from detectors.lake import S3LakeWriter
from detectors.pipeline import ParseStats, parse_stream
from detectors.quarantine import MemoryQuarantine

LOG = logging.getLogger("bucketwatch.detector")
LOG.setLevel(logging.INFO)


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
class Outcome:
    objects: int = 0
    records: int = 0
    quarantined: int = 0
    alerts_published: int = 0
    failures: list[ObjectFailure] = field(default_factory=list)


class SharedOutputError(RuntimeError):
    """The alerts topic or dedup table failed: retry the whole invocation."""


def object_refs(event: dict[str, Any]) -> list[ObjectRef]:
    """Every S3 object named by the event, whatever carried the notification."""
    refs: list[ObjectRef] = []
    for record in event.get("Records") or ():
        if record.get("eventSource") == "aws:sqs":
            refs += _from_body(record.get("body") or "", record.get("messageId"))
        elif record.get("EventSource") == "aws:sns":
            refs += _from_body((record.get("Sns") or {}).get("Message") or "", None)
        elif record.get("eventSource") == "aws:s3":
            refs += _from_s3_records({"Records": [record]}, None)
    return refs


def _from_body(body: str, message_id: str | None) -> list[ObjectRef]:
    try:
        payload = json.loads(body)
    except ValueError:
        LOG.warning("ignoring a message that is not JSON: %.200s", body)
        return []
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and "Message" in payload:
        return _from_body(payload["Message"], message_id)  # SNS envelope inside SQS
    return _from_s3_records(payload, message_id)


def _from_s3_records(payload: Any, message_id: str | None) -> list[ObjectRef]:
    if not isinstance(payload, dict):
        return []
    if payload.get("Event") == "s3:TestEvent":
        return []  # sent once when a notification is configured
    refs = []
    for record in payload.get("Records") or ():
        s3 = record.get("s3") or {}
        bucket, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
        if bucket and key is not None:
            # Keys arrive URL-encoded with '+' for spaces.
            refs.append(ObjectRef(bucket=bucket, key=unquote_plus(key), message_id=message_id))
    return refs


def load_settings() -> DetectionSettings:
    """BUCKETWATCH_CONFIG's detections (defaults without it), with the organization."""
    return load_detection_settings(os.environ.get("BUCKETWATCH_CONFIG") or None)


_RULES: dict[str, Any] = {}


def _rules(settings: DetectionSettings) -> list[Any]:
    # Loaded once per container: imports of rule modules are the slow part of a cold start.
    key = repr(settings)
    if key not in _RULES:
        _RULES.clear()
        _RULES[key] = load_rules(settings=settings, only_enabled=True)
    return _RULES[key]


def process(refs: list[ObjectRef], s3: Any, sns: Any, dynamodb: Any) -> Outcome:
    settings = load_settings()
    topic = os.environ["ALERTS_TOPIC_ARN"]
    routed = alert_publisher(SNSSink(topic, sns, topics_from_environment()),
                             load_routing(os.environ.get("BUCKETWATCH_CONFIG") or None))
    outcome = Outcome()

    def publish(rule: Any, state: Any) -> None:
        try:
            routed(rule, state)
        except Exception as exc:
            raise SharedOutputError(f"publishing an alert to {topic} failed: {exc}") from exc
        outcome.alerts_published += 1

    writer = S3LakeWriter(s3, os.environ["PROCESSED_BUCKET"])
    session = DetectionSession.create(settings, DynamoDBStore(os.environ["DEDUP_TABLE"], dynamodb), writer,
                                      rules=_rules(settings), on_created=publish)
    for ref in refs:
        try:
            _process_object(ref, s3, session, writer, outcome)
        except SharedOutputError:
            raise
        except Exception as exc:
            if _is_shared_output_error(exc):
                raise
            LOG.error("object s3://%s/%s failed: %s: %s", ref.bucket, ref.key, type(exc).__name__, exc)
            outcome.failures.append(ObjectFailure(ref, f"{type(exc).__name__}: {exc}"))
    return outcome


def _is_shared_output_error(exc: Exception) -> bool:
    operation = getattr(exc, "operation_name", "")
    return operation in {"GetItem", "PutItem", "Publish"}


def _process_object(ref: ObjectRef, s3: Any, session: DetectionSession, writer: S3LakeWriter,
                    outcome: Outcome) -> None:
    source = f"s3://{ref.bucket}/{ref.key}"
    body = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
    quarantine, stats = MemoryQuarantine(), ParseStats()
    try:
        for batch in parse_stream(body, source, quarantine=quarantine, stats=stats):
            session.process(batch)
        session.finish()  # everything of this object is evaluated before the next one starts
    except BaseException:
        session.discard()  # queued rows of a failed object must not ride along with the next one
        raise
    finally:
        body.close()
        if quarantine.entries:
            name = hashlib.sha256(source.encode()).hexdigest()[:32]
            text = "".join(entry.to_json() + "\n" for entry in quarantine.entries)
            writer.client.put_object(Bucket=writer.bucket, Key=f"_quarantine/{name}.jsonl", Body=text.encode())
    outcome.objects += 1
    outcome.records += stats.records_out
    outcome.quarantined += stats.quarantined


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    import boto3

    refs = object_refs(event)
    outcome = process(refs, boto3.client("s3"), boto3.client("sns"), boto3.client("dynamodb"))
    LOG.info("objects=%d records=%d quarantined=%d alerts=%d failed=%d", outcome.objects, outcome.records,
             outcome.quarantined, outcome.alerts_published, len(outcome.failures))
    if not outcome.failures:
        return {"batchItemFailures": []}
    failed_ids = {f.ref.message_id for f in outcome.failures}
    if None in failed_ids:
        # SNS / direct invocation: no partial batch response; let the platform retry.
        raise RuntimeError("; ".join(f"s3://{f.ref.bucket}/{f.ref.key}: {f.error}" for f in outcome.failures))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(failed_ids)]}
