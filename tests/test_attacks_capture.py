"""Attacks on capture: user objects that raise anything, interrupts, big containers, moved folders.

Each test drives a real InteractiveShell (the ``ip`` fixture) with the smallest sizes that show
the problem. The expected outcome is always the same: the user's cell runs normally, capture
warns once per cause and keeps recording every later cell, at its usual cost.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from nbhelpers import recorded_cells as _cells
from nbhelpers import run_ok as run

from repro_nb.capture.recorder import active_recorder
from repro_nb.capture.sampling import ITEMS_SAMPLED_OVER
from repro_nb.store import Store

EXCEPTIONS = ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "RuntimeError"]
METHODS = {
    "__reduce_ex__": "def __reduce_ex__(self, protocol):\n        raise {exc}('boom')",
    "__getattribute__": "def __getattribute__(self, name):\n        raise {exc}('boom')",
    "__len__": "def __len__(self):\n        raise {exc}('boom')",
}


@pytest.mark.parametrize("exc", EXCEPTIONS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_value_raising_anything_is_contained_and_capture_goes_on(
    ip, store_path: Path, capfd: pytest.CaptureFixture[str], exc: str, method: str
) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    base = "list" if method == "__len__" else "object"
    body = METHODS[method].format(exc=exc)
    run(ip, f"class Evil({base}):\n    {body}\nevil = Evil()\nkeep = 1")
    run(ip, "pair = (evil, 1)")  # named again: hashed again (inside a tuple), still contained
    t0 = time.perf_counter()
    run(ip, "x = 1")
    took = time.perf_counter() - t0
    run(ip, "y = 2")
    cells = _cells(store_path)
    # nothing was reset: the trivial cells record only what they made (an interrupt stops a
    # cell's hashing there: the names it did not reach are recorded by the next cell)
    deferred = {"keep", "pair"} if exc == "KeyboardInterrupt" else set()
    assert [sorted(set(c["values"]) - deferred) for c in cells[2:]] == [["x"], ["y"]]
    values = {k: v for c in cells for k, v in c["values"].items()}
    assert {"evil", "keep", "pair", "x", "y"} <= set(values)
    evil, pair = values["evil"], values["pair"]
    err = capfd.readouterr().err
    if method == "__len__":  # list content is read with list's own methods: no user code runs
        assert evil["hash"] is not None and pair["hash"] is not None and evil["shape"] is None
        assert "repro_nb" not in err
    elif exc == "RuntimeError" and method == "__reduce_ex__":  # plainly not picklable:
        assert evil["hash"] is None and exc in (evil["note"] or "")  # noted, as always
        assert pair["hash"] is not None and pair["partial"]  # the rest of the tuple counts
        assert "repro_nb" not in err
    else:
        assert evil["hash"] is None and exc in (evil["note"] or "") and pair["hash"] is None
        assert err.count("repro_nb: variable capture") == 1, err
    assert "Error in callback" not in err
    assert took < 0.5  # was 1.2-1.8 s per trivial cell once capture had reset


def test_an_interrupt_names_not_reached_are_hashed_at_the_next_cell(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    src = "class Stop:\n    def __reduce_ex__(self, p):\n        raise KeyboardInterrupt\n"
    run(ip, src + "a0 = Stop()\n" + "\n".join(f"v{i} = [{i}]" for i in range(20)))
    run(ip, "x = 1")
    cells = _cells(store_path)
    seen = set(cells[0]["values"]) | set(cells[1]["values"])
    assert {f"v{i}" for i in range(20)} <= seen and "x" in seen
    assert any("interrupted" in w for w in cells[0]["warnings"])


def test_an_interrupt_outside_hashing_prints_no_callback_traceback(
    ip, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    recorder = active_recorder()
    assert recorder is not None

    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(recorder, "record", interrupted)
    run(ip, "x = 1")
    run(ip, "x = 2")
    err = capfd.readouterr().err
    assert "Error in callback" not in err and "Traceback" not in err
    assert err.count("interrupted") == 1, err
    monkeypatch.undo()
    run(ip, "y = 3")
    assert recorder.last_cell is not None and recorder.last_cell["source"] == "y = 3"


def test_past_the_time_budget_values_are_bounded_and_the_record_says_which(ip) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    recorder = active_recorder()
    assert recorder is not None
    recorder.options.hash_budget = 0.0  # spent before the first value
    run(ip, "a = list(range(5000))\nb = 'text'")
    record = recorder.last_cell
    assert record is not None
    values = {v["name"]: v for v in record["values"]}
    assert values["a"]["partial"] and "time budget" in values["a"]["note"]
    assert values["a"]["hash"] is not None
    assert any("budget" in w and "a" in w for w in record["warnings"])


def test_a_change_at_the_last_key_of_a_big_dict_is_seen(ip, store_path: Path) -> None:
    n = ITEMS_SAMPLED_OVER + 1  # the smallest dict that is sampled
    ip.run_line_magic("repro_snapshot", "on")
    run(ip, f"d = {{i: i for i in range({n})}}\nbig = list(range({n}))")
    run(ip, f"d[{n - 1}] = -5")
    run(ip, "d[0] = -5")
    run(ip, f"big[{n - 1}] = -5")
    run(ip, "print(len(big), len(d))")  # named, unchanged: not reported
    cells = _cells(store_path)
    assert [sorted(c["values"]) for c in cells] == [["big", "d"], ["d"], ["d"], ["big"], []]
    hashes = [cells[i]["values"]["d"]["hash"] for i in range(3)]
    assert len(set(hashes)) == 3
    assert cells[0]["values"]["d"]["partial"] and "seeded" in cells[0]["values"]["d"]["note"]


def test_files_are_recorded_relative_to_the_project_and_survive_a_move(
    ip, store_path: Path, tmp_path: Path
) -> None:
    from repro_nb.bundle import normalize_files

    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)  # the project root: a git working tree
    (project / "data").mkdir()
    (project / "data" / "x.csv").write_text("1,2\n")
    (project / "nb").mkdir()
    recorder = active_recorder()
    assert recorder is not None
    recorder.notebook_file = str(project / "nb" / "analysis.ipynb")
    ip.run_line_magic("repro_snapshot", "on")
    path = str(project / "data" / "x.csv")
    run(ip, f"with open({path!r}) as fh:\n    text = fh.read()")
    recorder.flush()
    [row] = Store(store_path).query("SELECT path, abspath FROM files")
    # relative to the notebook's folder (inside the project); the absolute path is a hint
    assert row == {"path": "../data/x.csv", "abspath": str(project / "data" / "x.csv")}
    moved = tmp_path / "elsewhere" / "proj"
    moved.parent.mkdir()
    project.rename(moved)
    [f] = normalize_files(_cells(store_path)[0]["files"], moved / "nb", moved)
    assert f["path"] == "../data/x.csv" and Path(f["abspath"]).read_text() == "1,2\n"


@pytest.mark.parametrize("exc", ["SystemExit", "RuntimeError"])
def test_a_config_that_raises_anything_is_contained(
    ip, store_path: Path, capfd: pytest.CaptureFixture[str], exc: str
) -> None:
    """A value bound to a config name (``cfg``) is read as a config: it may raise anything."""
    ip.run_line_magic("repro_snapshot", "on")
    run(
        ip,
        f"class Evil:\n    def __getattribute__(self, name):\n        raise {exc}('boom')\n"
        "cfg = Evil()\nparams = {'lr': 0.1}",
    )
    run(ip, "x = 1")
    cells = _cells(store_path)
    assert "x" in cells[-1]["values"]  # capture went on
    recorder = active_recorder()
    assert recorder is not None
    configs = recorder.store.configs(recorder.session_id or 0)
    assert [(c["name"], c["data"]) for c in configs] == [("params", {"lr": 0.1})]
    err = capfd.readouterr().err
    assert err.count("repro_nb: config capture") <= 1
