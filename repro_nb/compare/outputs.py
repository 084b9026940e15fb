"""Comparing a notebook's outputs: what a person sees, with the noise named and set aside.

Each code cell's outputs are reduced to what a reader compares: stream text per stream, coalesced
across messages; ``text/plain`` (else HTML, else the other text types) of results and displays;
images by their decoded pixels; errors by ``ename: evalue``. Before comparing, the noise that is
not divergence is taken out and counted (:data:`NOISE_RULES`): memory addresses, kernel temp
paths, ``%timeit``/``%%time`` lines, progress-bar timings, widget ids. What remains is compared
exactly, then number by number within ``rtol`` (a difference only in numbers inside the
tolerance is *within tolerance*).

Core module: no IPython, tornado or ipywidgets. Pillow (a matplotlib dependency) decodes images
when present; without it images compare by their bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repro_nb.notebook import cell_source, is_repro_only
from repro_nb.render import shorten

__all__ = [
    "NOISE_RULES",
    "CellOutputs",
    "NoiseLog",
    "OutputComparison",
    "OutputDiff",
    "cell_outputs",
    "compare_outputs",
    "has_saved_outputs",
    "output_text",
    "published_cells",
]

_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,16}\b")
_KERNEL_PATH = re.compile(
    r"(?:/tmp|/var/folders/[^\s\"']+?|[A-Za-z]:\\[^\s\"']*?Temp)[/\\]ipykernel_\d+[/\\]\d+\.py"
    r"|<ipython-input-\d+-[0-9a-f]+>"
)
_RUN_FOLDER = re.compile(r"/tmp/(?:tmp|repro-nb-[a-z]+-)[A-Za-z0-9_]{6,}(?:/w(?:/d\d+)*)?")
_TIMEIT = re.compile(
    r"^[^\n]*?[\d.]+\s*(?:ns|[µμu]s|ms|s) ± [\d.]+\s*(?:ns|[µμu]s|ms|s) per loop "
    r"\(mean ± std\. dev\. of \d+ runs?, [\d,]+ loops? each\)[^\n]*$"
    r"|^(?:CPU times: [^\n]*|Wall time: [^\n]*)$"
    r"|^The slowest run took [^\n]*$|^[^\n]*this could mean that an intermediate result is being cached\.?$",
    re.MULTILINE,
)
_TQDM = re.compile(r"\[\d\d:\d\d(?::\d\d)?<[^\]]*?(?:it/s|s/it)[^\]]*\]")
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_HTML_IDS = re.compile(r"""\b(id|for|href|aria-[a-z]+|data-[a-z-]+)=(["'])#?[^"']*?\d[^"']*\2""")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")

#: The noise taken out of outputs before comparing: name -> (what it is, how it is normalised).
NOISE_RULES: dict[str, tuple[str, Callable[[str], str]]] = {
    "timing": (
        "%timeit/%%time result lines",
        lambda t: _TIMEIT.sub("<timing>", t),
    ),
    "progress": ("progress-bar timings", lambda t: _TQDM.sub("[<progress>]", t)),
    "address": ("memory addresses", lambda t: _ADDRESS.sub("0x…", t)),
    "temp-path": (
        "kernel temp paths",
        lambda t: _RUN_FOLDER.sub("<run folder>", _KERNEL_PATH.sub("<cell>", t)),
    ),
}


@dataclass
class NoiseLog:
    """The noise set aside while comparing: rule -> 0-based cell indices it was found in, and
    how many differences it accounted for."""

    found: dict[str, list[int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, rule: str, index: int, count: int = 1) -> None:
        """Note ``count`` suppressed differences of ``rule`` in cell ``index`` (0-based)."""
        cells = self.found.setdefault(rule, [])
        if index not in cells:
            cells.append(index)
        self.counts[rule] = self.counts.get(rule, 0) + count

    def merge(self, other: NoiseLog) -> None:
        """Add another comparison's noise to this one."""
        for rule, cells in other.found.items():
            mine = self.found.setdefault(rule, [])
            mine.extend(i for i in cells if i not in mine)
            self.counts[rule] = self.counts.get(rule, 0) + other.counts.get(rule, 0)

    def to_list(self) -> list[dict[str, Any]]:
        """``[{"rule", "what", "count", "cells"}]``, ``cells`` 0-based among all cells."""
        labels = {**{k: v[0] for k, v in NOISE_RULES.items()}, **_OTHER_NOISE}
        return [
            {
                "rule": rule,
                "what": labels.get(rule, rule),
                "count": self.counts.get(rule, len(cells)),
                "cells": sorted(cells),
            }
            for rule, cells in self.found.items()
        ]


_OTHER_NOISE = {
    "stream-split": "a stream split into a different number of messages",
    "image-bytes": "PNG bytes of the same image",
    "widget-id": "widget model ids",
}


@dataclass
class CellOutputs:
    """One code cell's outputs, reduced to what a reader compares."""

    index: int
    items: list[tuple[str, str]]
    messages: int
    error: str | None = None

    def text(self) -> str:
        """Everything the cell shows as text (images and widgets left out)."""
        return "\n".join(v for k, v in self.items if not k.startswith(("image", "widget")))


def _normalize(text: str) -> tuple[str, list[str]]:
    """``text`` with the noise rules applied, and the rules that changed something."""
    fired = []
    for rule, (_, fix) in NOISE_RULES.items():
        new = fix(text)
        if new != text:
            fired.append(rule)
            text = new
    return text, fired


def output_text(value: Any) -> str:
    """nbformat multiline text (a string or a list of strings) as one string."""
    if isinstance(value, list):
        return "".join(str(x) for x in value)
    return "" if value is None else str(value)


def _text_of_data(data: Mapping[str, Any]) -> tuple[str, str] | None:
    for mime in ("text/plain", "text/markdown", "text/latex", "application/json", "text/html"):
        if mime in data:
            text = data[mime] if mime == "application/json" else output_text(data[mime])
            if mime == "text/html":
                text = _HTML_IDS.sub(r"\1=\2…\2", text)
            return mime, str(text)
    return None


def cell_outputs(cell: Mapping[str, Any], index: int) -> CellOutputs:
    """Reduce one code cell's outputs (see the module docstring)."""
    streams: dict[str, list[str]] = {}
    items: list[tuple[str, str]] = []
    error = None
    outputs = cell.get("outputs") or []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            streams.setdefault(str(out.get("name", "stdout")), []).append(
                output_text(out.get("text"))
            )
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            image = next((m for m in ("image/png", "image/jpeg") if m in data), None)
            if image is not None:
                items.append((f"image:{image}", output_text(data[image]).strip()))
                continue
            if _WIDGET_MIME in data and "text/plain" not in data:
                # Compared as "a widget is shown"; its model id is new in every kernel.
                items.append(("widget", str((data[_WIDGET_MIME] or {}).get("model_id", ""))))
                continue
            shown = _text_of_data(data)
            if shown is not None:
                items.append(shown)
        elif kind == "error":
            error = f"{out.get('ename')}: {_ANSI.sub('', str(out.get('evalue', '')))}"
            items.append(("error", error))
    for name, parts in sorted(streams.items()):
        items.insert(0, (f"stream:{name}", _ANSI.sub("", "".join(parts))))
    return CellOutputs(index, items, len(outputs), error)


def has_saved_outputs(cell: Mapping[str, Any]) -> bool:
    """Whether a code cell was run when the notebook was saved (outputs or an execution count).

    Use :func:`published_cells` for a whole notebook: some are saved with their execution
    counts but their outputs stripped, and then nothing was published.
    """
    return bool(cell.get("outputs")) or cell.get("execution_count") is not None


def published_cells(cells: Sequence[Mapping[str, Any]]) -> set[int]:
    """The code cells whose saved outputs are the published ones: those run when the notebook
    was saved, provided at least one code cell kept its outputs (a notebook whose outputs were
    stripped published nothing, whatever execution counts it kept)."""
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    if not any(c.get("outputs") for _, c in code):
        return set()
    return {i for i, c in code if has_saved_outputs(c)}


@dataclass
class OutputDiff:
    """One code cell whose outputs differ from the reference's."""

    index: int
    status: str  # "different", "within tolerance", "error", "missing"
    what: str
    expected: str = ""
    actual: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``index`` 0-based among all cells)."""
        return dict(self.__dict__)


@dataclass
class OutputComparison:
    """The outputs of a run compared with reference outputs, cell by cell."""

    compared: int = 0
    diffs: list[OutputDiff] = field(default_factory=list)
    noise: NoiseLog = field(default_factory=NoiseLog)

    @property
    def matching(self) -> int:
        """Cells whose outputs match (within tolerance counts as a match)."""
        return self.compared - sum(1 for d in self.diffs if d.status != "within tolerance")

    @property
    def first(self) -> OutputDiff | None:
        """The first cell that differs beyond tolerance."""
        return next((d for d in self.diffs if d.status != "within tolerance"), None)

    def by_index(self) -> dict[int, OutputDiff]:
        """Differing cells by their index."""
        return {d.index: d for d in self.diffs}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "compared": self.compared,
            "matching": self.matching,
            "differing": [d.to_dict() for d in self.diffs],
            "ignored": self.noise.to_list(),
        }


def _numbers_close(a: str, b: str, rtol: float) -> bool | None:
    """``True`` when ``a`` and ``b`` differ only in numbers within ``rtol``; ``None`` when the
    text around the numbers differs."""
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return None
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True):
        fx, fy = float(x), float(y)
        if math.isnan(fx) and math.isnan(fy):
            continue
        if not math.isclose(fx, fy, rel_tol=rtol, abs_tol=0.0):
            # A printed number is rounded: allow one unit in its last printed digit.
            digits = max(_decimals(x), _decimals(y))
            if abs(fx - fy) > 10.0**-digits * 1.000001:
                return False
    return True


def _decimals(number: str) -> int:
    mantissa = number.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _pixels(encoded: str) -> bytes | None:
    """Decoded RGBA pixels of a base64 PNG/JPEG, or ``None`` without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as img:
            rgba = img.convert("RGBA")
            return b"%dx%d:" % rgba.size + rgba.tobytes()
    except (OSError, ValueError, binascii.Error):
        return None


def _compare_items(
    ref: CellOutputs, act: CellOutputs, rtol: float, noise: NoiseLog
) -> OutputDiff | None:
    """How one cell's outputs compare; ``None`` when they match."""
    if act.error is not None and ref.error is None:
        return OutputDiff(act.index, "error", "raised", "", act.error)
    if ref.error is not None and act.error is None:
        return OutputDiff(act.index, "different", "no longer raises", ref.error, "")
    if ref.messages != act.messages and [k for k, _ in ref.items] == [k for k, _ in act.items]:
        noise.add("stream-split", act.index)
    ref_items = dict(_keyed(ref.items))
    act_items = dict(_keyed(act.items))
    within = None
    for key in list(ref_items) + [k for k in act_items if k not in ref_items]:
        a, b = ref_items.get(key), act_items.get(key)
        what = key[0].split(":", 1)[-1]
        if a is None or b is None:
            return OutputDiff(
                act.index,
                "different",
                f"{what} {'appeared' if a is None else 'missing'}",
                shorten(a or "", 160),
                shorten(b or "", 160),
            )
        if a == b:
            continue
        if key[0] == "widget":
            noise.add("widget-id", act.index)
            continue
        if key[0].startswith("image"):
            pa, pb = _pixels(a), _pixels(b)
            if pa is not None and pa == pb:
                noise.add("image-bytes", act.index)
                continue
            return OutputDiff(act.index, "different", "image differs")
        na, fired_a = _normalize(a)
        nb, fired_b = _normalize(b)
        if na == nb:
            for rule in dict.fromkeys(fired_a + fired_b):
                noise.add(rule, act.index)
            continue
        close = _numbers_close(na, nb, rtol)
        if close:
            within = within or OutputDiff(
                act.index,
                "within tolerance",
                f"{what}: numbers within rtol={rtol:g}",
                *_first_differing_line(na, nb),
            )
            continue
        return OutputDiff(act.index, "different", what, *_first_differing_line(na, nb))
    return within


def _keyed(items: Iterable[tuple[str, str]]) -> Iterable[tuple[tuple[str, int], str]]:
    seen: dict[str, int] = {}
    for kind, text in items:
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        yield (kind, n), text


def _first_differing_line(a: str, b: str) -> tuple[str, str]:
    la, lb = a.splitlines() or [""], b.splitlines() or [""]
    for x, y in zip(la, lb, strict=False):
        if x != y:
            return shorten(x.strip(), 160), shorten(y.strip(), 160)
    if len(la) != len(lb):
        longer = la[len(lb)] if len(la) > len(lb) else lb[len(la)]
        return (shorten(longer, 160), "") if len(la) > len(lb) else ("", shorten(longer, 160))
    return shorten(a, 160), shorten(b, 160)


def compare_outputs(
    reference: Sequence[Mapping[str, Any]],
    actual: Sequence[Mapping[str, Any]],
    *,
    rtol: float = 1e-6,
    only: Callable[[int, Mapping[str, Any]], bool] | None = None,
) -> OutputComparison:
    """Compare the outputs of two executions of the same notebook, cell by cell.

    Parameters
    ----------
    reference, actual
        The notebooks' ``cells`` lists (same notebook: cells align by position).
    rtol
        Relative tolerance for numbers in text outputs (a printed number also gets one unit
        in its last printed digit).
    only
        ``only(index, reference_cell)`` says which code cells to compare (default: all but
        the cells that only drive repro_nb).

    Returns
    -------
    OutputComparison
    """
    result = OutputComparison()
    for index, (ref_cell, act_cell) in enumerate(zip(reference, actual, strict=False)):
        if ref_cell.get("cell_type") != "code" or act_cell.get("cell_type") != "code":
            continue
        if is_repro_only(cell_source(ref_cell)):
            continue
        if only is not None and not only(index, ref_cell):
            continue
        result.compared += 1
        diff = _compare_items(
            cell_outputs(ref_cell, index), cell_outputs(act_cell, index), rtol, result.noise
        )
        if diff is not None:
            result.diffs.append(diff)
    return result
