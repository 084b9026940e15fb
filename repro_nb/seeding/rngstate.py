"""Random number generators: named streams, saved and restored states, checkpoints, fingerprints.

* Named streams (:func:`rng`, :func:`torch_generator`, :func:`dataloader_generator`) derive
  from the base seed with ``SeedSequence``, so a name always gives the same stream.
* :func:`rng_state` / :func:`restore_rng_state` and checkpoints with model and optimizer.
* :func:`rng_fingerprints`: cheap digests of every global RNG state, read in place where the
  layout allows (the recorder calls it after every cell).

numpy and torch are imported lazily; torch only when it is already imported or the call needs it.
"""

from __future__ import annotations

import array
import os
import random
import struct
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import xxhash

from repro_nb.errors import SeedError, UsageProblem
from repro_nb.record import DREW_KEY
from repro_nb.seeding.derive import rank_seed, seed_sequence
from repro_nb.seeding.state import SEEDING_STATE, require_config
from repro_nb.seeding.torch_support import loaded_torch

__all__ = [
    "dataloader_generator",
    "generator_is_fresh",
    "generators_drawn",
    "load_checkpoint",
    "restore_rng_state",
    "rng",
    "rng_fingerprints",
    "rng_state",
    "save_checkpoint",
    "torch_generator",
    "worker_init_fn",
]

_CHECKPOINT_FORMAT = "repro_nb.checkpoint"


def _base_for_streams(what: str) -> int:
    config = require_config(what)
    return rank_seed(config.seed, config.rank)


def rng(name: str) -> Any:
    """A fresh ``numpy.random.Generator`` for a named stream, from the base seed and ``name``.

    The same name always gives the same stream (for this seed and rank), whatever else ran.

    Parameters
    ----------
    name
        Stream name, e.g. ``"augment"``.

    Returns
    -------
    numpy.random.Generator
        PCG64 seeded with ``SeedSequence([seed, hash(name)])``.
    """
    import numpy as np

    base = _base_for_streams(f"repro_nb.rng({name!r})")
    return np.random.Generator(np.random.PCG64(seed_sequence(base, ("rng", name))))


def torch_generator(name: str, device: Any = "cpu") -> Any:
    """A fresh ``torch.Generator`` for a named stream on ``device`` (imports torch).

    Parameters
    ----------
    name
        Stream name, e.g. ``"dataloader"``.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...

    Returns
    -------
    torch.Generator
        Seeded with a 64-bit seed derived from the base seed and ``name``.
    """
    import numpy as np
    import torch

    base = _base_for_streams(f"repro_nb.torch_generator({name!r})")
    seed = int(seed_sequence(base, ("torch", name)).generate_state(1, np.uint64)[0])
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def dataloader_generator(name: str = "dataloader") -> Any:
    """The ``generator=`` for a ``DataLoader``: shuffling and worker base seeds from our seed.

    With ``persistent_workers=True`` workers are seeded once, at the first epoch; torch-based
    random augmentation inside them then continues one stream across epochs (reproducible, but
    not re-seeded per epoch). To vary per epoch reproducibly, mix the epoch into the dataset's
    own draws (e.g. ``repro_nb.rng(f"aug-{epoch}")``) or recreate the DataLoader per epoch.

    Parameters
    ----------
    name
        Stream name, distinct per DataLoader.

    Returns
    -------
    torch.Generator
        A CPU generator.
    """
    return torch_generator(name, device="cpu")


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed python and numpy in a worker from torch's seed.

    torch gives each worker ``base_seed + worker_id`` as its torch seed (``torch.initial_seed()``
    in the worker), derived from the DataLoader's generator or the global torch RNG. This seeds
    ``random`` and numpy's global RNG from it, the pattern the PyTorch docs recommend. It is a
    module-level function, so it pickles for the ``spawn`` start method.

    Parameters
    ----------
    worker_id
        Given by the DataLoader.
    """
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def _numpy_state() -> dict[str, Any]:
    import numpy as np

    state = np.random.get_state(legacy=False)
    return {
        "bit_generator": state["bit_generator"],
        "state": {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])},
        "has_gauss": int(state["has_gauss"]),
        "gauss": float(state["gauss"]),
    }


def rng_state() -> dict[str, Any]:
    """Capture python, numpy (legacy global) and torch CPU/CUDA RNG states.

    Returns
    -------
    dict
        ``{"python": ..., "numpy": ..., "torch": ByteTensor, "cuda": [ByteTensor, ...]}``,
        torch keys only when torch is imported, ``"cuda"`` only when CUDA is initialised.
        Plain Python types and tensors only, so ``torch.load(weights_only=True)`` accepts it.
    """
    state: dict[str, Any] = {"python": random.getstate(), "numpy": _numpy_state()}
    torch = loaded_torch()
    if torch is not None:
        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured.

    Parameters
    ----------
    state
        The dict from :func:`rng_state` (or a checkpoint's ``"rng"``).

    Raises
    ------
    SeedError
        ``state`` is not such a dict.
    """
    if not isinstance(state, Mapping) or "python" not in state:
        raise SeedError(
            "RNG state is not a repro_nb.rng_state() dict (no 'python' key): pass what "
            "rng_state() or load_checkpoint()['rng'] returned."
        )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in state:
        import numpy as np

        np_state = dict(state["numpy"])
        inner = dict(np_state["state"])
        inner["key"] = np.asarray(inner["key"], dtype=np.uint32)
        np_state["state"] = inner
        np.random.set_state(np_state)
    if "torch" in state:
        import torch  # the state holds torch generators: the user uses torch

        torch.set_rng_state(state["torch"].cpu())
        cuda_states = state.get("cuda") or []
        if cuda_states and torch.cuda.is_available():
            count = torch.cuda.device_count()
            for index, cuda_state in enumerate(cuda_states[:count]):
                torch.cuda.set_rng_state(cuda_state.cpu(), index)
            if len(cuda_states) != count:
                warnings.warn(
                    f"RNG state has {len(cuda_states)} CUDA generators but this machine has "
                    f"{count} devices; restored the first {min(count, len(cuda_states))}. "
                    "Resume on the same number of GPUs for identical streams.",
                    RuntimeWarning,
                    stacklevel=2,
                )


def save_checkpoint(
    path: str | os.PathLike[str], model: Any = None, optimizer: Any = None, **extra: Any
) -> Path:
    """Save model and optimizer state together with every RNG state (``torch.save``).

    The file holds only plain Python types and tensors (numpy's state is stored as lists), so
    :func:`load_checkpoint` reads it with ``weights_only=True``. Keep ``extra`` to the same
    kinds of values (numbers, strings, lists, dicts, tensors) for that to keep working.
    Written to a temporary file and renamed, so a crash never leaves half a checkpoint.

    Parameters
    ----------
    path
        Where to write.
    model, optimizer
        Anything with ``state_dict()``; optional.
    **extra
        More values to store (epoch, step...).

    Returns
    -------
    Path
        The file written.
    """
    import tempfile

    import torch

    target = Path(path)
    config = SEEDING_STATE.config
    payload = {
        "format": _CHECKPOINT_FORMAT,
        "version": 1,
        "rng": rng_state(),
        "seed": config.to_dict() if config is not None else None,
        "phase": SEEDING_STATE.phase,
        "model": model.state_dict() if model is not None else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Any = None,
    optimizer: Any = None,
    *,
    restore_rng: bool = True,
    map_location: Any = "cpu",
    weights_only: bool = True,
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model``/``optimizer`` and restore RNG state.

    Parameters
    ----------
    path
        The checkpoint.
    model, optimizer
        Receive ``load_state_dict`` when given.
    restore_rng
        Restore python/numpy/torch RNG states (default), so training resumes on the same stream.
    map_location
        Passed to ``torch.load`` (tensors are copied onto the model's device anyway).
    weights_only
        ``torch.load``'s safe mode; pass ``False`` only for a file you trust whose ``extra``
        holds other objects.

    Returns
    -------
    dict
        The whole payload: ``rng``, ``seed``, ``phase``, ``model``, ``optimizer``, ``extra``.

    Raises
    ------
    UsageProblem
        Missing file, not a repro_nb checkpoint, or refused by ``weights_only``.
    """
    import torch

    source = Path(path)
    if not source.is_file():
        raise UsageProblem(
            f"Checkpoint {str(source)!r} does not exist: pass the path save_checkpoint() wrote."
        )
    try:
        payload = torch.load(source, map_location=map_location, weights_only=weights_only)
    except Exception as exc:
        if weights_only and "weights_only" in str(exc):
            raise UsageProblem(
                f"Checkpoint {str(source)!r} holds objects torch.load(weights_only=True) refuses: "
                "pass weights_only=False if you trust the file."
            ) from exc
        raise UsageProblem(f"Checkpoint {str(source)!r} could not be read ({exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != _CHECKPOINT_FORMAT:
        raise UsageProblem(
            f"{str(source)!r} is not a repro_nb checkpoint: load it with torch.load, or write "
            "one with repro_nb.save_checkpoint()."
        )
    if model is not None:
        if payload.get("model") is None:
            raise UsageProblem(f"Checkpoint {str(source)!r} holds no model state: pass model=None.")
        model.load_state_dict(payload["model"])
    if optimizer is not None:
        if payload.get("optimizer") is None:
            raise UsageProblem(
                f"Checkpoint {str(source)!r} holds no optimizer state: pass optimizer=None."
            )
        optimizer.load_state_dict(payload["optimizer"])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return payload


_MT_STATE_BYTES = 624 * 4 + 4  # numpy's mt19937_state: uint32 key[624]; int pos


def _numpy_state_view(np: ModuleType) -> Any:
    """A zero-copy view of the legacy MT19937 state, checked once against ``get_state``."""
    import ctypes

    bit_generator = np.random.mtrand._rand._bit_generator
    cached = SEEDING_STATE.numpy_view
    if cached is not None and cached[0] is bit_generator:
        return cached[1]
    view: Any = False  # False: the layout check failed; use the slow path
    try:
        address = bit_generator.ctypes.state_address
        candidate = (ctypes.c_char * _MT_STATE_BYTES).from_address(address)
        state = bit_generator.state["state"]
        expected = state["key"].astype("<u4").tobytes() + int(state["pos"]).to_bytes(4, "little")
        if bytes(candidate) == expected:
            view = candidate
    except Exception:
        view = False
    SEEDING_STATE.numpy_view = (bit_generator, view)
    return view


def _fingerprint_numpy(np: ModuleType) -> str:
    view = _numpy_state_view(np)
    if view is not False:
        return xxhash.xxh3_64_hexdigest(view)
    state = np.random.get_state(legacy=False)
    h = xxhash.xxh3_64(state["state"]["key"])
    h.update(b"%d" % state["state"]["pos"])
    return h.hexdigest()


_PY_MT_BYTES = 4 + 624 * 4  # CPython's RandomObject: int index, then uint32_t state[624]


def _python_state_view() -> Any:
    """A zero-copy view of ``random``'s MT19937 state (CPython), checked against ``getstate``.

    ``getstate()`` builds a 625-int tuple each call (~15 µs with the conversion); the view costs
    well under a microsecond. The layout is verified byte for byte once per generator object;
    any mismatch, another interpreter, or an object too small for the read falls back to
    ``getstate``.
    """
    import ctypes

    inst = random._inst
    cached = SEEDING_STATE.python_view
    if cached is not None and cached[0] is inst:
        return cached[1]
    view: Any = False
    if sys.implementation.name == "cpython":
        try:
            expected = _python_state_bytes(inst.getstate()[1])
            for offset in (16, 24, 32):  # after PyObject_HEAD on 64-bit builds
                if sys.getsizeof(inst) < offset + _PY_MT_BYTES:
                    break
                candidate = (ctypes.c_char * _PY_MT_BYTES).from_address(id(inst) + offset)
                if bytes(candidate) == expected:
                    view = candidate
                    break
        except Exception:
            view = False
    SEEDING_STATE.python_view = (inst, view)
    return view


def _python_state_bytes(state: tuple[int, ...]) -> bytes:
    """The view's layout built from ``getstate()[1]``: index (int32), then the 624 words."""
    return (
        int(state[624]).to_bytes(4, "little", signed=True) + array.array("I", state[:624]).tobytes()
    )


def _fingerprint_python() -> str:
    # Both paths hash the same bytes, so digests compare across interpreters.
    view = _python_state_view()
    if view is not False:
        h = xxhash.xxh3_64(view)
        gauss_next = random._inst.gauss_next  # type: ignore[attr-defined]
    else:
        _, state, gauss_next = random.getstate()
        h = xxhash.xxh3_64(_python_state_bytes(state))
    h.update(repr(gauss_next).encode())
    return h.hexdigest()


#: Positions of a freshly seeded MT19937: 624 after an explicit seed (python's ``random``,
#: ``np.random.seed``), 623 for numpy's legacy RandomState seeded from OS entropy at import
#: (measured, numpy 2.4). The first draw regenerates the state and moves the position, except
#: a single 32-bit draw from 623, which lands on 624 and reads as "not drawn".
_MT_FRESH_POS = (623, 624)


def generator_is_fresh(name: str) -> bool | None:
    """Whether a global generator is still in its just-seeded state (nothing drawn since).

    A generator that appears for the first time in a cell (its module was imported there) was
    seeded at import from OS entropy, or by a seed; whether the cell then *drew* from it can
    only be read from its position: MT19937's index is 624 right after seeding and moves on
    the first draw; torch's CPU generator keeps ``left == 1`` and ``next == 0`` until then.

    Parameters
    ----------
    name
        A key of :func:`rng_fingerprints` (``"python"``, ``"numpy"``, ``"torch"``).

    Returns
    -------
    bool | None
        ``None`` when it cannot be told (CUDA generators, an unknown layout).
    """
    try:
        if name == "python":
            view = _python_state_view()
            index = (
                int.from_bytes(bytes(view)[:4], "little", signed=True)
                if view is not False
                else random.getstate()[1][-1]
            )
            return bool(index == 624)
        if name == "numpy":
            np = sys.modules.get("numpy")
            if np is None:
                return None
            return int(np.random.get_state(legacy=False)["state"]["pos"]) in _MT_FRESH_POS
        if name == "torch":
            torch = loaded_torch()
            if torch is None:
                return None
            raw = bytes(torch.default_generator.get_state().numpy()[:24])
            # CPUGeneratorImplStateLegacy: uint64 the_initial_seed; int left; int seeded;
            # uint64 next; ... (aten/src/ATen/CPUGeneratorImpl.cpp)
            _, left, _, nxt = struct.unpack_from("<QiiQ", raw, 0)
            return bool(left == 1 and nxt == 0)
    except Exception:
        return None
    return None


def generators_drawn(before: Mapping[str, str] | None, after: Mapping[str, str]) -> list[str]:
    """The global generators a cell drew from, given fingerprints before and after it.

    A generator known before the cell drew when its fingerprint moved; one that appeared during
    the cell (imported there) drew when it is no longer fresh (:func:`generator_is_fresh`).

    Parameters
    ----------
    before
        :func:`rng_fingerprints` before the cell (``None``: unknown, judge by freshness).
    after
        :func:`rng_fingerprints` after the cell.

    Returns
    -------
    list[str]
        Generator names, sorted.
    """
    drew = []
    for name, digest in after.items():
        if name == DREW_KEY:
            continue
        if before is not None and name in before:
            if before[name] != digest:
                drew.append(name)
        elif generator_is_fresh(name) is False:
            drew.append(name)
    return sorted(drew)


def rng_fingerprints() -> dict[str, str]:
    """Short xxh3-64 hex digests of every global RNG state (cheap: tens of µs).

    Keys: ``"python"``, ``"numpy"`` (legacy global RNG, when numpy is imported), ``"torch"``
    (CPU, when torch is imported) and ``"cuda:N"`` (when CUDA is initialised).

    numpy's digest covers the MT19937 key and position (read in place, ~1 µs) but not the
    legacy RandomState's cached second Box-Muller normal, which costs ~50 µs to read; a
    difference there shows in the next cell's digest.

    Returns
    -------
    dict[str, str]
        Generator name -> 16 hex digits.
    """
    out = {"python": _fingerprint_python()}
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "random"):
        out["numpy"] = _fingerprint_numpy(np)
    torch = loaded_torch()
    if torch is not None:
        out["torch"] = xxhash.xxh3_64_hexdigest(torch.default_generator.get_state().numpy())
        if torch.cuda.is_initialized():
            for index in range(torch.cuda.device_count()):
                cuda_state = torch.cuda.get_rng_state(index).numpy()
                out[f"cuda:{index}"] = xxhash.xxh3_64_hexdigest(cuda_state)
    return out
