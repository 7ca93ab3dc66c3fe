"""Many varied generated lines: what the parser returns must be what the generator meant.

The generator builds each record as a dict first and writes it with the project's formatter; the
expected values here come from those dicts (time converted to UTC by hand), never from the parser.
"""

from __future__ import annotations

import io
from datetime import UTC

from detectors.pipeline import parse_stream
from detectors.schema import S3_ACCESS_FIELDS


def test_parser_returns_what_the_generator_wrote(generator):
    items = list(generator.generate(20_000, seed=21, ordered=False))
    data = ("\n".join(line for _, _, line in items) + "\n").encode()
    events = [e for b in parse_stream(io.BytesIO(data), "generated.log") for e in b.events()]
    assert len(events) == len(items)
    mismatches = []
    for (record, _, line), event in zip(items, events, strict=True):
        expected = {k: v for k, v in record.items() if v is not None and k in S3_ACCESS_FIELDS}
        expected["time"] = record["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.000000000")
        got = {k: v for k, v in event.items() if k in S3_ACCESS_FIELDS}
        arns = list(dict.fromkeys(v for v in (record.get("requester"), record.get("accesspointarn"))
                                  if v and v.startswith("arn:")))
        indicators = (event["p_any_ip_addresses"], event["p_any_aws_arns"], event["p_any_aws_account_ids"])
        expected_indicators = ([record["remoteip"]] if record.get("remoteip") else [], arns,
                               list(dict.fromkeys(a.split(":")[4] for a in arns)))
        if got != expected or indicators != expected_indicators:
            mismatches.append(line)
    assert mismatches == []
    # the sample covers what it is meant to: quotes inside fields, IPv6, old generations, lifecycle
    assert any('"Evil"' in e.get("useragent", "") for e in events)
    assert any(":" in e.get("remoteip", "") for e in events)
    assert any(e["operation"].startswith("S3.") for e in events)
    assert any("signatureversion" not in e for e in events if e["operation"].startswith("REST"))
