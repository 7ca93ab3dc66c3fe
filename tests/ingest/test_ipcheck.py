"""The vectorized IP check decides exactly what `ipaddress` decides, value by value."""

from __future__ import annotations

import ipaddress
import random

import numpy as np
import pyarrow as pa
import pytest

from detectors.parsers.ipcheck import valid_ips

EDGES = [
    None, "", "-", "::", ":::", "1::", "::1", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9", "1::2::3", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "12345::1", "fe80::1%eth0",
    "::ffff:1.2.3.4", "0000:0000:0000:0000:0000:0000:0000:0000", "0000:0000:0000:0000:0000:0000:0000:00000",
    "ABCD:ef01::", "g::1", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.256", "1.2.3.300",
    "249.250.251.252", "260.0.0.1", "01.1.1.1", "1.1.1.01", "1.1.1.0", "1.1.1", "1.1.1.1.1", "1..1.1",
    ".1.1.1", "1.1.1.", "1.2.3.4\x00", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "1234.1.1.1", "\u0661.\u0662.\u0663.\u0664",
]


def _random_values(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "0123456789abcdefABCDEFgG.:%\x00 -"
    values = []
    for _ in range(count):
        shape = rng.random()
        if shape < 0.3:
            octets = [rng.choice([rng.randint(0, 300), rng.randint(0, 9), f"0{rng.randint(0, 99)}"])
                      for _ in range(rng.choice([3, 4, 4, 4, 5]))]
            values.append(".".join(map(str, octets)))
        elif shape < 0.6:
            address = ipaddress.IPv6Address(rng.getrandbits(128) & rng.choice([(1 << 128) - 1, (1 << 64) - 1, 0xFFFF]))
            text = rng.choice([str(address), address.exploded, address.compressed.upper()])
            if rng.random() < 0.5:  # one character changed, or a second `::`
                i = rng.randrange(len(text) + 1)
                text = (text[:i] + rng.choice(alphabet) + text[i + 1:] if rng.random() < 0.5
                        else text[:i] + text[i:].replace(":", "::", 1))
            values.append(text)
        else:
            values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 42))))
    return values


def _expected(values: list[str | None]) -> np.ndarray:
    def is_address(text: str | None) -> bool:
        if text is None:
            return True
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return True

    return np.array([is_address(v) for v in values])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_ipaddress(seed: int) -> None:
    values = EDGES + _random_values(20_000, seed)
    expected = _expected(values)
    assert 0.2 < expected.mean() < 0.8  # both answers are well represented
    got = valid_ips(pa.array(values, pa.string()))
    wrong = [values[i] for i in np.flatnonzero(got != expected)]
    assert wrong == []


def test_slices_and_empty_columns() -> None:
    values = EDGES * 3
    column = pa.array(values, pa.string())
    expected = _expected(values)
    for start, length in ((0, 0), (5, 10), (len(EDGES), len(EDGES)), (len(values) - 1, 1)):
        assert (valid_ips(column.slice(start, length)) == expected[start:start + length]).all()
    assert valid_ips(pa.array([], pa.string())).shape == (0,)
