"""The fast path (vectorized pre-filters, hooks, lazy Arrow rows) must match exactly what the
plain path (every event as a dict through every rule) matches, for every built-in rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from detectors.config import activate, parse_detections
from detectors.engine.batches import row_events
from detectors.engine.evaluate import Engine
from detectors.engine.rows import LazyRows
from detectors.engine.rules import load_rules
from detectors.engine.stores import MemoryStore
from detectors.engine.vector import rows_where
from detectors.pipeline import parse_inputs, parse_stream

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "detectors" / "samples"
CONFIG = {
    "known_good_access": [{"bucket": "prod-data-lake", "principals": ["arn:aws:sts::*:assumed-role/DataPipelineRole/*"]},
                          {"bucket": "finance-reports", "principals": ["arn:aws:sts::*:assumed-role/finance-etl/*"]}],
    "ip_allowlist": [{"cidrs": ["10.0.0.0/8", "54.0.0.0/8"], "buckets": ["prod-*", "customer-archive"]},
                     {"cidrs": ["2001:db8::/48"]}],
    "rules": {"AWS.S3.ServerAccess.Unauthenticated": {"enabled": True}},
}


def matches(engine: Engine, batch_number: int) -> set[tuple[str, str, int, object]]:
    """Every match of the batch (alerting or not), before grouping."""
    found = set()
    for (rule_id, dedup), pending in engine._pending.items():
        for match in pending:
            refs = match.refs.tolist() if hasattr(match, "refs") else [match.ref]
            found |= {(rule_id, dedup, batch_number, ref) for ref in refs}
    engine.flush()
    return found


def both_paths(batches, rules):
    fast, plain = Engine(rules, MemoryStore()), Engine(rules, MemoryStore())
    fast_found, plain_found = set(), set()
    for number, batch in enumerate(batches):
        fast.process_table(batch.log_type, batch.table, row_events(batch))
        fast_found |= matches(fast, number)
        plain.process_events(list(batch.events()), batch.log_type)
        plain_found |= matches(plain, number)
    return fast, fast_found, plain_found


@pytest.fixture
def rules():
    settings = parse_detections(CONFIG)
    activate(settings)
    yield load_rules(settings=settings, only_enabled=True)
    activate(parse_detections(None))


def test_samples_same_matches_both_ways(rules):
    batches = list(parse_inputs([str(SAMPLES / "logs")]))
    fast, fast_found, plain_found = both_paths(batches, rules)
    assert fast_found == plain_found
    assert len(fast_found) == fast.stats.matches > 300
    assert fast.stats.candidates < sum(b.table.num_rows for b in batches)


def test_generated_traffic_same_matches_both_ways(rules, tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    from gen_access_logs import generate

    lines = "\n".join(line for _, _, line in generate(4000, seed=11)) + "\n"
    path = tmp_path / "2020-05-10-00-00-00-0123456789ABCDEF"
    path.write_text(lines)
    with path.open("rb") as stream:
        batches = list(parse_stream(stream, str(path)))
    fast, fast_found, plain_found = both_paths(batches, rules)
    assert fast_found == plain_found
    assert {found[0] for found in fast_found} >= {
        "AWS.S3.ServerAccess.IPWhitelist", "AWS.S3.ServerAccess.UnknownRequester", "Bucketwatch.S3.MassGetObject",
        "AWS.S3.ServerAccess.Insecure", "AWS.S3.ServerAccess.Error"}
    assert fast.stats.candidates < 4000


def test_batches_of_many_chunks_same_matches_both_ways(rules, tmp_path):
    """A combined batch has one chunk per delivered object: the declared rules decide their later
    conditions on the few rows left (columns taken chunk by chunk) and the ransom-note pre-filter
    reads the keys of uploads only; the matches are still exactly the plain path's."""
    sys.path.insert(0, str(REPO / "bench"))
    from gen_access_logs import generate

    from detectors.pipeline import ParsedBatch

    items = list(generate(5000, seed=23))
    lines = [line for _, _, line in items]
    lines[17] = lines[17].replace("REST.GET.OBJECT", "REST.PUT.OBJECT", 1)  # make sure some uploads exist
    notes = [i for i, line in enumerate(lines) if "REST.PUT.OBJECT" in line][:3]
    for i in notes:  # ransom notes among the uploads, in different chunks
        fields = lines[i].split(" ")
        key_at = fields.index("REST.PUT.OBJECT") + 1
        fields[key_at] = f"backups/HOW_TO_DECRYPT_FILES_{i}.txt"
        lines[i] = " ".join(fields)
    path = tmp_path / "2020-05-10-00-00-00-0123456789ABCDEF"
    path.write_text("\n".join(lines) + "\n")
    with path.open("rb") as stream:
        (table,) = [b.table for b in parse_stream(stream, str(path))]
    chunked = pa.concat_tables([table.slice(start, 333) for start in range(0, table.num_rows, 333)])
    assert chunked.column(0).num_chunks > 10
    fast, fast_found, plain_found = both_paths([ParsedBatch("AWS.S3ServerAccess", str(path), chunked)], rules)
    assert not fast.errors
    assert fast_found == plain_found
    found_rules = {found[0] for found in fast_found}
    assert {"AWS.S3.ServerAccess.Error", "AWS.S3.RansomwareNoteUpload", "AWS.S3.DeleteObject"} <= found_rules
    assert len([f for f in fast_found if f[0] == "AWS.S3.RansomwareNoteUpload"]) == len(notes)


def test_take_sorted_equals_take_across_chunks():
    import numpy as np

    from detectors.engine.vector import take_sorted

    column = pa.chunked_array([["a", None], [], ["c", "d", "e"], ["f"]], pa.string())
    for rows in ([0, 2, 5], [], [1, 4], [0, 1, 2, 3, 4, 5], [5]):
        at = np.asarray(rows, dtype=np.int64)
        assert take_sorted(column, at).to_pylist() == column.take(pa.array(at)).to_pylist()
    assert take_sorted(pa.chunked_array([["x", "y"]]), np.asarray([1])).to_pylist() == ["y"]


def test_rows_where_decides_per_distinct_combination():
    table = pa.table({"Bucket": ["a", "a", "b", None, "a"], "ip": ["1", "2", "1", "1", "1"]})
    calls = []

    def predicate(bucket, ip):
        calls.append((bucket, ip))
        return bucket == "a" and ip == "1"

    mask = rows_where(table, ("bucket", "IP"), predicate)
    assert mask.to_pylist() == [True, False, False, False, True]
    assert sorted(calls, key=str) == sorted([("a", "1"), ("a", "2"), ("b", "1"), (None, "1")], key=str)
    assert rows_where(table, ("bucket", "nope"), predicate) is None


def test_outside_networks_ipv4_masks_ipv6_and_junk():
    import ipaddress

    from detectors.engine.rules import ensure_helpers_importable
    from detectors.engine.vector import ipv4_ints, outside_networks

    ensure_helpers_importable()
    from bucketwatch_helpers import NetworkSet

    ips = ["10.1.2.3", "11.0.0.1", "999.1.1.1", "2001:db8::1", "2001:db9::1", None, "", "10.0.0.1", "10.0.0.1"]
    buckets = ["a", "a", "a", "a", "a", "a", "a", "b", None]
    assert ipv4_ints(pa.chunked_array([pa.array(ips)])).tolist()[:3] == [167838211, 184549377, -1]
    allowed = NetworkSet([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")])
    table = pa.table({"bucket": buckets, "remoteip": ips})
    mask = outside_networks(table, "bucket", "remoteip", lambda bucket: allowed if bucket == "a" else None)
    # 999.1.1.1 is not an address at all: outside; no address: not judged; bucket b: not covered.
    assert mask.to_pylist() == [False, True, True, False, True, False, False, False, False]


def test_generated_days_of_traffic_give_the_same_alerts_both_ways(rules, tmp_path):
    """Alerts (windows, counts, times, titles, context, samples) over six days of generated traffic in many
    batches: the block fold of vectorized matches equals the match-by-match fold."""
    sys.path.insert(0, str(REPO / "bench"))
    from gen_access_logs import generate

    path = tmp_path / "2020-05-10-00-00-00-0123456789ABCDEF"
    path.write_text("\n".join(line for _, _, line in generate(6000, seed=5)) + "\n")
    with path.open("rb") as stream:
        table = next(iter(parse_stream(stream, str(path)))).table
    fast, plain = Engine(rules, MemoryStore()), Engine(rules, MemoryStore())
    for start in range(0, table.num_rows, 700):  # many batches: stored windows get extended
        part = table.slice(start, 700)
        fast.process_table("AWS.S3ServerAccess", part, lambda idx, p=part: LazyRows(p, idx).rows())
        fast.flush()
        plain.process_events([{k: v for k, v in row.items() if v is not None} for row in _texts(part)],
                             "AWS.S3ServerAccess")
        plain.flush()

    def summary(engine):
        return sorted((m["rule_id"], m["dedup"], m["alert_id"], m["event_count"], m["first_seen"], m["last_seen"],
                       m["title"], m["severity"], m["status"], json.dumps(m["context"], sort_keys=True, default=str),
                       json.dumps(m["samples"], sort_keys=True, default=str))
                      for m in engine.alert_messages())

    assert summary(fast) == summary(plain)
    assert len(summary(fast)) > 50


def _texts(table):
    from detectors.pipeline import panther_time

    for row in table.to_pylist():
        yield {k: panther_time(v) if k in ("time", "p_event_time", "p_parse_time") else v for k, v in row.items()}


def test_arrow_dedup_strings_group_as_python_strings_do():
    """`matched` hands dedup strings over as Arrow; the engine's grouping must equal the
    per-row Python one (str(), 1000-character cut, sorted keys), nulls and long strings too."""
    import numpy as np

    from detectors.engine.evaluate import _dedup_codes

    for values in (["b:x", "a:y", None, "b:x", "é:z", "a:y"], ["a" * 1200, "a" * 1100, "b"], ["only"] * 3):
        expected_keys, expected_inverse = np.unique(
            np.asarray([str(v)[:1000] for v in values], dtype=object), return_inverse=True)
        for arrow in (pa.array(values, pa.string()), pa.chunked_array([pa.array(values[:1]), pa.array(values[1:])]),
                      pa.array(values, pa.string()).dictionary_encode()):
            keys, inverse = _dedup_codes(arrow)
            assert keys.tolist() == expected_keys.tolist()
            assert inverse.tolist() == expected_inverse.tolist()
    # Declared rules hand over dictionary arrays whose dictionary may hold unused values and values
    # equal after the 1000-character cut.
    encoded = pa.DictionaryArray.from_arrays(pa.array([3, 0, 3, 2], pa.int32()),
                                             pa.array(["z", "unused", "a" * 1000 + "x", "a" * 1000 + "y"]))
    keys, inverse = _dedup_codes(encoded)
    assert keys.tolist() == ["a" * 1000, "z"]
    assert inverse.tolist() == [0, 1, 0, 0]


def test_arrow_formatted_times_equal_panther_time():
    from datetime import datetime

    from detectors.engine.rows import panther_times
    from detectors.pipeline import panther_time

    values = [datetime(2020, 2, 14, 0, 53, 48, 123000), None, datetime(1999, 12, 31, 23, 59, 59),
              datetime(2020, 1, 1, 0, 0, 0, 1000)]
    for unit in ("s", "ms", "us"):
        column = pa.chunked_array([pa.array(values, pa.timestamp(unit))])
        assert panther_times(column) == [panther_time(v) for v in column.to_pylist()]
    assert panther_times(pa.chunked_array([pa.array(values, pa.timestamp("ms"))]))[0] == "2020-02-14 00:53:48.123000000"


def test_outside_networks_equals_networkset_membership_for_any_address():
    """The vectorized IPv4/IPv6 masks say what `ip not in NetworkSet(...)` says, address by address
    (compressed and full IPv6, IPv4-mapped, zone ids, junk), for v4-only, v6-only and mixed lists."""
    import ipaddress

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from detectors.engine.rules import ensure_helpers_importable
    from detectors.engine.vector import outside_networks

    ensure_helpers_importable()
    from bucketwatch_helpers import NetworkSet

    v6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
    near = st.integers(0, 2**80 - 1).map(lambda n: str(ipaddress.IPv6Address((0x20010DB8 << 96) + n)))
    v4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
    odd = st.sampled_from([None, "", "::ffff:10.0.0.1", "fe80::1%eth0", "2001:DB8::1", "2001:0db8:0000::0001",
                           "999.1.1.1", "10.0.0", "not an ip", "::", "::1", "10.1.2.3"])
    lists = [["10.0.0.0/8", "2001:db8::/32"], ["2001:db8:1::/48", "::ffff:0:0/96"], ["0.0.0.0/0"], ["::/0"]]

    @settings(max_examples=60, deadline=None)
    @given(addresses=st.lists(st.one_of(v6, near, v4, odd), min_size=1, max_size=30), which=st.integers(0, 3))
    def check(addresses, which):
        allowed = NetworkSet([ipaddress.ip_network(n) for n in lists[which]])
        table = pa.table({"bucket": ["b"] * len(addresses), "remoteip": pa.array(addresses, pa.string())})
        mask = outside_networks(table, "bucket", "remoteip", lambda bucket: allowed)
        assert mask.to_pylist() == [bool(ip) and ip not in allowed for ip in addresses]

    check()
