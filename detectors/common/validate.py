"""The one validator style for every configuration Bucketwatch reads.

The config file's sections, CDK context (`cdk.json` → `bucketwatch`), rule and policy metadata
and command-line values are all checked with these functions. Each takes the value and `where`,
the key path shown to the user (``detections.ip_allowlist[1].cidrs[0]``,
``context.bucketwatch.organization.members[2].account``), and either returns the value in its
checked form or raises `UserError` with one line: ``<where>: <what is wrong>, got <value>``.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from detectors.common.errors import UserError

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")


def fail(where: str, problem: str) -> UserError:
    """The error to raise: `raise fail(where, "expected ...")`."""
    return UserError(f"{where}: {problem}")


def _shown(value: Any) -> str:
    return "nothing" if value is None else repr(value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(where, f"expected a mapping, got {'nothing' if value is None else type(value).__name__}")
    return dict(value)


def reject_unknown(value: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """Unknown keys are errors (a typo must not silently mean "default")."""
    unknown = sorted(map(str, set(value) - set(allowed)))
    if not unknown:
        return
    hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(key, allowed, n=1)) else key
             for key in unknown]
    raise fail(where, f"unknown key(s) {', '.join(hints)}; expected {', '.join(sorted(allowed))}")


def section(value: Any, allowed: Collection[str], where: str) -> dict[str, Any]:
    """A mapping (None counts as empty) whose keys are all in `allowed`."""
    checked = mapping({} if value is None else value, where)
    reject_unknown(checked, allowed, where)
    return checked


def string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(where, f"expected a non-empty string, got {_shown(value)}")
    return value


def listed(value: Any, where: str, item: Callable[[Any, str], T] = string, *,  # type: ignore[assignment]
           non_empty: bool = False, unique: bool = False) -> list[T]:
    """A list whose items each pass `item(value, where[i])`."""
    if not isinstance(value, list):
        raise fail(where, f"expected a list, got {'nothing' if value is None else type(value).__name__}")
    if non_empty and not value:
        raise fail(where, "must list at least one value")
    items = [item(entry, f"{where}[{index}]") for index, entry in enumerate(value)]
    if unique:
        seen: dict[Any, int] = {}
        for index, entry in enumerate(items):
            if entry in seen:
                raise fail(f"{where}[{index}]", f"{entry!r} is listed twice (also at [{seen[entry]}])")
            seen[entry] = index
    return items


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false, got {_shown(value)}")
    return value


def integer(value: Any, where: str, low: int | None = None, high: int | None = None) -> int:
    in_range = isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low) \
        and (high is None or value <= high)
    if not in_range:
        if low is not None and high is not None:
            wanted = f"a whole number from {low} to {high}"
        elif low is not None:
            wanted = f"a whole number of at least {low}"
        else:
            wanted = "a whole number"
        raise fail(where, f"expected {wanted}, got {_shown(value)}")
    return value


def one_of(value: Any, choices: Iterable[str], where: str) -> str:
    options = list(choices)
    if value not in options:
        raise fail(where, f"{_shown(value)} is not one of {', '.join(options)}")
    return value


def account_id(value: Any, where: str) -> str:
    """A 12-digit AWS account id (a YAML/JSON number is accepted when it has 12 digits)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not ACCOUNT_ID.match(text):
        raise fail(where, f"{_shown(value)} is not a 12-digit AWS account id")
    return text


def organization_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ORG_ID.match(value):
        raise fail(where, f"{_shown(value)} is not an AWS Organizations id like o-a1b2c3d4e5")
    return value


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition that this machine's botocore knows (offline)."""
    try:
        import botocore.session
    except ImportError:  # pragma: no cover - botocore ships with boto3, a core dependency
        return frozenset()
    session = botocore.session.get_session()
    return frozenset(region for partition in session.get_available_partitions()
                     for region in session.get_available_regions("s3", partition_name=partition))


def region(value: Any, where: str) -> str:
    """An AWS region name; a typo (`us-eest-1`) is an error that suggests the closest region."""
    if not isinstance(value, str) or not REGION_SHAPE.match(value):
        raise fail(where, f"{_shown(value)} is not an AWS region name like us-east-1")
    regions = known_regions()
    if regions and value not in regions:
        close = difflib.get_close_matches(value, sorted(regions), n=1)
        hint = f"; did you mean {close[0]}?" if close else " (upgrade boto3 if it is a new region)"
        raise fail(where, f"{value!r} is not a known AWS region{hint}")
    return value


def network(value: Any, where: str) -> Network:
    text = string(value, where)
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise fail(where, f"'{text}' is not an IP network in CIDR notation (e.g. 10.0.0.0/8 or 2001:db8::/32)") from None


def optional(values: Mapping[str, Any], key: str, parse: Callable[[Any, str], T], where: str,
             default: T) -> T:
    """`parse(values[key], where.key)`, or `default` when the key is absent or null."""
    value = values.get(key)
    return default if value is None else parse(value, f"{where}.{key}")
