"""Counted nouns in summaries: "1 file", "2 files", "1,234 policies" (never "1 files")."""

from __future__ import annotations

_IRREGULAR = {"policy": "policies", "entry": "entries", "query": "queries", "match": "matches"}


def plural(count: int, word: str, many: str = "") -> str:
    """`count` (with thousands separators) and `word`, or its plural `many` (default: `word` + s,
    or the known irregular form of its last word) when count is not 1."""
    if count == 1:
        return f"{count:,} {word}"
    if not many:
        head, _, last = word.rpartition(" ")
        many = (head + " " if head else "") + _IRREGULAR.get(last, last + "s")
    return f"{count:,} {many}"
