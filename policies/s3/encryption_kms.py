"""S3 bucket encrypts with AWS KMS by default: access to objects also needs access to the key."""

from __future__ import annotations

from typing import Any

from policies.helpers import sse_algorithms

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def policy(resource: dict[str, Any]) -> bool:
    return any(algorithm in KMS_ALGORITHMS for algorithm in sse_algorithms(resource.get("EncryptionRules")))


def reason(resource: dict[str, Any]) -> str:
    found = sse_algorithms(resource.get("EncryptionRules"))
    return f"default encryption is {', '.join(found)}, not SSE-KMS" if found else "no default encryption rule"
