"""The read-ahead head is put back so that every parser sees the reads it saw before: CloudTrail's
record-size limit depends on how its text window grows, access log chunks on nothing but bytes."""

from __future__ import annotations

import io
import random

import pytest

from detectors.pipeline import HEAD_BYTES, _Replay


class _DetectionHeadOnly:
    """The reads as they were when only HEAD_BYTES were read ahead: that head first (each read
    stops at its end), then the stream itself."""

    def __init__(self, data: bytes) -> None:
        self.head, self.at, self.stream = data[:HEAD_BYTES], 0, io.BytesIO(data[HEAD_BYTES:])

    def read(self, size: int) -> bytes:
        if self.at < len(self.head):
            piece = self.head[self.at:self.at + size]
            self.at += len(piece)
            return piece
        return self.stream.read(size)


@pytest.mark.parametrize("length", [0, 100, HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, 300_000, 5_000_000])
@pytest.mark.parametrize("ahead", [HEAD_BYTES, 1 << 20, 4 << 20])
def test_reads_are_those_of_a_detection_head(length: int, ahead: int) -> None:
    rng = random.Random(length + ahead)
    data = rng.randbytes(length)
    replay = _Replay(data[:ahead], io.BytesIO(data[ahead:]), first=HEAD_BYTES)
    old = _DetectionHeadOnly(data)
    sizes = [rng.choice([1, 1000, 65_536, 100_000, 1 << 20, 3 << 20]) for _ in range(40)]
    assert [replay.read(n) for n in sizes] == [old.read(n) for n in sizes]


@pytest.mark.parametrize("length", [0, 100, 1 << 20, 4 << 20])
def test_without_first_the_head_is_handed_back_whole(length: int) -> None:
    data = random.Random(length).randbytes(length)
    head = data[: 4 << 20]
    replay = _Replay(head, io.BytesIO(data[len(head):]))
    assert replay.read(4 << 20) is head or length == 0
    assert replay.read(4 << 20) == data[len(head):]
    sliced = _Replay(head, io.BytesIO(b""))
    assert b"".join(iter(lambda: sliced.read(70_000), b"")) == head
