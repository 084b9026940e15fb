"""Unit tests for repro_nb.seeding: validation, derived seeds, phases, per-cell, state, reports.

Real numpy and torch throughout; anything that needs a fresh interpreter (hash seed, import
hook) runs a subprocess. Training-loop reproducibility lives in test_seeding_torch.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from repro_nb import seeding
from repro_nb.errors import SeedError, UsageProblem
from repro_nb.seeding import (
    SeedConfig,
    current_config,
    derive_seed,
    parse_phases,
    phase,
    reseed_for_cell,
    restore_rng_state,
    rng,
    rng_fingerprints,
    rng_state,
    seed_everything,
    validate_seed,
)
from repro_nb.seeding.state import SEEDING_STATE
from repro_nb.seeding.torch_support import cublas_status

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter of this venv with the repo importable; return stdout."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED",)}
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _torch_flags(torch):
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )


@pytest.fixture
def clean_seeding():
    """A clean seeding state for the test; the previous state (and torch flags) come back after."""
    state = SEEDING_STATE
    saved = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        saved[f.name] = value.copy() if isinstance(value, (dict, list, set)) else value
    hook_in = saved["hook"] is not None and saved["hook"] in sys.meta_path
    torch = sys.modules.get("torch")
    flags = _torch_flags(torch) if torch is not None else None
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    seeding.reset_seeding()
    state.det_applied, state.det_previous = False, None
    yield
    seeding.reset_seeding()
    for name, value in saved.items():
        setattr(state, name, value)
    if hook_in:
        sys.meta_path.insert(0, state.hook)
    torch = sys.modules.get("torch")
    if torch is not None:
        algorithms, warn_only, cudnn_det, bench = flags or (False, False, False, False)
        if _torch_flags(torch)[:2] != (algorithms, warn_only):
            torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_det, bench
    if cublas is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def draws() -> tuple[float, float]:
    return random.random(), float(np.random.rand())


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("value", [0, 7, 2**32 - 1, "42", " 12 ", np.int64(5), np.uint32(9)])
def test_validate_seed_accepts_ints_in_range(value):
    assert validate_seed(value) == int(str(value).strip())


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (-1, r"Seed -1 is out of range: numpy accepts 0\.\.4294967295 \(2\*\*32-1\)\. Pass a seed"),
        (2**32, r"Seed 4294967296 is out of range: numpy accepts 0\.\.4294967295"),
        ("-5", r"Seed -5 is out of range"),
        ("abc", r"Seed 'abc' is not an integer: pass a whole number in 0\.\.4294967295"),
        (1.5, r"Seed 1\.5 is not an integer \(float\)"),
        (None, r"Seed None is not an integer"),
        (True, r"Seed True is a bool, not a seed"),
    ],
)
def test_validate_seed_messages(value, pattern):
    with pytest.raises(SeedError, match=pattern):
        validate_seed(value)


def test_seed_error_is_a_usage_problem():
    with pytest.raises(UsageProblem):
        seed_everything(-3)


def test_parse_phases():
    assert parse_phases(["data=1", "train=3"]) == {"data": 1, "train": 3}
    assert parse_phases({"eval": "4"}) == {"eval": 4}
    with pytest.raises(UsageProblem, match=r"Phase 'data' has no seed: write NAME=SEED"):
        parse_phases(["data"])
    with pytest.raises(SeedError, match=r"Phase 'x' seed -1 is out of range"):
        parse_phases(["x=-1"])
    with pytest.raises(UsageProblem, match=r"Phase name '' is invalid"):
        parse_phases(["=3"])


def test_rank_must_be_non_negative(clean_seeding):
    with pytest.raises(UsageProblem, match=r"Rank -1 is invalid: pass this process's rank"):
        seed_everything(0, rank=-1)
    assert current_config() is None


# ----------------------------------------------------------------------------- derived seeds
def test_derive_seed_stable_across_processes_and_hash_seeds():
    here = [derive_seed(0, "phase", "train"), derive_seed(7, "cell", "abc", 3)]
    code = (
        "from repro_nb.seeding import derive_seed;"
        "print(derive_seed(0, 'phase', 'train'), derive_seed(7, 'cell', 'abc', 3))"
    )
    for hash_seed in ("1", "12345"):
        out = run_python(code, env={"PYTHONHASHSEED": hash_seed}).split()
        assert [int(x) for x in out] == here


def test_derive_seed_separates_keys():
    seeds = {
        derive_seed(0, "a"),
        derive_seed(0, "b"),
        derive_seed(1, "a"),
        derive_seed(0, "1"),
        derive_seed(0, 1),
        derive_seed(0, "a", "b"),
        derive_seed(0, "ab"),
    }
    assert len(seeds) == 7
    assert all(0 <= s <= 2**32 - 1 for s in seeds)
    with pytest.raises(UsageProblem, match="must be a str or an int"):
        derive_seed(0, 1.5)


# ----------------------------------------------------------------------------- seeding
def test_seed_everything_reproduces_python_and_numpy(clean_seeding):
    seed_everything(11, deterministic=False)
    first = [draws() for _ in range(3)]
    seed_everything(11, deterministic=False)
    assert [draws() for _ in range(3)] == first
    seed_everything(12, deterministic=False)
    assert [draws() for _ in range(3)] != first
    # Rank 0 means the plain seed: the same numbers as random.seed / np.random.seed.
    assert first[0][0] == random.Random(11).random()
    assert first[0][1] == np.random.RandomState(11).rand()


def test_rank_derives_its_own_stream(clean_seeding):
    report = seed_everything(5, rank=2, deterministic=False)
    assert report.effective.seed == derive_seed(5, "rank", 2) != 5
    assert random.random() == random.Random(derive_seed(5, "rank", 2)).random()
    seed_everything(5, rank=0, deterministic=False)
    assert random.random() == random.Random(5).random()


def test_report_requested_vs_effective_and_renderings(clean_seeding):
    report = seed_everything("3", per_cell=True, phases={"train": 9}, deterministic=False)
    data = report.to_dict()
    json.dumps(data)  # JSON-ready
    assert data["requested"] == {
        "seed": 3,
        "deterministic": False,
        "per_cell": True,
        "phases": {"train": 9},
        "rank": 0,
        "determinism": "off",
    }
    assert data["effective"]["seed"] == 3
    assert data["effective"]["generators"]["python"] == "seeded"
    assert SeedConfig.from_dict(data["requested"]) == report.requested
    assert "<table>" in report._repr_html_()
    assert "| seed | 3 | 3 |" in report.to_markdown()
    empty = seeding.current_report
    seeding.reset_seeding()
    assert "No seed set" in empty().to_markdown()
    assert empty().requested is None


def test_hash_seed_truth_in_fresh_interpreters():
    code = (
        "import os, json; from repro_nb.seeding import seed_everything;"
        "os.environ['PYTHONHASHSEED'] = '0';"  # too late for this interpreter: must still warn
        "r = seed_everything(1, deterministic=False);"
        "print(json.dumps({'seed': r.effective.hash_seed, 'w': r.warnings}))"
    )
    random_run = json.loads(run_python(code))
    assert random_run["seed"] == "random"
    [warning] = [w for w in random_run["w"] if "PYTHONHASHSEED" in w]
    assert "only affects child processes" in warning
    assert "write_kernelspec_env()" in warning and "PYTHONHASHSEED=0" in warning
    assert "\n" not in warning
    fixed = json.loads(run_python(code, env={"PYTHONHASHSEED": "0"}))
    assert fixed == {"seed": "0", "w": []}
    fixed = json.loads(run_python(code, env={"PYTHONHASHSEED": "77"}))
    assert fixed == {"seed": "77", "w": []}


@pytest.mark.parametrize(
    ("version", "cuda_build", "initialised", "env", "confirmed", "expected"),
    [
        ("2.13.0+cpu", False, False, None, False, None),
        ("2.13.0", True, True, None, False, True),  # relaxed since 2.10
        ("2.10.0", True, True, None, False, True),
        ("2.9.1", True, True, ":4096:8", False, False),  # set after CUDA started
        ("2.9.1", True, True, ":4096:8", True, True),
        ("2.9.1", True, False, ":16:8", False, True),
        ("2.4.0", True, False, None, False, False),
        ("2.4.0", True, False, ":1:1", False, False),
    ],
)
def test_cublas_status_is_torch_version_aware(
    version, cuda_build, initialised, env, confirmed, expected
):
    ok, note = cublas_status(version, cuda_build, initialised, env, confirmed)
    assert ok is expected
    assert note


def test_restart_command_and_recommended_env():
    assert seeding.recommended_env() == {
        "PYTHONHASHSEED": "0",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    assert seeding.recommended_env(deterministic=False) == {"PYTHONHASHSEED": "0"}
    command = seeding.restart_command({"PYTHONHASHSEED": "0"})
    assert command.startswith("PYTHONHASHSEED=0 ")
    out = run_python(
        "import sys; sys.argv=['train.py', '--epochs', '2'];"
        "from repro_nb.seeding import restart_command; print(restart_command())"
    )
    assert out.startswith("PYTHONHASHSEED=0 CUBLAS_WORKSPACE_CONFIG=:4096:8 ")


# ----------------------------------------------------------------------------- per cell, phases
def test_reseed_for_cell_reproduces_each_cell_whatever_ran_before(clean_seeding):
    seed_everything(0, per_cell=True, deterministic=False)
    assert seeding.per_cell_enabled()
    reseed_for_cell("cell-a")
    a = draws()
    reseed_for_cell("cell-b")
    b = draws()
    for _ in range(5):
        draws()
    reseed_for_cell("cell-b")
    assert draws() == b
    reseed_for_cell("cell-a")
    assert draws() == a
    assert a != b


def test_per_cell_off_reports_disabled(clean_seeding):
    assert not seeding.per_cell_enabled()
    with pytest.raises(UsageProblem, match=r"needs a base seed: call repro_nb.seed\(SEED\)"):
        reseed_for_cell("x")
    seed_everything(0, deterministic=False)
    assert not seeding.per_cell_enabled()


def test_phase_switching_uses_phase_seeds(clean_seeding):
    seed_everything(0, phases=["data=1", "train=3"], deterministic=False)
    switch = phase("train")
    assert switch.seed == 3 and seeding.current_phase() == "train"
    assert random.random() == random.Random(3).random()
    derived = phase("eval")  # not in the mapping: derived from the base seed
    assert derived.seed == derive_seed(0, "phase", "eval")
    assert float(np.random.rand()) == np.random.RandomState(derived.seed).rand()
    # Per-cell seeds depend on the phase.
    SEEDING_STATE.config.per_cell = True
    phase("data")
    data_cell = (reseed_for_cell("c1"), draws())
    phase("train")
    assert reseed_for_cell("c1") != data_cell[0]
    phase("data")
    assert (reseed_for_cell("c1"), draws()) == data_cell


def test_phase_context_manager_restores_outer_stream(clean_seeding):
    seed_everything(0, phases={"eval": 5}, deterministic=False)
    reference = [draws() for _ in range(3)]
    seed_everything(0, phases={"eval": 5}, deterministic=False)
    got = [draws()]
    with phase("eval") as inner:
        assert seeding.current_phase() == "eval" and inner.seed == 5
        assert random.random() == random.Random(5).random()
    assert seeding.current_phase() is None
    got += [draws() for _ in range(2)]
    assert got == reference


def test_phase_needs_a_seed(clean_seeding):
    with pytest.raises(UsageProblem, match=r"repro_nb.phase\('train'\) needs a base seed"):
        phase("train")


# ----------------------------------------------------------------------------- named streams
def test_rng_named_streams_are_deterministic(clean_seeding):
    with pytest.raises(UsageProblem, match=r"repro_nb.rng\('aug'\) needs a base seed"):
        rng("aug")
    seed_everything(4, deterministic=False)
    a = rng("aug").random(4)
    np.random.rand(100)  # global draws do not move named streams
    assert np.array_equal(rng("aug").random(4), a)
    assert not np.array_equal(rng("other").random(4), a)
    seed_everything(4, rank=1, deterministic=False)
    assert not np.array_equal(rng("aug").random(4), a)


def test_torch_generator_named_streams(clean_seeding):
    torch = pytest.importorskip("torch")
    seed_everything(4, deterministic=False)
    a = torch.rand(5, generator=seeding.torch_generator("loader"))
    torch.rand(10)
    assert torch.equal(torch.rand(5, generator=seeding.torch_generator("loader")), a)
    assert not torch.equal(torch.rand(5, generator=seeding.dataloader_generator()), a)


# ----------------------------------------------------------------------------- state
def test_rng_state_round_trip(clean_seeding):
    torch = pytest.importorskip("torch")
    seed_everything(8, deterministic=False)
    np.random.standard_normal()  # leaves a cached gaussian in the legacy state
    state = rng_state()
    assert set(state) >= {"python", "numpy", "torch"}
    after = (draws(), float(np.random.standard_normal()), torch.rand(3))
    draws()
    restore_rng_state(state)
    again = (draws(), float(np.random.standard_normal()), torch.rand(3))
    assert after[:2] == again[:2] and torch.equal(after[2], again[2])
    with pytest.raises(SeedError, match=r"not a repro_nb\.rng_state"):
        restore_rng_state({"numpy": {}})


def test_fingerprints_track_state(clean_seeding):
    torch = pytest.importorskip("torch")
    seed_everything(2, deterministic=False)
    before = rng_fingerprints()
    assert set(before) >= {"python", "numpy", "torch"}
    assert all(len(v) == 16 for v in before.values())
    np.random.rand()
    mid = rng_fingerprints()
    assert mid["numpy"] != before["numpy"] and mid["python"] == before["python"]
    random.random()
    torch.rand(1)
    after = rng_fingerprints()
    assert after["python"] != mid["python"] and after["torch"] != mid["torch"]
    seed_everything(2, deterministic=False)
    assert rng_fingerprints() == before
    # The in-place numpy read passed its one-time layout check.
    assert SEEDING_STATE.numpy_view[1] is not False


def test_checkpoint_round_trip_with_model_and_optimizer(clean_seeding, tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    def make():
        return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))

    def step(model, opt):
        x = torch.randn(16, 6)  # data and dropout masks both come from the global RNG
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    seed_everything(0, deterministic=False)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        step(model, opt)
    path = seeding.save_checkpoint(tmp_path / "ck" / "model.pt", model, opt, epoch=3)
    for _ in range(2):
        step(model, opt)
    expected = [p.detach().clone() for p in model.parameters()]

    seed_everything(99, deterministic=False)  # different init and RNG position
    model2 = make()
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.01)
    payload = seeding.load_checkpoint(path, model2, opt2)
    assert payload["extra"] == {"epoch": 3} and payload["seed"]["seed"] == 0
    for _ in range(2):
        step(model2, opt2)
    for got, want in zip(model2.parameters(), expected, strict=True):
        assert torch.equal(got, want)

    import fractions

    unsafe = seeding.save_checkpoint(tmp_path / "unsafe.pt", frac=fractions.Fraction(1, 3))
    with pytest.raises(UsageProblem, match=r"refuses: pass weights_only=False if you trust"):
        seeding.load_checkpoint(unsafe)
    assert seeding.load_checkpoint(unsafe, weights_only=False)["extra"]["frac"].denominator == 3

    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(UsageProblem, match="is not a repro_nb checkpoint"):
        seeding.load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(UsageProblem, match="does not exist"):
        seeding.load_checkpoint(tmp_path / "missing.pt")


def test_deterministic_flags_applied_and_undone(clean_seeding):
    torch = pytest.importorskip("torch")
    before = _torch_flags(torch)
    report = seed_everything(0, deterministic=True)
    assert _torch_flags(torch) == (True, True, True, False)
    assert report.effective.deterministic_algorithms is True
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert not [w for w in report.warnings if "changed afterwards" in w]
    torch.backends.cudnn.benchmark = True  # someone changes it later: the report must say so
    assert any("changed afterwards" in w for w in seeding.current_report().warnings)
    seed_everything(0, deterministic=False)
    assert _torch_flags(torch) == before


def test_collect_nondeterminism_warnings_names_the_op(clean_seeding, recwarn):
    torch = pytest.importorskip("torch")
    seed_everything(0, deterministic=True)
    with seeding.collect_nondeterminism_warnings() as collector:
        for _ in range(3):
            torch.zeros(5).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
        torch.zeros(3).add_(1)  # deterministic: not reported
    assert collector.ops == ["put_"]
    assert collector.counts == {"put_": 3}
    # Shown to the user once per block, not three times.
    assert sum("put_ does not have" in str(w.message) for w in recwarn.list) == 1
    with seeding.collect_nondeterminism_warnings() as clean:
        torch.zeros(3).add_(1)
    assert clean.ops == []


# ----------------------------------------------------------------------------- kernelspec
def test_write_kernelspec_env(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    data_dir, other = tmp_path / "data", tmp_path / "system"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("JUPYTER_PATH", str(other))
    shared = other / "kernels" / "shared-py"
    shared.mkdir(parents=True)
    spec = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]}
    spec |= {"display_name": "Shared", "language": "python", "env": {"KEEP": "1"}}
    (shared / "kernel.json").write_text(json.dumps(spec))
    (shared / "logo-64x64.png").write_bytes(b"png")

    # Only specs under tmp_path may change: snapshot every other kernel.json Jupyter can see.
    def outside():
        specs = KernelSpecManager().find_kernel_specs().values()
        files = [Path(d) / "kernel.json" for d in specs if tmp_path not in Path(d).parents]
        return {f: f.read_bytes() for f in files if f.is_file()}

    untouched = outside()

    # No name: a copy of this interpreter's spec under the user's data dir.
    path = seeding.write_kernelspec_env()
    assert path.parent.parent == data_dir / "kernels" and path.parent.name.endswith("-repro")
    written = json.loads(path.read_text())
    assert written["env"] == {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    assert os.path.realpath(written["argv"][0]) == os.path.realpath(sys.executable)
    assert written["display_name"].endswith("(repro_nb)")
    ksm = KernelSpecManager()
    assert ksm.get_kernel_spec(path.parent.name).env["PYTHONHASHSEED"] == "0"

    # A named, writable spec: edited in place, its other env entries kept.
    path = seeding.write_kernelspec_env("shared-py", env={"PYTHONHASHSEED": "3"})
    assert path == shared / "kernel.json"
    assert json.loads(path.read_text())["env"] == {"KEEP": "1", "PYTHONHASHSEED": "3"}
    assert KernelSpecManager().get_kernel_spec("shared-py").env["PYTHONHASHSEED"] == "3"
    assert path.stat().st_mode & 0o777 == 0o644

    assert outside() == untouched
    with pytest.raises(UsageProblem, match=r"Kernel 'nope' was not found: pick one of .*shared-py"):
        seeding.write_kernelspec_env("nope")


def test_python_fingerprint_same_with_and_without_the_in_place_view() -> None:
    """The zero-copy view and the getstate() fallback must give the same digest (verify
    compares fingerprints recorded on other interpreters)."""
    import random

    from repro_nb.seeding import rngstate

    random.seed(11)
    random.gauss(0, 1)  # sets gauss_next, which the digest includes
    fast = rngstate._fingerprint_python()
    assert rngstate._python_state_view() is not False  # CPython here: the view is in use
    saved = SEEDING_STATE.python_view
    try:
        SEEDING_STATE.python_view = (random._inst, False)  # force the fallback
        assert rngstate._fingerprint_python() == fast
    finally:
        SEEDING_STATE.python_view = saved
    random.random()
    assert rngstate._fingerprint_python() != fast
