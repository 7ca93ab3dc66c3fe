"""The notifier Lambda: alerts from an SNS topic -> a chat webhook (Slack's format).

Environment (set by infra/notifier.py):
  WEBHOOK_SECRET_ARN       Secrets Manager secret holding the webhook URL (the URL itself, or JSON
                           {"url": "..."}), or
  WEBHOOK_PARAMETER_NAME   SSM SecureString parameter holding it.
The URL is never in the environment: it is a credential (anyone holding it can post). It is read
once per container and again after URL_TTL_S, so a rotated secret is picked up.

Each SNS record is one alert (the JSON the sinks publish); a message that is not an alert is sent
as plain text. A webhook answer other than 2xx raises, so Lambda retries the event and, after its
retries, hands it to the function's failure destination: a message is never dropped silently.
Imports: the standard library and boto3 only.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from detectors.notify.slack import format_alert, format_text

LOG = logging.getLogger("bucketwatch.notifier")
LOG.setLevel(logging.INFO)
URL_TTL_S = 300
TIMEOUT_S = 10
_CACHE: dict[str, tuple[float, str]] = {}


class WebhookError(RuntimeError):
    """The webhook refused or could not be reached: the invocation fails and is retried."""


def webhook_url(secrets: Any = None, ssm: Any = None, now: float | None = None) -> str:
    """The webhook URL from Secrets Manager or SSM (cached for URL_TTL_S)."""
    secret_arn, parameter = os.environ.get("WEBHOOK_SECRET_ARN"), os.environ.get("WEBHOOK_PARAMETER_NAME")
    source = secret_arn or parameter
    if not source:
        raise WebhookError("set WEBHOOK_SECRET_ARN (Secrets Manager) or WEBHOOK_PARAMETER_NAME (SSM SecureString)")
    now = time.time() if now is None else now
    cached = _CACHE.get(source)
    if cached is not None and now - cached[0] < URL_TTL_S:
        return cached[1]
    import boto3

    if secret_arn:
        text = (secrets or boto3.client("secretsmanager")).get_secret_value(SecretId=secret_arn)["SecretString"]
    else:
        text = (ssm or boto3.client("ssm")).get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    url = _url_from(text.strip())
    _CACHE[source] = (now, url)
    return url


def _url_from(text: str) -> str:
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("url") or "")
        except (ValueError, AttributeError):
            raise WebhookError("the webhook secret is JSON without a \"url\" string") from None
    parts = urlsplit(text)
    if not parts.scheme or not parts.hostname:
        raise WebhookError("the webhook secret does not hold a URL")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise WebhookError("the webhook URL must be https:// (plain http only to a loopback address)")
    return text


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def post(url: str, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "bucketwatch-notifier"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode("utf-8", "replace")
        raise WebhookError(f"the webhook answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WebhookError(f"the webhook could not be reached: {getattr(exc, 'reason', exc)}") from None


def payload_for(record: dict[str, Any]) -> dict[str, Any]:
    sns = record.get("Sns") or {}
    message = sns.get("Message") or ""
    try:
        alert = json.loads(message)
    except ValueError:
        alert = None
    if isinstance(alert, dict) and "severity" in alert and ("title" in alert or "rule_id" in alert):
        return format_alert(alert)
    return format_text(message, sns.get("Subject"))


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    records = [r for r in event.get("Records") or () if r.get("EventSource") == "aws:sns"]
    if not records:
        return {"posted": 0}
    url = webhook_url()
    for record in records:
        status = post(url, payload_for(record))
        LOG.info("posted message %s: HTTP %s", (record.get("Sns") or {}).get("MessageId"), status)
    return {"posted": len(records)}
