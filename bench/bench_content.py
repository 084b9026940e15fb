"""Speed of content hashing for values whose pickle is not content (figures, models, optimizers).

Rows (medians of interleaved repeats, in ms):

1. ``hash_value`` of a 3-line figure and of a 200x200 ``imshow`` figure with a colorbar (plot
   data: xy data, image arrays, texts, limits, ticks), next to rendering the same figure with Agg
   at 72 dpi and hashing its pixels, the fallback that plot-data hashing was chosen over.
2. ``hash_value`` of a 1M-parameter ``nn.Module`` (its ``state_dict``) and of the Adam optimizer
   over it after one step (state tensors and param_group numbers).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xxhash

from repro_nb.capture.hashing import hash_value


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _median_ms(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median milliseconds of each function, interleaved so both see the same machine load."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) for t in times]


def _render_hash(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="rgba", dpi=72)
    return xxhash.xxh3_128(buf.getbuffer()).hexdigest()


def bench_figures(repeats: int = 15) -> list[dict[str, Any]]:
    """Plot-data hashing vs Agg rendering for a line plot and an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    lines, ax = plt.subplots()
    for k in range(3):
        ax.plot(np.arange(100), rng.random(100), label=f"line {k}")
    ax.legend()
    ax.set_title("3 lines")
    image, ax = plt.subplots()
    image.colorbar(ax.imshow(rng.random((200, 200))))
    rows = []
    for name, fig in (("3-line figure", lines), ("200x200 imshow figure", image)):
        assert hash_value(fig).hash is not None
        ours, render = _median_ms(
            [lambda f=fig: hash_value(f), lambda f=fig: _render_hash(f)], repeats
        )
        rows.append(_row(f"hash_value, {name}", ours, "ms", "<= 10 ms", ours <= 10))
        rows.append(_row(f"Agg render 72 dpi + hash, {name}", render, "ms", "reference", True))
    plt.close("all")
    return rows


def bench_model(repeats: int = 15) -> list[dict[str, Any]]:
    """A 1M-parameter model and its Adam optimizer after one step."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(1000, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 1)
    )
    n = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(8, 1000)).pow(2).sum().backward()
    opt.step()
    m_ms, o_ms = _median_ms([lambda: hash_value(model), lambda: hash_value(opt)], repeats)
    return [
        _row(f"hash_value, nn.Module ({n / 1e6:.2f}M params)", m_ms, "ms", "<= 10 ms", m_ms <= 10),
        _row("hash_value, Adam over it after one step", o_ms, "ms", "<= 20 ms", o_ms <= 20),
    ]


def run() -> list[dict[str, Any]]:
    """All rows of this area."""
    return bench_figures() + bench_model()


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<50} {r['value']:>10.2f} {r['unit']:<5} {r['target']:<10} {r['ok']}")
