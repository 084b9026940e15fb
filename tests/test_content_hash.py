"""Figures, models, optimizers and RNGs hash alike across fresh processes (issue 9, item 3)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from repro_nb.capture.hashing import hash_value

ROOT = Path(__file__).resolve().parents[1]

# The same notebook-like code, run in two fresh interpreters: their pickles differ, content must not.
SCRIPT = r"""
import json, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from repro_nb.capture.hashing import hash_value

def plot(y):
    fig, ax = plt.subplots()
    lines = ax.plot([1, 2, 3], [4, 5, y], label="a")
    ax.set_title("seeded")
    return fig, ax, lines

def image(seed):
    fig, ax = plt.subplots()
    img = ax.imshow(np.random.default_rng(seed).random((20, 20)))
    fig.colorbar(img)
    return fig, img

def model(seed):
    torch.manual_seed(seed)
    net = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    (net(torch.ones(2, 4)) ** 2).sum().backward()  # gradients that depend on the weights
    opt.step()
    return net, opt

fig, ax, lines = plot(6)
fig7, ax7, lines7 = plot(7)
imfig, img = image(0)
imfig1, img1 = image(1)
net, opt = model(0)
net1, opt1 = model(1)
values = {
    "figure": fig, "axes": ax, "lines": lines, "line": lines[0], "imshow_figure": imfig,
    "image": img, "module": net, "optimizer": opt,
    "figure_other": fig7, "axes_other": ax7, "lines_other": lines7, "image_other": img1,
    "imshow_figure_other": imfig1, "module_other": net1, "optimizer_other": opt1,
}
out = {k: hash_value(v).to_dict() for k, v in values.items()}
fig.canvas.draw()  # drawing (as the inline backend does after a cell) must not change the hash
out["figure_drawn"] = hash_value(fig).to_dict()
print(json.dumps(out))
"""

SAME = ("figure", "axes", "lines", "line", "imshow_figure", "image", "module", "optimizer")


def _run() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    env.pop("PYTHONHASHSEED", None)  # each process its own hash seed, as fresh kernels have
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def two_runs() -> tuple[dict[str, Any], dict[str, Any]]:
    pytest.importorskip("matplotlib")
    pytest.importorskip("torch")
    return _run(), _run()


@pytest.mark.parametrize("name", SAME)
def test_fresh_processes_give_equal_digests(
    two_runs: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    first, second = two_runs
    assert first[name]["hash"] is not None, first[name]["note"]
    assert first[name]["hash"] == second[name]["hash"]
    assert not first[name]["partial"], first[name]["note"]
    assert first[name]["kind"] == "value"


#: Each value and the same value built from other plot data or other weights.
OTHER = {
    "figure": "figure_other",
    "axes": "axes_other",
    "lines": "lines_other",
    "imshow_figure": "imshow_figure_other",
    "image": "image_other",
    "module": "module_other",
    "optimizer": "optimizer_other",
}


@pytest.mark.parametrize("name", OTHER)
def test_other_plot_data_or_weights_give_other_digests(
    two_runs: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    first, second = two_runs
    assert first[name]["hash"] != first[OTHER[name]]["hash"]
    assert first[OTHER[name]]["hash"] == second[OTHER[name]]["hash"]


def test_drawing_a_figure_keeps_its_digest(
    two_runs: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, second = two_runs
    assert first["figure_drawn"]["hash"] == first["figure"]["hash"] == second["figure"]["hash"]


def _generators() -> list[tuple[Any, Any]]:
    """(generator, a draw from it) for each supported kind."""
    gens: list[tuple[Any, Any]] = [
        (np.random.default_rng(0), lambda g: g.random()),
        (np.random.RandomState(0), lambda g: g.rand()),
        (np.random.PCG64(0), lambda g: g.random_raw()),
        (random.Random(0), lambda g: g.random()),
    ]
    torch = sys.modules.get("torch")
    if torch is not None:
        gens.append((torch.Generator().manual_seed(0), lambda g: torch.rand(1, generator=g)))
    return gens


@pytest.mark.parametrize("pair", _generators(), ids=lambda p: type(p[0]).__name__)
def test_generators_are_rng_kind_and_change_when_drawn_from(pair: tuple[Any, Any]) -> None:
    gen, draw = pair
    before = hash_value(gen)
    assert before.kind == "rng" and before.hash is not None, before.note
    assert hash_value(gen).hash == before.hash  # hashing reads the state, never draws
    draw(gen)
    after = hash_value(gen)
    assert after.kind == "rng" and after.hash != before.hash


def test_plain_values_keep_kind_value_and_rngs_inside_containers_stay_values() -> None:
    assert hash_value(np.arange(3)).kind == "value"
    assert hash_value({"g": np.random.default_rng(0)}).kind == "value"
    assert hash_value(np.random.default_rng(0)).to_dict()["kind"] == "rng"


def test_a_styler_and_a_module_hash_by_content() -> None:
    pd = pytest.importorskip("pandas")
    a = hash_value(pd.DataFrame({"x": [1, 2]}).style)
    b = hash_value(pd.DataFrame({"x": [1, 2]}).style)
    assert a.hash is not None and a.hash == b.hash and a.partial
    assert a.hash != hash_value(pd.DataFrame({"x": [1, 3]}).style).hash
    assert hash_value([np]).hash == hash_value([np]).hash is not None


def test_an_unknown_artist_is_named_and_partial_not_unhashable() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

    class Custom(Artist):
        pass

    fig = Figure()
    ax = fig.add_subplot()
    ax.add_artist(Custom())
    vh = hash_value(fig)
    assert vh.hash is not None and vh.partial and "Custom" in (vh.note or "")


def test_a_dataloader_built_twice_hashes_alike() -> None:
    torch = pytest.importorskip("torch")
    data = torch.utils.data

    def make() -> Any:
        ds = data.TensorDataset(torch.arange(10.0))
        return data.DataLoader(ds, batch_size=2, shuffle=True)

    first, second = hash_value(make()), hash_value(make())
    assert first.hash is not None and first.hash == second.hash
    loader = make()
    list(loader)  # iterating it draws a shuffle seed from torch's global RNG, not from the loader
    assert hash_value(loader).hash == first.hash
