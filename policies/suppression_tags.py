"""Suppressions a deployed bucket carries itself, as tags, so a live scan honours the same written
exceptions that the template's metadata gives the synth-time gate.

One tag per policy: key `bucketwatch:suppress:<policy id>`, value the reason. Bucketwatch's own
stacks tag their buckets this way from the same waivers (infra/waivers.py) that write the
template metadata, so synth-time and live verdicts agree (both SUPPRESSED, with the reason).
S3 tag values allow letters, digits, spaces and `+ - = . _ : / @` up to 256 characters: other
characters of a reason become spaces and long reasons are cut, never rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from detectors.common.errors import UserError
from policies.config import METADATA, Suppression, suppression

TAG_PREFIX = "bucketwatch:suppress:"
MAX_VALUE = 256
_NOT_ALLOWED = re.compile(r"[^\w +\-=._:/@]+", re.UNICODE)


def suppression_tags(policy_ids: Iterable[str], reason: str) -> dict[str, str]:
    """Tags that suppress `policy_ids` with `reason` (cleaned to S3's tag character set)."""
    value = " ".join(_NOT_ALLOWED.sub(" ", reason).split())[:MAX_VALUE].rstrip()
    return {f"{TAG_PREFIX}{policy}": value for policy in policy_ids}


def tag_suppressions(tags: Mapping[str, Any] | None, resource: str) -> list[Suppression]:
    """The suppressions in a live bucket's tags; a tag with too short a reason is not applied
    (reported like any invalid suppression would be: it simply does not suppress)."""
    found = []
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not key.startswith(TAG_PREFIX):
            continue
        entry = {"id": key.removeprefix(TAG_PREFIX), "reason": value}
        try:
            found.append(suppression(entry, f"{resource}: tag {key}", origin=METADATA, resource=resource, id_key="id"))
        except UserError:
            continue
    return found
