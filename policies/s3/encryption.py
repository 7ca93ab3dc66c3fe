"""S3 bucket has default encryption: objects written without encryption headers get encrypted."""

from __future__ import annotations

from typing import Any

from policies.helpers import sse_algorithms


def policy(resource: dict[str, Any]) -> bool:
    return bool(sse_algorithms(resource.get("EncryptionRules")))


def reason(resource: dict[str, Any]) -> str:
    return "no default encryption rule with an SSE algorithm"
