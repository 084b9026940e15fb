"""Which parts of a big buffer to hash: deterministic samples and C-order index blocks.

Pure functions over item counts and shapes, used by :mod:`repro_nb.capture.hashing` for values
over ``max_bytes`` (hashed on a sample) and for non-contiguous or device memory (copied by blocks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["SAMPLE_PIECES", "blocks", "sample_ranges", "split_ranges"]

#: Pieces a sampled (over ``max_bytes``) buffer is split into.
SAMPLE_PIECES = 64


def sample_ranges(n: int, itemsize: int, budget: int) -> list[tuple[int, int]] | None:
    """Item ranges to hash for ``n`` items of ``itemsize`` bytes, or None to hash everything."""
    if n * itemsize <= budget:
        return None
    piece = max(1, budget // max(1, itemsize) // SAMPLE_PIECES)
    if piece * SAMPLE_PIECES >= n:
        return None
    last = n - piece
    out: list[tuple[int, int]] = []
    for k in range(SAMPLE_PIECES):
        start = last * k // (SAMPLE_PIECES - 1)
        if out and start < out[-1][1]:
            start = out[-1][1]
        if start < n:
            out.append((start, min(n, start + piece)))
    return out


def blocks(shape: tuple[int, ...], start: int, stop: int) -> Iterator[tuple[Any, ...]]:
    """Index tuples (ints and slices) covering the C-order flat item range [start, stop)."""
    if start >= stop:
        return
    if not shape:
        yield ()
        return
    inner = 1
    for d in shape[1:]:
        inner *= d
    r0, o0 = divmod(start, inner)
    r1, o1 = divmod(stop, inner)
    if r0 == r1:
        for sub in blocks(shape[1:], o0, o1):
            yield (r0, *sub)
        return
    if o0:
        for sub in blocks(shape[1:], o0, inner):
            yield (r0, *sub)
        r0 += 1
    if r1 > r0:
        yield (slice(r0, r1),)
    if o1:
        for sub in blocks(shape[1:], 0, o1):
            yield (r1, *sub)


def split_ranges(ranges: list[tuple[int, int]], step: int) -> Iterator[tuple[int, int]]:
    """The item ranges cut into pieces of at most ``step`` items (bounds the memory copied)."""
    for s, e in ranges:
        for a in range(s, e, step):
            yield a, min(e, a + step)
