"""Our own implementation of the `panther_base_helpers` functions that rule packs import.

Written from the documented behaviour of Panther's helpers, not copied. Put this directory on
`sys.path` (the rule loader does) and `from panther_base_helpers import deep_get` works.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any


def deep_get(dictionary: Any, *keys: str, default: Any = None) -> Any:
    """Walk nested mappings by keys; `default` when any level is missing or the value is None."""
    value = dictionary
    for key in keys:
        if not isinstance(value, Mapping):
            return default
        value = value.get(key)
        if value is None:
            return default
    return value


def deep_walk(obj: Any, *keys: str, default: Any = None, return_val: str = "all") -> Any:
    """Like deep_get, but descends into lists; `return_val` picks "all", "first" or "last"."""

    def _walk(value: Any, remaining: Sequence[str]) -> list[Any]:
        if isinstance(value, list | tuple):
            out: list[Any] = []
            for item in value:
                out.extend(_walk(item, remaining))
            return out
        if not remaining:
            return [] if value is None or value == "" else [value]
        if not isinstance(value, Mapping):
            return []
        return _walk(value.get(remaining[0]), remaining[1:])

    found = _walk(obj, keys)
    if not found:
        return default
    if return_val == "first":
        return found[0]
    if return_val == "last":
        return found[-1]
    unique = list(dict.fromkeys(found)) if all(_hashable(v) for v in found) else found
    return unique[0] if len(unique) == 1 else unique


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


def pattern_match(string_to_match: str | None, pattern: str) -> bool:
    """Shell-style glob match (`*`, `?`, `[...]`), case-sensitive; compiled patterns are cached."""
    if string_to_match is None:
        return False
    return _glob(pattern).match(str(string_to_match)) is not None


def pattern_match_list(string_to_match: str | None, patterns: Iterable[str]) -> bool:
    """True when any glob in `patterns` matches."""
    return any(pattern_match(string_to_match, pattern) for pattern in patterns)


@lru_cache(maxsize=65536)
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_ip_in_network(ip_addr: str | None, networks: Iterable[str | ipaddress._BaseNetwork]) -> bool:
    """True when `ip_addr` is inside one of `networks` (CIDR strings or network objects)."""
    ip = _ip(str(ip_addr)) if ip_addr else None
    if ip is None:
        return False
    for network in networks:
        net = ipaddress.ip_network(network, strict=False) if isinstance(network, str) else network
        if ip.version == net.version and ip in net:
            return True
    return False


def get_val_from_list(list_of_dicts: Iterable[Mapping[str, Any]], return_field_key: str,
                      field_cmp_key: str, field_cmp_val: Any) -> set[Any]:
    """Values of `return_field_key` from the dicts whose `field_cmp_key` equals `field_cmp_val`."""
    return {
        item.get(return_field_key)
        for item in list_of_dicts or ()
        if isinstance(item, Mapping) and item.get(field_cmp_key) == field_cmp_val
    }


def key_value_list_to_dict(list_objects: Iterable[Mapping[str, Any]], key: str, value: str) -> dict[str, Any]:
    """[{"key": k, "value": v}, ...] -> {k: v}."""
    return {item[key]: item[value] for item in list_objects or () if key in item and value in item}


def is_base64(candidate: str) -> str:
    """The decoded text when `candidate` is base64 of UTF-8 text, else ""."""
    import base64
    import binascii

    if not candidate or len(candidate) % 4:
        return ""
    try:
        return base64.b64decode(candidate, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
