"""Bit-for-bit reproducibility of a real torch training loop, in fresh processes.

An MLP with dropout trained for 2 epochs on synthetic data through a shuffled DataLoader with
``num_workers=2`` (whose dataset adds torch and numpy noise inside the workers). Each run is a
fresh interpreter; runs are compared by the sha256 of the trained ``state_dict`` bytes.

The script builders (:func:`training_code`, :func:`training_script`, :func:`per_cell_script`)
are reusable: the magic-based variants (``%repro_seed 0`` in nbclient kernels) can put
``training_code()`` in a notebook cell and read the ``PARAMS`` line it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_seeding import clean_seeding  # noqa: F401  (fixture, shared with the unit tests)

from repro_nb import seeding
from repro_nb.seeding import torch_support

REPO = Path(__file__).resolve().parents[1]


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


pytestmark = pytest.mark.skipif(not _torch_installed(), reason="torch is not installed")


def training_code(*, helpers: bool = True) -> str:
    """Code that trains the MLP and prints ``PARAMS <sha256>`` (run it as ``__main__``).

    Parameters
    ----------
    helpers
        Pass repro_nb's ``dataloader_generator()`` and ``worker_init_fn`` to the DataLoader
        (needs a seed set first); without, the DataLoader draws from torch's global RNG.
    """
    loader_args = (
        "generator=seeding.dataloader_generator(), worker_init_fn=seeding.worker_init_fn"
        if helpers
        else "generator=None"
    )
    return f'''
import hashlib

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from repro_nb import seeding


class NoisyDataset(Dataset):
    """Augments in the worker with torch and numpy draws: worker seeding matters."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = 0.05 * torch.randn(self.x.shape[1]) + 0.05 * float(np.random.standard_normal())
        return self.x[i] + noise, self.y[i]


def train():
    x = torch.randn(256, 16)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(
        NoisyDataset(x, y), batch_size=32, shuffle=True, num_workers=2, {loader_args}
    )
    for _epoch in range(2):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


if __name__ == "__main__":
    print("PARAMS", train())
'''


def training_script(*, seed: int | None = 0, import_torch_first: bool = True) -> str:
    """A whole script: optionally seed (before or after ``import torch``), then train.

    Parameters
    ----------
    seed
        ``None`` trains unseeded (and without the DataLoader helpers).
    import_torch_first
        ``False`` seeds before torch is imported (seed-on-import); the script asserts torch
        really was not imported at that point.
    """
    if seed is None:
        head = "import torch\n"
    elif import_torch_first:
        head = f"import torch\nfrom repro_nb import seeding\nseeding.seed_everything({seed})\n"
    else:
        head = (
            "import sys\nfrom repro_nb import seeding\n"
            f"seeding.seed_everything({seed})\n"
            "assert 'torch' not in sys.modules, 'seeding imported torch'\n"
            "import torch\n"
            "assert seeding.current_report().effective.generators['torch'] == 'seeded at import'\n"
        )
    return head + training_code(helpers=seed is not None)


# Cells keyed by id, run by per_cell_script in any order. Each sets RESULT.
PER_CELL_CELLS = {
    "data": "x = torch.randn(128, 8); y = (x[:, 0] > 0).long(); RESULT = sha(x)",
    "init": (
        "model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "RESULT = sha(*model.state_dict().values())"
    ),
    "train": (
        "for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,"
        " num_workers=2):\n"
        "    opt.zero_grad(); nn.functional.cross_entropy(model(xb), yb).backward(); opt.step()\n"
        "RESULT = sha(*model.state_dict().values())"
    ),
    "draws": (
        "RESULT = [random.random(), float(np.random.rand()), torch.rand(2).tolist(),"
        " repr(rng_draw())]"
    ),
}


def per_cell_script(order: list[str]) -> str:
    """Run ``PER_CELL_CELLS`` in ``order`` like a kernel would, twice; print two JSON lines.

    ``PER_CELL <json>``: each cell preceded by ``reseed_for_cell(cell id)``, as the recorder
    does in ``pre_run_cell``. ``CONTROL <json>``: the same order after a plain
    ``seed_everything(0)``, without per-cell reseeding.
    """
    return f"""
import hashlib, json, random
import numpy as np
from repro_nb import seeding
seeding.seed_everything(0, per_cell=True, deterministic=False)
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def sha(*tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()

def rng_draw():
    return float(seeding.rng("named").random())

CELLS = {PER_CELL_CELLS!r}
for label, per_cell in (("PER_CELL", True), ("CONTROL", False)):
    seeding.seed_everything(0, per_cell=per_cell, deterministic=False)
    ns = dict(globals())
    results = []
    for key in {order!r}:
        if seeding.per_cell_enabled():
            seeding.reseed_for_cell(key)
        exec(CELLS[key], ns)
        results.append([key, ns.pop("RESULT")])
    print(label, json.dumps(results))
"""


def run_script(code: str, timeout: float = 180) -> str:
    """Run ``code`` as ``__main__`` in a fresh interpreter of this venv; return stdout."""
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")  # same in every run; keeps 2-core machines responsive
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def run_many(codes: list[str]) -> list[str]:
    """Run scripts two at a time (each is mostly torch start-up)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run_script, codes))


def params_hash(stdout: str) -> str:
    [line] = [ln for ln in stdout.splitlines() if ln.startswith("PARAMS ")]
    return line.split()[1]


@pytest.fixture(scope="module")
def training_hashes() -> dict[str, list[str]]:
    variants = {
        "seeded": training_script(seed=0),
        "seeded again": training_script(seed=0),
        "unseeded": training_script(seed=None),
        "unseeded again": training_script(seed=None),
        "seed then import": training_script(seed=0, import_torch_first=False),
    }
    outputs = run_many(list(variants.values()))
    return {name: params_hash(out) for name, out in zip(variants, outputs, strict=True)}


@pytest.mark.slow
def test_seeded_training_is_bit_identical(training_hashes):
    assert training_hashes["seeded"] == training_hashes["seeded again"]


@pytest.mark.slow
def test_unseeded_training_differs(training_hashes):
    assert training_hashes["unseeded"] != training_hashes["unseeded again"]


@pytest.mark.slow
def test_seed_on_import_equals_seed_after_import(training_hashes):
    assert training_hashes["seed then import"] == training_hashes["seeded"]


def _results(stdout: str, label: str) -> list[list]:
    [line] = [ln for ln in stdout.splitlines() if ln.startswith(label + " ")]
    return json.loads(line.split(" ", 1)[1])


@pytest.mark.slow
def test_per_cell_reseeding_reproduces_cells_run_out_of_order():
    in_order = ["data", "init", "train", "draws"]
    shuffled = ["draws", "data", "draws", "init", "draws", "train"]
    first, second = run_many([per_cell_script(in_order), per_cell_script(shuffled)])
    reference = dict(_results(first, "PER_CELL"))
    for key, value in _results(second, "PER_CELL"):
        assert value == reference[key], key
    # Control: without per-cell reseeding the order changes what the draws cell sees.
    control = dict(_results(first, "CONTROL"))
    first_shuffled = _results(second, "CONTROL")[0]
    assert first_shuffled[0] == "draws" and first_shuffled[1] != control["draws"]
    # Named streams do not depend on order either way.
    assert first_shuffled[1][3] == control["draws"][3]


@pytest.mark.slow
def test_import_hook_survives_reload_and_keeps_torch_loader():
    out = run_script(
        """
import importlib, sys
from repro_nb import seeding
seeding.seed_everything(1234, deterministic=False)
importlib.reload(seeding)
seeding.seed_everything(1234, deterministic=False)
hooks = [f for f in sys.meta_path if type(f).__name__ == "_SeedOnImportFinder"]
assert len(hooks) == 1, hooks
import torch.nn  # a submodule import triggers the top-level import
first = torch.rand(3)
torch.manual_seed(1234)
assert torch.equal(first, torch.rand(3)), "import hook did not seed torch"
assert type(torch.__loader__).__name__ == "SourceFileLoader", torch.__loader__
assert type(torch.__spec__.loader).__name__ == "SourceFileLoader"
seeding.reset_seeding()
assert all(type(f).__name__ != "_SeedOnImportFinder" for f in sys.meta_path)
print("OK")
"""
    )
    assert out.strip() == "OK"


@pytest.mark.slow
def test_deterministic_mode_applied_at_import():
    out = run_script(
        """
import json
from repro_nb import seeding
seeding.seed_everything(0, deterministic=True)
import torch
r = seeding.current_report()
print(json.dumps([torch.are_deterministic_algorithms_enabled(),
                  torch.is_deterministic_algorithms_warn_only_enabled(),
                  torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
                  r.effective.deterministic_algorithms]))
"""
    )
    assert json.loads(out) == [True, True, True, False, True]


# ----------------------------------------------------------------------------- GPU
def _maybe_cuda() -> bool:
    # Cheap collection-time check that does not import torch; the test confirms with torch.
    return _torch_installed() and Path("/dev/nvidiactl").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not _maybe_cuda(), reason="needs a CUDA device")
def test_cuda_seeding_state_and_fingerprints(clean_seeding):  # noqa: F811
    import torch

    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")

    devices = torch.cuda.device_count()
    seeding.seed_everything(0, deterministic=False, per_cell=True)
    first = torch.rand(4, device="cuda")
    seeding.seed_everything(0, deterministic=False, per_cell=True)
    assert torch.equal(torch.rand(4, device="cuda"), first)
    for index in range(devices):  # every device is seeded, not only the current one
        with torch.cuda.device(index):
            torch.manual_seed(0)
            expected = torch.rand(4, device=f"cuda:{index}")
            seeding.seed_everything(0, deterministic=False, per_cell=True)
            assert torch.equal(torch.rand(4, device=f"cuda:{index}"), expected)

    report = seeding.current_report()
    assert report.effective.generators["cuda"] == f"seeded ({devices} devices)"
    prints = seeding.rng_fingerprints()
    assert {f"cuda:{i}" for i in range(devices)} <= set(prints)

    state = seeding.rng_state()
    assert len(state["cuda"]) == devices
    after = torch.rand(4, device="cuda")
    torch.rand(100, device="cuda")
    assert seeding.rng_fingerprints()["cuda:0"] != prints["cuda:0"]
    seeding.restore_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda"), after)

    # Per-cell hot path seeds CUDA too (CUDA is initialised now).
    seeding.reseed_for_cell("gpu-cell")
    cell = torch.rand(4, device="cuda")
    torch.rand(10, device="cuda")
    seeding.reseed_for_cell("gpu-cell")
    assert torch.equal(torch.rand(4, device="cuda"), cell)
    seeding.reset_seeding()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not _maybe_cuda(), reason="needs a CUDA device")
def test_cuda_initialised_before_seeding_is_reported_truthfully():
    out = run_script(
        """
import json, torch
if not torch.cuda.is_available():
    print(json.dumps("skip")); raise SystemExit
torch.zeros(1, device="cuda")  # CUDA starts before CUBLAS_WORKSPACE_CONFIG is set
from repro_nb import seeding
r = seeding.seed_everything(0, deterministic=True)
x = torch.randn(64, 64, device="cuda")
a = (x @ x).sum().item(); b = (x @ x).sum().item()
print(json.dumps({"version": torch.__version__, "ok": r.effective.cublas_deterministic,
                  "warn": [w for w in r.warnings if "CUBLAS" in w], "same": a == b}))
"""
    )
    data = json.loads(out)
    if data == "skip":
        pytest.skip("torch sees no CUDA device")
    relaxed = torch_support._torch_version_tuple(data["version"]) >= seeding.CUBLAS_RELAXED_TORCH
    assert data["ok"] is relaxed
    assert bool(data["warn"]) is not relaxed
    assert data["same"]
