"""The vectorized chunk parser agrees with the per-line parser (the format's reference), line by line.

Each line is parsed alone by `parse_access_line` (record or LineError) and, in one chunk with all
the others, by `parse_chunk`: every line must give the same record, or be rejected by both. The
lines are generated ones plus variants with raw quotes, `" "` and odd quote counts placed in every
quoted field, which is where the two parsers' shapes differ most, and lines cut short.
"""

from __future__ import annotations

import random

from detectors.parsers.s3_access import parse_chunk
from detectors.parsers.s3_access_line import LineError, parse_access_line

QUOTED_TEXTS = ['a"b', '"', '""', 'x" "y', '" "', 'Bot "1.0"', '"Evil" Bot', 'tail"', '"head', 'a" "b" "c',
                'x" 200 - 1 2 3 4 "y', '-', 'a b', '', 'GET /a?q="x" HTTP/1.1', 'GET /?id=1" 2 "', 'a" -b',
                'a" 5', '" -', 'x" 200 "y', 'GET / HTTP/1.1']


def _variants(line: str, rng: random.Random) -> list[str]:
    """The line with each of its three quoted fields (request-URI, referrer, user agent) replaced,
    and the line cut short somewhere."""
    out = [line[:rng.randrange(1, len(line))]]
    parts = line.split('"')
    if len(parts) != 7:  # already unusual: kept as it is
        return out
    for field in (1, 3, 5):
        text = rng.choice(QUOTED_TEXTS)
        out.append('"'.join([*parts[:field], text, *parts[field + 1:]]))
    return out


def _reference(line: str) -> dict | None:
    try:
        return parse_access_line(line)
    except LineError:
        return None


def test_the_chunk_parser_gives_what_the_line_parser_gives(generator):
    rng = random.Random(5)
    lines = []
    for _, _, line in generator.generate(6_000, seed=33, ordered=False):
        lines.append(line)
        lines.extend(_variants(line, rng))
    result = parse_chunk("\n".join(lines) + "\n")
    rows = {row.pop("__index"): row for row in result.table.to_pylist()}
    rejected = {r.index for r in result.rejected}
    assert len(rows) + len(rejected) == len(lines)
    disagreements = []
    for index, line in enumerate(lines):
        expected = _reference(line)
        got = None if index in rejected else rows[index]
        if got != expected:
            disagreements.append((line, expected, got))
    assert disagreements == []
    # the sample holds what it is meant to: raw quotes kept inside user agents and referrers,
    # and lines the format does not allow
    assert any('"' in (row["useragent"] or "") for row in rows.values())
    assert any('"' in (row["referrer"] or "") for row in rows.values())
    assert rejected


REMOTE_IPS = ["192.0.2.3", "10.0.0.255", "2001:db8::1", "::1", "::", "fe80::1:2:3:4", "::ffff:192.0.2.1",
              "64:ff9b::198.51.100.7", "999.0.2.3", "1.2.3", "1.2.3.4.5", "01.2.3.4", "2001:::1", "::ffff:999.1.1.1",
              "abc", "1.2.3.4 ", "fe80::1%eth0", "2001:db8:0:0:0:0:0:0:1"]


def test_remote_ips_are_accepted_exactly_as_the_ipaddress_module_accepts_them(generator):
    """IPv4, plain and embedded-IPv4 IPv6 and invalid addresses mixed in one chunk (the chunk
    parser checks IPv4 with one regex, plain IPv6 with a second, and the rest one by one): a line
    is a row iff Python's `ipaddress` takes its address, and the line parser agrees."""
    import ipaddress

    template = next(line for _, _, line in generator.generate(50, seed=8) if line.count('"') == 6)
    address = template.split(" ")[4]
    lines = [template.replace(f" {address} ", f" {ip} ", 1) for ip in REMOTE_IPS * 3]
    result = parse_chunk("\n".join(lines) + "\n")
    rows = {row["__index"]: row["remoteip"] for row in result.table.to_pylist()}
    for index, ip in enumerate(REMOTE_IPS * 3):
        try:
            valid = ipaddress.ip_address(ip) is not None and ip.strip() == ip
        except ValueError:
            valid = False
        assert (rows.get(index) == ip) == valid, ip
        assert (_reference(lines[index]) is not None) == valid, ip


def test_raw_quotes_in_request_uris_take_the_vectorized_path_and_agree(generator):
    """URIs with raw quotes (injection attempts are logged as sent) are parsed on the vectorized
    path, closing where the line parser closes them; lines the two could read differently are left
    to the line parser. Either way the chunk parser gives what the line parser gives."""
    import numpy as np

    from detectors.parsers import s3_access

    rng = random.Random(9)
    lines = []
    for _, _, line in generator.generate(3_000, seed=44, ordered=False):
        parts = line.split('"')
        if len(parts) == 7:
            parts[1] = parts[1].replace(" HTTP/", rng.choice(URI_QUOTES) + " HTTP/", 1)
            lines.append('"'.join(parts))
    data = ("\n".join(lines) + "\n").encode()
    fast = set(s3_access._candidates(s3_access._lines(data)).rows.tolist())
    result = parse_chunk(data)
    rows = {row.pop("__index"): row for row in result.table.to_pylist()}
    assert [(line, _reference(line)) for i, line in enumerate(lines) if rows.get(i) != _reference(line)] == []
    quoted_fast = [i for i in fast if '"' in (rows[i]["requesturi"] or "")]
    assert len(quoted_fast) > len(lines) // 4
    assert np.all([lines[i].count('"') > 6 for i in quoted_fast])


URI_QUOTES = ['?q="x"', '?q="x', '?id=1"or"1"="1', '?a=" 200 - 1 2 3 4 "', '?a=" 5 b', '?a=" -', '?"', '?a="" 2']
