"""Attacks on seeding, environment capture, the git time box, kernel environments and input().

Each test names the attack (issue 10, "Seeding and environment" and "Runs that cannot run")
and the outcome that must hold. Real kernels and fresh interpreters only where the attack
needs one (marked ``slow``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_seeding import clean_seeding  # noqa: F401  (fixture, shared with the unit tests)

from repro_nb.capture.git import capture_git
from repro_nb.compare.drift_items import diff_environments
from repro_nb.errors import UsageProblem
from repro_nb.execution import KernelChoice, RunSpec, run_many, run_notebook, with_submitter_env
from repro_nb.execution.client import kernel_environment, submitter_environ
from repro_nb.seeding import seed_everything
from repro_nb.verification.published import input_request, why_it_failed

REPO = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

#: What a worker pool (Dask's nanny) puts in a worker's environment.
POISON = {
    "PYTHONHASHSEED": "6640",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def run_python(code: str) -> Any:
    """Run code in a fresh interpreter (torch's global flags stay out of this process)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- 1. strict determinism
@needs_torch
def test_seed_keeps_a_users_strict_deterministic_algorithms(clean_seeding) -> None:  # noqa: F811
    import torch

    torch.use_deterministic_algorithms(True)  # the user's own, strict
    report = seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()  # not weakened
    assert report.requested is not None and report.requested.determinism == "auto"
    assert report.effective.warn_only is False
    assert report.to_dict()["requested"]["determinism"] == "auto"
    # The report says what "auto" asks for, next to what took effect.
    assert "kept no if already strict" in report.to_markdown()


@needs_torch
def test_seed_strict_and_warn_are_explicit_and_recorded(clean_seeding) -> None:  # noqa: F811
    import torch

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    report = seed_everything(0, deterministic="strict")
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert report.requested is not None and report.requested.determinism == "strict"
    assert report.effective.deterministic_algorithms and report.effective.warn_only is False
    report = seed_everything(0, deterministic="warn")
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert report.effective.warn_only is True
    # Strict requested, then weakened behind our back: the report says so, with the fix.
    seed_everything(0, deterministic="strict")
    torch.use_deterministic_algorithms(True, warn_only=True)
    from repro_nb.seeding import current_report

    assert any("--strict" in w for w in current_report().warnings)
    # False gives back exactly the flags from before the first switch.
    seed_everything(0, deterministic=False)
    assert (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    ) == before
    with pytest.raises(UsageProblem, match="strict"):
        seed_everything(0, deterministic="very")


@needs_torch
def test_repro_seed_strict_magic(ip, clean_seeding) -> None:  # noqa: F811
    import torch

    report = ip.run_line_magic("repro_seed", "0 --strict")
    assert report.requested.determinism == "strict"
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    report = ip.run_line_magic("repro_seed", "0 --warn-only")
    assert torch.is_deterministic_algorithms_warn_only_enabled()


@needs_torch
@pytest.mark.slow
def test_strict_applies_when_torch_is_imported_after_seeding() -> None:
    out = run_python(
        """
        import json
        import repro_nb
        repro_nb.seed(0, deterministic="strict")
        import torch
        print(json.dumps([torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()]))
        """
    )
    assert out == [True, False]


# --------------------------------------------------------------------- 2. TF32, the new API
@needs_torch
@pytest.mark.slow
def test_tf32_set_with_the_fp32_precision_api_is_recorded() -> None:
    out = run_python(
        """
        import json
        import torch
        from repro_nb.capture.environment import capture_environment
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        print(json.dumps(capture_environment()["gpu"]))
        """
    )
    assert out["allow_tf32_matmul"] is True  # was None: torch refuses the legacy read now
    assert out["float32_matmul_precision"] == "high"
    assert out["matmul_fp32_precision"] == "tf32"
    assert out["cudnn_conv_fp32_precision"] == "ieee"
    assert out["allow_tf32_cudnn"] is False


def _gpu_env(**gpu: Any) -> dict[str, Any]:
    return {"gpu": {"devices": [], **gpu}}


def test_drift_compares_the_fp32_precision_settings() -> None:
    before = _gpu_env(allow_tf32_matmul=False, matmul_fp32_precision="ieee")
    after = _gpu_env(allow_tf32_matmul=True, matmul_fp32_precision="tf32")
    items = {i.name: i for i in diff_environments(before, after).items}
    assert items["matmul_fp32_precision"].severity == "major"
    assert items["allow_tf32_matmul"].severity == "major"
    # A record made before these keys existed is no false alarm.
    old = _gpu_env(allow_tf32_matmul=False)
    new = _gpu_env(allow_tf32_matmul=False, matmul_fp32_precision="none")
    assert not [i for i in diff_environments(old, new).items if "fp32" in i.name]


# --------------------------------------------------------------------- 3. git time box
def test_slow_git_wrapper_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    pids = tmp_path / "pids"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "git"
    # Not `exec sleep`: the shell's child holds the output pipe open after the shell dies.
    script.write_text(f'#!/bin/sh\nsleep 30 &\necho $! >> "{pids}"\nwait\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    start = time.monotonic()
    info = capture_git(repo, timeout=2.0, refresh=True)
    elapsed = time.monotonic() - start
    assert info["status"] == "unknown (timed out)"
    assert "did not finish within 2 s" in info["note"]
    assert elapsed < 3.0, elapsed  # was 6.3 s (90 s with GitPython's own git calls)
    time.sleep(0.2)
    for pid in pids.read_text().split():
        assert not _running(int(pid))  # the grandchild is gone too


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for a reaper that is not ours is dead)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


# --------------------------------------------------------------------- 4. kernel environment
def test_kernel_environment_comes_from_the_submitter_not_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = {"PATH": os.environ["PATH"], "HOME": "/home/u", "MY_SETTING": "kept"}
    for name, value in POISON.items():
        monkeypatch.setenv(name, value)  # this process plays the worker
    spec = with_submitter_env(
        RunSpec("nb.ipynb", env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}), parent
    )
    env = kernel_environment(spec, KernelChoice("python3", (sys.executable,), "python", None), None)
    assert not set(POISON) & set(env)
    assert env["MY_SETTING"] == "kept" and env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "MY_SETTING" not in repr(spec)  # the whole environment never shows in a repr


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_submitter_environ_undoes_what_a_pool_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dask.distributed")  # where a pool's settings come from
    start = Path("/proc/self/environ").read_bytes()
    if any(start.startswith(f"{n}=".encode()) or f"\0{n}=".encode() in start for n in POISON):
        pytest.skip("this interpreter started with one of the pool's variables")
    for name, value in POISON.items():
        monkeypatch.setenv(name, value)  # what a LocalCluster's nanny does in its process
    env = submitter_environ()
    assert not set(POISON) & set(env)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own choice is kept
    assert submitter_environ()["OMP_NUM_THREADS"] == "3"


def _env_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    names = sorted(POISON)
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import json, os\nprint(json.dumps({{n: os.environ.get(n) for n in {names!r}}}))"
        )
    ]
    nbformat.write(nb, path)
    return path


def _printed(res: Any) -> dict[str, Any]:
    assert res.status == "ok", res.error
    out: dict[str, Any] = json.loads(res.notebook["cells"][0]["outputs"][0]["text"])
    return out


def _poison_worker() -> None:
    os.environ.update(POISON)


def _worker_env(name: str) -> str | None:
    return os.environ.get(name)


@pytest.mark.slow
def test_process_pool_kernel_sees_the_local_environment(tmp_path: Path) -> None:
    spec = RunSpec(str(_env_notebook(tmp_path / "env.ipynb")), capture=False)
    local = _printed(run_notebook(spec))
    with ProcessPoolExecutor(1, initializer=_poison_worker) as pool:
        poisoned = pool.submit(_worker_env, "OMP_NUM_THREADS").result()
        pooled = _printed(pool.submit(run_notebook, with_submitter_env(spec)).result())
    assert poisoned == "1"  # the worker really is poisoned
    assert pooled == local


@pytest.mark.slow
def test_dask_kernel_sees_the_local_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("dask.distributed")
    for name in POISON:  # a LocalCluster's nanny writes these here: undo after the test
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    spec = RunSpec(str(_env_notebook(tmp_path / "env.ipynb")), capture=False)
    local = _printed(run_notebook(spec))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        worker = client.run(lambda: os.environ.get("PYTHONHASHSEED"))
        [res] = run_many([spec], executor="dask", scheduler=cluster.scheduler_address)
    assert set(worker.values()) == {"6640"}  # Dask did set it in its worker
    assert _printed(res) == local


# --------------------------------------------------------------------- 5. input()
def test_input_is_classified_with_the_fix() -> None:
    from repro_nb.compare.evidence import NotebookSource

    evalue = "raw_input was called, but this frontend does not support input requests."
    failure = why_it_failed("StdinNotImplementedError", evalue, 2, NotebookSource({}), [])
    cause, text = failure.cause, failure.text
    assert cause == "input"
    assert text.startswith("cell 3 asks for input()") and "parameter" in text
    errors = [
        {"cell_index": 1, "ename": "ValueError", "evalue": "x"},
        {"cell_index": 2, "ename": "StdinNotImplementedError", "evalue": evalue},
    ]
    assert input_request(errors) == (2, text)
    assert input_request(errors[:1]) is None


@pytest.mark.slow
def test_a_cell_asking_for_input_could_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    from repro_nb.verification import verify

    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("name = input('your name? ')\nprint(name)"),
    ]
    path = tmp_path / "asks.ipynb"
    nbformat.write(nb, path)
    res = verify(path, runs=2)
    assert res.verdict == "could not run", res.to_text()
    assert res.exit_code == 2
    assert "cell 2 asks for input()" in res.reason and "parameter" in res.reason
