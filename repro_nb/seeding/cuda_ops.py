"""Cells that call torch ops which are nondeterministic only on CUDA, read from their source.

On a CPU these ops give the same result every run, so a notebook recorded and verified on a
laptop looks clean and then diverges on a GPU. Torch names them in the documentation of
``torch.use_deterministic_algorithms``: some switch to a deterministic kernel in deterministic
mode (their CUDA kernel adds with atomics), others have none and raise there. This module
finds calls to them in cell sources with one precompiled regular expression (a pure string
scan, no import of torch and no parsing), so verify, ``repro-nb show`` and REPRODUCE.md can
name the cells: ``cell 5 · In [3]: index_add_ is nondeterministic on CUDA (...)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repro_nb.render import cell_label

__all__ = [
    "CUDA_ADVICE",
    "CUDA_OPS",
    "CudaOpUse",
    "cuda_nondeterministic_cells",
    "find_cuda_nondeterminism",
]

#: What to do about them, said once under the list (verify, ``show``, REPRODUCE.md).
CUDA_ADVICE = (
    "These give the same result every run on a CPU, so a run here can reproduce while one on "
    "a GPU diverges. `%repro_seed` turns on deterministic mode (ops with a deterministic CUDA "
    "kernel then use it; the others warn); `repro-nb verify` on the GPU shows whether it "
    "reproduces there."
)

#: Why, for ops whose CUDA kernel adds with atomics (deterministic mode picks another kernel).
_ATOMIC = (
    "results may differ run to run on a GPU; torch.use_deterministic_algorithms(True) "
    "switches it to a deterministic kernel"
)
#: Why, for ops torch has no deterministic CUDA kernel for.
_RAISES = (
    "results may differ run to run on a GPU; torch.use_deterministic_algorithms(True) raises there"
)

#: Op name as written in code -> (op shown, when it is nondeterministic, why). From the list in
#: ``torch.use_deterministic_algorithms``'s documentation (torch 2.x). cuDNN convolutions are
#: left out: every CNN would be named, and ``%repro_seed`` (deterministic mode by default)
#: makes cuDNN pick deterministic algorithms.
CUDA_OPS: dict[str, tuple[str, str, str]] = {
    **{n: ("index_add_", "", _ATOMIC) for n in ("index_add_", "index_add")},
    **{n: ("scatter_add_", "", _ATOMIC) for n in ("scatter_add_", "scatter_add")},
    **{
        n: ("scatter_", "with a tensor src and repeated indices", _ATOMIC)
        for n in ("scatter_", "scatter")
    },
    "scatter_reduce_": ("scatter_reduce", "", _ATOMIC + " for sum/mean and raises for prod"),
    "scatter_reduce": ("scatter_reduce", "", _ATOMIC + " for sum/mean and raises for prod"),
    "index_put_": ("index_put_", "with repeated indices", _ATOMIC),
    "index_put": ("index_put_", "with repeated indices", _ATOMIC),
    "index_copy_": ("index_copy_", "with repeated indices", _ATOMIC),
    "index_copy": ("index_copy_", "with repeated indices", _ATOMIC),
    "put_": ("put_", "", _RAISES),
    "gather": ("gather", "in backward", _ATOMIC),
    "index_select": ("index_select", "in backward", _ATOMIC),
    "repeat_interleave": ("repeat_interleave", "in backward", _ATOMIC),
    "MaxPool3d": ("MaxPool3d", "in backward", _ATOMIC),
    "max_pool3d": ("max_pool3d", "in backward", _ATOMIC),
    **{
        n: (n, "in backward", _ATOMIC)
        for n in ("ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d")
    },
    **{
        n: (n, "in backward", _RAISES)
        for n in (
            "AvgPool3d",
            "avg_pool3d",
            "AdaptiveAvgPool2d",
            "adaptive_avg_pool2d",
            "AdaptiveAvgPool3d",
            "adaptive_avg_pool3d",
            "AdaptiveMaxPool2d",
            "adaptive_max_pool2d",
            "FractionalMaxPool2d",
            "fractional_max_pool2d",
            "FractionalMaxPool3d",
            "fractional_max_pool3d",
            "ReflectionPad1d",
            "ReflectionPad2d",
            "ReflectionPad3d",
            "grid_sample",
            "ctc_loss",
            "CTCLoss",
        )
    },
    **{n: (n, "", _RAISES) for n in ("MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d")},
    **{n: (n, "", _RAISES) for n in ("max_unpool1d", "max_unpool2d", "max_unpool3d")},
    **{
        n: (n, "in backward with linear, bilinear, bicubic or trilinear modes", _RAISES)
        for n in (
            "interpolate",
            "Upsample",
            "upsample",
            "upsample_bilinear",
            "UpsamplingBilinear2d",
        )
    },
    "NLLLoss": ("NLLLoss", "", _RAISES),
    "nll_loss": ("nll_loss", "", _RAISES),
    "EmbeddingBag": ("EmbeddingBag", "in backward with mode='max'", _RAISES),
    "embedding_bag": ("embedding_bag", "in backward with mode='max'", _RAISES),
    "histc": ("histc", "", _RAISES),
    "bincount": ("bincount", "with weights", _RAISES),
    "median": ("median", "with indices (a dim given)", _RAISES),
    "cumsum": ("cumsum", "on floating-point tensors", _RAISES),
}

#: Names common outside torch (numpy, pandas, matplotlib): only ``torch.NAME(`` counts.
_TORCH_PREFIX_ONLY = frozenset({"median", "cumsum", "scatter"})
#: Names that are only torch methods or generic words: never counted when called bare.
_NEVER_BARE = frozenset(
    {
        "index_add",
        "scatter_add",
        "scatter",
        "scatter_reduce",
        "index_put",
        "index_copy",
        "gather",
        "index_select",
        "repeat_interleave",
        "histc",
        "bincount",
        "median",
        "cumsum",
        "upsample",
    }
)
#: Receivers that are never torch tensors or modules.
_NOT_TORCH = frozenset(
    {"np", "numpy", "pd", "pandas", "tf", "jnp", "jax", "cp", "cupy", "scipy", "asyncio", "plt"}
)

_NAMES = "|".join(sorted((re.escape(n) for n in CUDA_OPS), key=len, reverse=True))
#: ``receiver.op(`` or ``op(``: the receiver (a dotted name, or nothing) is checked after.
_CALL = re.compile(rf"(?:(?P<recv>[A-Za-z_][\w.]*)?(?P<dot>\.))?\b(?P<name>{_NAMES})\s*\(")
_COMMENT = re.compile(r"#.*$", re.M)
_TORCH = re.compile(r"\btorch\b")


@dataclass(frozen=True)
class CudaOpUse:
    """A cell that calls an op that is nondeterministic only on CUDA.

    Attributes
    ----------
    cell_index
        0-based index among all cells of the notebook (markdown included).
    op
        The op as torch's documentation names it, e.g. ``index_add_``, ``interpolate``.
    when
        When it is nondeterministic, e.g. ``in backward`` (empty: whenever it runs on CUDA).
    why
        What it means for a run on a GPU.
    code_cell
        1-based number among the notebook's code cells, when known.
    execution_count
        The cell's execution count (``In [n]``), when known.
    """

    cell_index: int
    op: str
    when: str
    why: str
    code_cell: int | None = None
    execution_count: int | None = None

    @property
    def where(self) -> str:
        """``cell 5 · In [3]`` (the execution count when known, else the code-cell number)."""
        if self.execution_count is not None:
            return cell_label(self.cell_index, prompt=self.execution_count)
        return cell_label(self.cell_index, self.code_cell)

    @property
    def line(self) -> str:
        """``cell 5 · In [3]: index_add_ is nondeterministic on CUDA (...)``."""
        when = f" {self.when}" if self.when else ""
        return f"{self.where}: {self.op} is nondeterministic on CUDA{when} ({self.why})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with ``cell`` (the label) and ``line``."""
        return {
            "cell_index": self.cell_index,
            "code_cell": self.code_cell,
            "execution_count": self.execution_count,
            "cell": self.where,
            "op": self.op,
            "when": self.when,
            "why": self.why,
            "line": self.line,
        }


def _bare_ok(name: str) -> bool:
    """Whether ``name(`` called without a receiver counts (a class or a functional op)."""
    return not name.endswith("_") and name not in _NEVER_BARE


def _ops_in(source: str) -> list[tuple[str, str, str]]:
    """``(op, when, why)`` of the ops called in ``source``, in first-seen order."""
    found: dict[str, tuple[str, str, str]] = {}
    for m in _CALL.finditer(_COMMENT.sub("", source)):
        name, recv = m.group("name"), m.group("recv")
        if m.group("dot") is None:
            if not _bare_ok(name):
                continue
        else:
            root = (recv or "").split(".", 1)[0]
            if root in _NOT_TORCH:
                continue
            if name in _TORCH_PREFIX_ONLY and root != "torch":
                continue
        spec = CUDA_OPS[name]
        found.setdefault(spec[0], spec)
    return list(found.values())


def find_cuda_nondeterminism(
    sources: Sequence[str | None],
    *,
    code_cells: Mapping[int, int] | None = None,
    execution_counts: Mapping[int, int | None] | None = None,
) -> list[CudaOpUse]:
    """The calls to ops that are nondeterministic only on CUDA, cell by cell.

    Parameters
    ----------
    sources
        The source of every cell of the notebook, in order (``None`` for markdown and raw
        cells), so positions are the notebook's.
    code_cells, execution_counts
        Cell index -> 1-based code-cell number / execution count, when known.

    Returns
    -------
    list of CudaOpUse
        One per (cell, op), in notebook order; empty when no cell mentions ``torch`` (the op
        names are common words elsewhere).
    """
    if not any(src and _TORCH.search(src) for src in sources):
        return []
    out: list[CudaOpUse] = []
    for index, src in enumerate(sources):
        if not src:
            continue
        for op, when, why in _ops_in(src):
            out.append(
                CudaOpUse(
                    index,
                    op,
                    when,
                    why,
                    (code_cells or {}).get(index),
                    (execution_counts or {}).get(index),
                )
            )
    return out


def cuda_nondeterministic_cells(nb: Mapping[str, Any] | None) -> list[CudaOpUse]:
    """:func:`find_cuda_nondeterminism` over a notebook dict (nbformat JSON).

    Parameters
    ----------
    nb
        The notebook (``None``: no cells).

    Returns
    -------
    list of CudaOpUse
        With code-cell numbers and the saved execution counts.
    """
    cells: Iterable[Mapping[str, Any]] = (nb or {}).get("cells", [])
    sources: list[str | None] = []
    numbers: dict[int, int] = {}
    counts: dict[int, int | None] = {}
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            sources.append(None)
            continue
        src = cell.get("source", "")
        sources.append("".join(src) if isinstance(src, list) else str(src))
        numbers[i] = len(numbers) + 1
        count = cell.get("execution_count")
        counts[i] = count if isinstance(count, int) else None
    return find_cuda_nondeterminism(sources, code_cells=numbers, execution_counts=counts)
