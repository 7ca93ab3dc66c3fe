"""The notifier Lambda: SNS alert messages -> Slack-format posts to a webhook whose URL lives in
Secrets Manager or SSM (moto over HTTP), posted to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from detectors.notify import webhook
from detectors.notify.slack import format_alert

ALERT = {
    "kind": "detection", "status": "created", "rule_id": "Bucketwatch.S3.BucketPolicyExternalGrant",
    "display_name": "S3 Bucket Policy Grants An External Account", "alert_id": "a1b2", "severity": "High",
    "title": "S3 bucket [customer-archive] policy grants account(s) [193672423079] outside the organization, "
             "changed by [arn:aws:iam::111122223333:user/leaked-ci]",
    "dedup": "customer-archive:193672423079", "first_seen": "2024-05-14T10:00:00Z", "last_seen": "2024-05-14T10:00:00Z",
    "event_count": 1, "runbook": "Remove the statement, then look for reads by that account.",
    "context": {"bucketName": "customer-archive", "externalAccounts": ["193672423079"]},
    "samples": [{"eventName": "PutBucketPolicy", "requestParameters": {"bucketName": "customer-archive"}}],
    "destinations": ["pager"], "reference": "https://stratus-red-team.cloud/",
}


class Webhook:
    """A local HTTP server standing in for Slack: records what was posted, answers `status`."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok" if outer.status == 200 else b"rate_limited")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Webhook()
    yield server
    server.close()


@pytest.fixture
def secret(aws_endpoint, hook, monkeypatch):
    webhook._CACHE.clear()
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bucketwatch/webhook", SecretString=json.dumps({"url": hook.url}))["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    monkeypatch.delenv("WEBHOOK_PARAMETER_NAME", raising=False)
    return arn


def sns_event(*messages: str, subject: str = "[High] S3 bucket policy") -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": f"m{i}", "Subject": subject, "Message": m}}
                        for i, m in enumerate(messages)]}


def test_an_alert_becomes_a_readable_slack_message(secret, hook):
    assert webhook.handler(sns_event(json.dumps(ALERT))) == {"posted": 1}
    [post] = hook.posts
    assert post["path"] == "/services/T000/B000/XXXX" and post["type"] == "application/json"
    payload = post["body"]
    assert payload["text"].startswith(":red_circle: [High] S3 bucket [customer-archive] policy grants")
    blocks = payload["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                    "text": "High: S3 Bucket Policy Grants An External Account"}}
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert "*Rule*\nBucketwatch.S3.BucketPolicyExternalGrant" in fields and "*Seen*\n2024-05-14T10:00:00Z" in fields
    assert "*Routed to*\npager" in fields
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert "*Runbook*\nRemove the statement, then look for reads by that account." in texts
    assert any(t.startswith("*Context*\n```") and '"externalAccounts"' in t for t in texts)
    assert any(t.startswith("*Sample event*\n```") and "PutBucketPolicy" in t for t in texts)
    assert blocks[-1]["elements"][0]["text"].startswith("alert a1b2 · dedup customer-archive:193672423079")


def test_text_from_logs_cannot_ping_or_link(secret, hook):
    hostile = {**ALERT, "title": "Possible ransom note [<!channel> <https://evil.example|click>] uploaded",
               "samples": [{"key": "<!here>&"}]}
    webhook.handler(sns_event(json.dumps(hostile)))
    text = json.dumps(hook.posts[0]["body"])
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text


def test_a_huge_alert_keeps_within_slack_limits(secret, hook):
    huge = {**ALERT, "title": "T" * 5000, "runbook": "R" * 9000, "context": {"k": "v" * 20000},
            "samples": [{"blob": "x" * 50000}] * 3, "display_name": "D" * 400}
    webhook.handler(sns_event(json.dumps(huge)))
    payload = hook.posts[0]["body"]
    assert len(payload["blocks"][0]["text"]["text"]) <= 150 and len(payload["text"]) <= 3000
    for block in payload["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert any("*Sample event (1 of 3)*" in b.get("text", {}).get("text", "") for b in payload["blocks"])
    assert "more characters)" in payload["blocks"][3]["text"]["text"]


def test_a_message_that_is_not_an_alert_is_posted_as_text(secret, hook):
    webhook.handler(sns_event("You have chosen to subscribe to the topic", subject="AWS Notification"))
    assert hook.posts[0]["body"] == {"text": "AWS Notification\nYou have chosen to subscribe to the topic"}


def test_a_refused_post_raises_so_lambda_retries(secret, hook):
    hook.status = 429
    with pytest.raises(webhook.WebhookError, match="the webhook answered 429: rate_limited"):
        webhook.handler(sns_event(json.dumps(ALERT)))


def test_an_unreachable_webhook_raises(aws_endpoint, monkeypatch, hook):
    webhook._CACHE.clear()
    url = hook.url
    hook.close()  # nothing listens there any more
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bucketwatch/webhook-gone", SecretString=url)["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    with pytest.raises(webhook.WebhookError, match="could not be reached"):
        webhook.handler(sns_event(json.dumps(ALERT)))


def test_the_url_from_an_ssm_secure_string(aws_endpoint, hook, monkeypatch):
    webhook._CACHE.clear()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/bucketwatch/webhook", Value=hook.url, Type="SecureString")
    monkeypatch.delenv("WEBHOOK_SECRET_ARN", raising=False)
    monkeypatch.setenv("WEBHOOK_PARAMETER_NAME", "/bucketwatch/webhook")
    webhook.handler(sns_event(json.dumps(ALERT)))
    assert len(hook.posts) == 1


@pytest.mark.parametrize(("secret_text", "message"), [
    ("http://hooks.slack.com/services/x", "must be https://"),
    ('{"token": "x"}', "does not hold a URL"),
    ("{not json", "JSON without a \"url\" string"),
])
def test_a_bad_secret_is_a_clear_error(aws_endpoint, monkeypatch, secret_text, message):
    webhook._CACHE.clear()
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bucketwatch/bad", SecretString=secret_text)["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", arn)
    with pytest.raises(webhook.WebhookError, match=message):
        webhook.handler(sns_event(json.dumps(ALERT)))


def test_no_url_source_configured(monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET_ARN", raising=False)
    monkeypatch.delenv("WEBHOOK_PARAMETER_NAME", raising=False)
    with pytest.raises(webhook.WebhookError, match="set WEBHOOK_SECRET_ARN"):
        webhook.handler(sns_event(json.dumps(ALERT)))


def test_the_url_is_read_once_per_ttl(secret, hook):
    calls = []

    class Counting:
        def get_secret_value(self, SecretId):
            calls.append(SecretId)
            return boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=SecretId)

    assert webhook.webhook_url(Counting(), now=1000.0) == hook.url
    assert webhook.webhook_url(Counting(), now=1000.0 + webhook.URL_TTL_S - 1) == hook.url
    webhook.webhook_url(Counting(), now=1000.0 + webhook.URL_TTL_S + 1)
    assert calls == [secret, secret]


def test_posture_alerts_format_too():
    posture = {"kind": "posture", "rule_id": "BW.S3.PublicRead", "severity": "High", "title": "Public read: arn:aws:s3:::b",
               "first_seen": "2024-05-14T00:00:00Z", "last_seen": "2024-05-14T00:00:00Z", "event_count": 1,
               "samples": [], "context": {"resource": "arn:aws:s3:::b"}, "runbook": "Block public access."}
    payload = format_alert(posture)
    assert payload["blocks"][0]["text"]["text"] == "High: BW.S3.PublicRead"
    assert not any("Sample event" in b.get("text", {}).get("text", "") for b in payload["blocks"])
