"""Which parts of a big value to hash: deterministic samples and C-order index blocks.

Pure functions over item counts and shapes, used by :mod:`repro_nb.capture.hashing` for values
over ``max_bytes`` (hashed on a sample), for non-contiguous or device memory (copied by blocks)
and for Python containers with more than :data:`ITEMS_SAMPLED_OVER` elements.

Big containers (list, tuple, dict and their subclasses) are hashed on :func:`item_sample`: the
length, the first :data:`SAMPLE_HEAD` and last :data:`SAMPLE_TAIL` elements, and
:data:`SAMPLE_MIDDLE` positions in between drawn by a PRNG seeded with the length. Equal
content always gives the same positions, so the digest is comparable across runs and machines
(verify needs that), and the cost is O(sample) (a dict pays ~10 ns per skipped item to reach
its middle positions: ~10 ms for 10**6 items).

Blind spots (what capture cannot see in a big container):

- a change in the middle that keeps the length and falls between sampled positions: with
  ``n`` elements, a single changed element is missed with probability about
  ``1 - SAMPLE_MIDDLE / n`` (0.9995 for 10**6 items); appends, deletions, and any change in
  the head or tail are always seen (the length or a sampled position differs);
- a change in the middle that shifts elements (an insertion plus a deletion) is seen only
  when it moves a sampled position's element;
- sets and frozensets are not sampled (their order depends on the hash seed): they are hashed
  up to the item budget, beyond which the rest is cut.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CHUNK_BYTES",
    "ITEMS_SAMPLED_OVER",
    "SAMPLE_HEAD",
    "SAMPLE_MIDDLE",
    "SAMPLE_PIECES",
    "SAMPLE_TAIL",
    "blocks",
    "device_pieces",
    "item_sample",
    "sample_ranges",
    "split_ranges",
]

#: Bytes copied at a time from non-contiguous or device memory (bounds extra memory).
CHUNK_BYTES = 32 * 2**20
#: Pieces a sampled (over ``max_bytes``) buffer is split into.
SAMPLE_PIECES = 64
#: Containers with more elements than this are hashed on :func:`item_sample` (~15 ms of
#: element hashing at ~1.5 µs per small element; smaller ones are hashed in full, as before).
ITEMS_SAMPLED_OVER = 10_000
#: Elements always hashed at the start and at the end of a sampled container.
SAMPLE_HEAD = 256
SAMPLE_TAIL = 256
#: Pseudo-random positions hashed in between.
SAMPLE_MIDDLE = 512


def item_sample(n: int) -> tuple[range, list[int], range] | None:
    """Positions of a container of ``n`` elements to hash, or None to hash every element.

    Parameters
    ----------
    n
        The number of elements.

    Returns
    -------
    tuple of (range, list of int, range) or None
        Head positions, sorted middle positions (seeded by ``n``, so the same for equal
        lengths in every process), tail positions.
    """
    if n <= ITEMS_SAMPLED_OVER:
        return None
    lo, hi = SAMPLE_HEAD, n - SAMPLE_TAIL
    middle = sorted(random.Random(n).sample(range(lo, hi), min(SAMPLE_MIDDLE, hi - lo)))
    return range(lo), middle, range(hi, n)


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


_PINNED: dict[Any, list[Any]] = {}
_PINNED_LOCK = threading.Lock()


def device_pieces(torch: Any, dev_u8: Any, pieces: list[tuple[int, int]]) -> Iterator[Any]:
    """Copy byte ranges of a flat uint8 device tensor to the host, double-buffered.

    Two pinned host buffers are reused across calls: while one is hashed, the next copy
    runs asynchronously into the other.
    """
    with _PINNED_LOCK:  # the two pinned buffers serve one caller at a time
        yield from _pieces(torch, dev_u8, pieces)


def _pieces(torch: Any, dev_u8: Any, pieces: list[tuple[int, int]]) -> Iterator[Any]:
    dev = dev_u8.device
    if dev.type != "cuda":
        for s, e in pieces:
            yield dev_u8[s:e].cpu().numpy()
        return
    bufs = _PINNED.get(dev)
    if bufs is None:
        try:
            bufs = [torch.empty(CHUNK_BYTES, dtype=torch.uint8, pin_memory=True) for _ in (0, 1)]
        except Exception:  # pinning can fail (limits); pageable buffers still work, just slower
            bufs = [torch.empty(CHUNK_BYTES, dtype=torch.uint8) for _ in (0, 1)]
        _PINNED[dev] = bufs
    stream = torch.cuda.current_stream(dev)
    events: list[Any] = [None, None]

    def issue(i: int) -> None:
        s, e = pieces[i]
        bufs[i % 2][: e - s].copy_(dev_u8[s:e], non_blocking=True)
        ev = torch.cuda.Event()
        ev.record(stream)
        events[i % 2] = ev

    if pieces:
        issue(0)
    for i in range(len(pieces)):
        if i + 1 < len(pieces):
            issue(i + 1)  # the buffer it fills was hashed in the previous iteration
        events[i % 2].synchronize()
        s, e = pieces[i]
        yield bufs[i % 2][: e - s].numpy()
