"""Seed validation and derived seeds.

Every derived seed (ranks, phases, cells, named streams) goes through
``numpy.random.SeedSequence``, never ``seed + i``: streams from different keys never overlap.
numpy is imported lazily, only when a seed is derived.
"""

from __future__ import annotations

import hashlib
import operator
import re
from typing import Any

from repro_nb.errors import SeedError, UsageProblem

__all__ = [
    "MAX_SEED",
    "derive_seed",
    "rank_seed",
    "seed_sequence",
    "validate_phase_name",
    "validate_rank",
    "validate_seed",
]

MAX_SEED = 2**32 - 1


def validate_seed(seed: Any, *, what: str = "Seed") -> int:
    """Return ``seed`` as an int in ``0..2**32-1`` (numpy's legacy range), or raise.

    Parameters
    ----------
    seed
        An int, a numpy integer or an int-like string (``"42"``).
    what
        How the message names the value (``"Seed"``, ``"Phase 'train' seed"``).

    Returns
    -------
    int
        The validated seed.

    Raises
    ------
    SeedError
        Not an integer, or out of range; the message names the valid range and the fix.
    """
    value: int
    if isinstance(seed, bool):
        raise SeedError(
            f"{what} {seed!r} is a bool, not a seed: pass an integer in 0..{MAX_SEED} (2**32-1)."
        )
    if isinstance(seed, str):
        text = seed.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise SeedError(
                f"{what} {seed!r} is not an integer: pass a whole number in 0..{MAX_SEED} "
                "(2**32-1), e.g. 0."
            )
        value = int(text)
    else:
        try:
            value = operator.index(seed)
        except TypeError:
            raise SeedError(
                f"{what} {seed!r} is not an integer ({type(seed).__name__}): pass a whole number "
                f"in 0..{MAX_SEED} (2**32-1), e.g. 0."
            ) from None
    if not 0 <= value <= MAX_SEED:
        raise SeedError(
            f"{what} {value} is out of range: numpy accepts 0..{MAX_SEED} (2**32-1). "
            "Pass a seed in that range."
        )
    return value


def validate_rank(rank: Any) -> int:
    """Return a distributed rank as an int ``>= 0``, or raise.

    Parameters
    ----------
    rank
        An int, a numpy integer or an int-like string.

    Returns
    -------
    int
        The validated rank.

    Raises
    ------
    UsageProblem
        Not an integer, a bool, or negative.
    """
    try:
        value = operator.index(rank) if not isinstance(rank, str) else int(rank)
    except (TypeError, ValueError):
        value = -1
    if isinstance(rank, bool) or value < 0:
        raise UsageProblem(
            f"Rank {rank!r} is invalid: pass this process's rank as an integer >= 0 "
            "(e.g. int(os.environ['RANK']))."
        )
    return value


def validate_phase_name(name: Any) -> str:
    """Return a phase name stripped of surrounding blanks, or raise.

    Parameters
    ----------
    name
        A non-empty word without ``=``, e.g. ``"train"``.

    Returns
    -------
    str
        The stripped name.

    Raises
    ------
    UsageProblem
        Not a string, blank, or containing ``=``.
    """
    if not isinstance(name, str) or not name.strip() or "=" in name:
        raise UsageProblem(
            f"Phase name {name!r} is invalid: use a non-empty word without '=', e.g. 'train'."
        )
    return name.strip()


def _key_words(key: str | int) -> tuple[int, int]:
    # A stable 64-bit digest per key (Python's hash() is salted per process), tagged by type
    # so that the string "1" and the int 1 differ.
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise UsageProblem(
            f"Seed key {key!r} must be a str or an int: pass a name such as 'train' or an index."
        )
    raw = (b"s:" + key.encode("utf-8")) if isinstance(key, str) else b"i:%d" % key
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def seed_sequence(base: int, keys: tuple[str | int, ...]) -> Any:
    """The ``numpy.random.SeedSequence`` for a base seed and keys (imports numpy).

    Parameters
    ----------
    base
        The base seed (validated).
    keys
        Names or indices; each adds two 32-bit words of its BLAKE2b digest.

    Returns
    -------
    numpy.random.SeedSequence
        The entropy ``[base, *words of each key]``.
    """
    import numpy as np

    words = [validate_seed(base, what="Base seed")]
    for key in keys:
        words.extend(_key_words(key))
    return np.random.SeedSequence(words)


def derive_seed(base: int, *keys: str | int) -> int:
    """Derive a seed in ``0..2**32-1`` from a base seed and keys, with ``SeedSequence``.

    The result is stable across processes, machines and Python versions (keys are hashed with
    BLAKE2b, not the salted ``hash()``), and independent streams never overlap the way
    ``seed + i`` streams do.

    Parameters
    ----------
    base
        The base seed (validated).
    *keys
        Names or indices, e.g. ``derive_seed(0, "phase", "train")``.

    Returns
    -------
    int
        The derived seed.
    """
    import numpy as np

    return int(seed_sequence(base, keys).generate_state(1, np.uint32)[0])


def rank_seed(seed: int, rank: int) -> int:
    """The seed a distributed rank uses: rank 0 keeps ``seed``, others derive their own.

    Parameters
    ----------
    seed
        The base (or phase) seed.
    rank
        This process's rank.

    Returns
    -------
    int
        ``seed`` for rank 0 (so seed 0 means ``torch.manual_seed(0)``), else
        ``derive_seed(seed, "rank", rank)``.
    """
    return seed if rank == 0 else derive_seed(seed, "rank", rank)
