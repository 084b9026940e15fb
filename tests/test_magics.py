"""The %repro_* magics and the per-cell recorder, driven through a real InteractiveShell."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from nbhelpers import recorded_cells as _cells
from nbhelpers import run_ok as run

from repro_nb.capture.recorder import Recorder
from repro_nb.store import Store


def _recorder_hooks(ip) -> dict[str, int]:
    return {
        event: sum(
            1
            for cb in ip.events.callbacks[event]
            if isinstance(getattr(cb, "__self__", None), Recorder)
        )
        for event in ("pre_run_cell", "post_run_cell")
    }


def test_load_unload_reload_never_duplicates_hooks(ip) -> None:
    assert _recorder_hooks(ip) == {"pre_run_cell": 1, "post_run_cell": 1}
    ip.run_line_magic("reload_ext", "repro_nb")
    ip.run_line_magic("load_ext", "repro_nb")  # already loaded: IPython ignores it
    assert _recorder_hooks(ip) == {"pre_run_cell": 1, "post_run_cell": 1}
    ip.run_line_magic("unload_ext", "repro_nb")
    assert _recorder_hooks(ip) == {"pre_run_cell": 0, "post_run_cell": 0}
    ip.run_line_magic("load_ext", "repro_nb")
    assert _recorder_hooks(ip) == {"pre_run_cell": 1, "post_run_cell": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("repro_seed -1", r"out of range.*4294967295"),
        ("repro_seed 4294967296", r"out of range"),
        ("repro_seed abc", r"abc"),
        ("repro_seed --per-cell", r"Options need a seed"),
        ("repro_seed 0 --phase train", r"Phase 'train' has no seed: write NAME=SEED"),
        ("repro_seed 0 --phase train=-3", r"Phase 'train' seed -3 is out of range"),
        ("repro_seed 0 --bogus", r"unrecognized arguments: --bogus"),
        ("repro_snapshot sideways", r"Unknown action 'sideways'.*on\|off\|now\|show"),
        ("repro_snapshot on --max-bytes 0", r"--max-bytes 0 must be positive"),
        ("repro_snapshot show --vars a", r"Options go with on/now"),
        ("repro_baseline set", r"Which run\?"),
        ("repro_baseline set banana", r"not a run id"),
        ("repro_baseline clear 3", r"takes no run"),
        ("repro_baseline frobnicate", r"Unknown action 'frobnicate'"),
        ("repro_check acc 1/0", r"Cannot evaluate '1/0': ZeroDivisionError"),
        ("repro_check acc 1 --rtol -1", r"rtol=-1.0 must be a number >= 0"),
        ("repro_panel now", r"takes no arguments"),
        ("repro_verify x.ipynb --seeds 1,b", r"--seeds '1,b' must be integers"),
    ],
)
def test_bad_arguments_raise_usage_error(ip, line: str, message: str) -> None:
    name, _, rest = line.partition(" ")
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic(name, rest)


def test_snapshot_records_changed_values_per_cell(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, "import numpy as np\na = np.zeros(10)\nb = 1")
    run(ip, "c = 'text'")  # a and b untouched
    run(ip, "a[0] = 1.0")  # in place
    run(ip, "a[0] = 1.0")  # same content again
    cells = _cells(store_path)
    assert [sorted(c["values"]) for c in cells] == [["a", "b"], ["c"], ["a"], []]
    first_a, changed_a = cells[0]["values"]["a"], cells[2]["values"]["a"]
    assert first_a["hash"] != changed_a["hash"]
    assert first_a["shape"] == "(10,)" and "float64" in first_a["dtype"]
    assert all(c["status"] == "ok" and c["duration"] is not None for c in cells)
    assert {"python", "numpy"} <= set(cells[0]["rng"])
    assert [c["source"] for c in cells][1] == "c = 'text'"


def test_capture_off_records_nothing_and_on_resumes_same_run(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, "x = 1")
    ip.run_line_magic("repro_snapshot", "off")
    run(ip, "y = 2")
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, "z = 3")
    assert [sorted(c["values"]) for c in _cells(store_path)] == [["x"], ["z"]]


def test_vars_and_exclude_filters(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on --vars keep,other --exclude tmp*")
    run(ip, "keep = 1\ndrop = 2\ntmp_x = 3")
    assert sorted(_cells(store_path)[0]["values"]) == ["keep"]


def test_cell_magic_captures_one_cell_with_capture_off(ip, store_path: Path) -> None:
    run(ip, "before = 1")
    run(ip, "%%repro_snapshot\nw = [1, 2, 3]")
    run(ip, "after = 2")
    cells = _cells(store_path)
    assert len(cells) == 1 and sorted(cells[0]["values"]) == ["w"]


def test_snapshot_now_hashes_everything(ip, store_path: Path) -> None:
    run(ip, "p = 1\nq = {'k': [1, 2]}")
    snap = ip.run_line_magic("repro_snapshot", "now")
    assert {"p", "q"} <= set(snap.values)
    assert "q" in snap._repr_html_()
    cells = _cells(store_path)
    assert cells[-1]["status"] == "snapshot"


def test_errors_are_recorded_and_cells_still_raise_normally(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    result = ip.run_cell("raise ValueError('boom')")
    assert not result.success and isinstance(result.error_in_exec, ValueError)
    [cell] = _cells(store_path)
    assert (cell["status"], cell["error_name"], cell["error_value"]) == (
        "error",
        "ValueError",
        "boom",
    )


def test_capture_never_breaks_a_cell(ip, store_path: Path, recwarn) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    run(
        ip,
        "class Evil:\n"
        "    def __reduce__(self): raise RuntimeError('no pickling')\n"
        "    def __getattr__(self, name): raise RuntimeError('no attributes')\n"
        "    def __len__(self): raise RuntimeError('no len')\n"
        "evil = Evil()\nfine = 1",
    )
    cell = _cells(store_path)[0]
    assert cell["values"]["evil"]["hash"] is None and cell["values"]["evil"]["note"]
    assert cell["values"]["fine"]["hash"]


def test_files_read_and_written_are_recorded_with_sha256(
    ip, store_path: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    ip.run_line_magic("repro_snapshot", "on")
    run(
        ip,
        f"from pathlib import Path\ntext = Path({str(data)!r}).read_text()\n_ = Path('out.txt').write_text(text)",
    )
    files = {Path(f["path"]).name: f for f in _cells(store_path)[0]["files"]}
    assert files["data.csv"]["mode"] == "r"
    assert files["data.csv"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert files["out.txt"]["mode"] == "w"


def test_secrets_never_reach_the_store(ip, store_path: Path, tmp_path: Path, monkeypatch) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws)
    monkeypatch.setenv("OMP_NUM_THREADS", token)  # allow-listed name, secret-like value
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", f"https://oauth2:{token}@example.com/x.git"], check=True
    )
    (repo / "f.txt").write_text("x")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    monkeypatch.setenv("REPRO_NB_NOTEBOOK", str(repo / "nb.ipynb"))
    ip.run_line_magic("reload_ext", "repro_nb")
    from repro_nb.capture import recorder as rec

    old = rec.active_recorder()
    if old is not None:
        old.close()
    rec._ACTIVE = None
    ip.run_line_magic("reload_ext", "repro_nb")
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, "v = 1")
    _cells(store_path)
    store = Store(store_path)
    dump = "\n".join(store._conn.iterdump())
    assert "example.com/x.git" in dump  # the remote itself is recorded...
    assert token not in dump and aws not in dump  # ...never the credentials


def test_repro_nb_own_reads_are_not_the_cells_files(ip, store_path: Path, tmp_path: Path) -> None:
    """Git and environment capture run on the writer thread; its reads are not cell data."""
    internal, data = tmp_path / "HEAD", tmp_path / "d.txt"
    internal.write_text("ref: refs/heads/main")
    data.write_text("data")
    ip.run_line_magic("repro_snapshot", "on")
    run(
        ip,
        "import threading\nfrom pathlib import Path\nfrom repro_nb.capture.recorder import active_recorder\n"
        "done = threading.Event()\n"
        f"active_recorder()._writer.submit(lambda: (Path({str(internal)!r}).read_text(), done.set()))\n"
        f"assert done.wait(10)\ntext = Path({str(data)!r}).read_text()",
    )
    # recorded relative to the notebook's folder (here the working directory)
    assert [f["path"] for f in _cells(store_path)[0]["files"]] == [data.name]


def test_rebinding_by_a_called_function_is_recorded(ip, store_path: Path) -> None:
    """Cells that run code get the full identity scan, so `f()` rebinding a global is seen."""
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, "def f():\n    global g\n    g = 5\ng = 1")
    run(ip, "f()")
    run(ip, "h = 2")  # no call: only h is looked at, and g is unchanged anyway
    cells = _cells(store_path)
    assert sorted(cells[1]["values"]) == ["g"] and sorted(cells[2]["values"]) == ["h"]
