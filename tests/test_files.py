"""FileTracker and sha256_file on real files through the real 'open' audit hook."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repro_nb.capture import files
from repro_nb.capture.files import (
    FileRecord,
    FileTracker,
    sha256_cache_clear,
    sha256_cache_info,
    sha256_file,
)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _age(p: Path, seconds: float = 10.0) -> None:
    """Move the mtime into the past, out of the racy window where digests are not cached."""
    t = time.time() - seconds
    os.utime(p, (t, t))


def _by_path(records: list[FileRecord]) -> dict[str, FileRecord]:
    return {r.path: r for r in records}


def test_reads_through_every_api_and_writes_are_recorded(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("hello\n")
    csv = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(csv, index=False)
    npy = tmp_path / "a.npy"
    np.save(npy, np.arange(4))
    text = tmp_path / "notes.md"
    text.write_text("# notes")
    out = tmp_path / "out" / "result.txt"
    out.parent.mkdir()

    ft = FileTracker(root=tmp_path)
    ft.start()
    assert ft.active
    with open(plain) as f:
        f.read()
    pd.read_csv(csv)
    np.load(npy)
    text.read_text()
    with open(out, "w") as f:
        f.write("written in the cell")
    records = ft.stop()
    assert not ft.active

    got = _by_path(records)
    assert set(got) == {str(p) for p in (plain, csv, npy, text, out)}
    for p in (plain, csv, npy, text):
        r = got[str(p)]
        assert r.mode == "r" and r.sha256 == _sha(p) and r.size == p.stat().st_size
        assert r.mtime_ns == p.stat().st_mtime_ns
    w = got[str(out)]
    assert (
        w.mode == "w" and w.sha256 == _sha(out) and w.relpath == os.path.join("out", "result.txt")
    )
    assert records == ft.records and w.to_dict()["mode"] == "w"


def test_modes_are_merged_and_os_open_flags_understood(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"x")
    b = tmp_path / "b.bin"
    c = tmp_path / "c.bin"
    c.write_bytes(b"c")
    d = tmp_path / "d.bin"
    d.write_bytes(b"d")
    with FileTracker() as ft:
        a.read_bytes()
        a.write_bytes(b"y")  # read then written: rw
        os.close(os.open(b, os.O_WRONLY | os.O_CREAT))
        os.close(os.open(c, os.O_RDONLY))
        with open(d, "r+b") as f:
            f.read()
    got = {Path(r.path).name: r.mode for r in ft.records}
    assert got == {"a.bin": "rw", "b.bin": "w", "c.bin": "r", "d.bin": "rw"}


def test_relative_paths_are_resolved_against_the_cwd_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel.txt").write_text("r")
    monkeypatch.chdir(tmp_path / "sub")
    with FileTracker(root=tmp_path) as ft:
        Path("rel.txt").read_text()
        os.chdir(tmp_path)  # a cell that changes directory afterwards
    assert [(r.path, r.relpath) for r in ft.records] == [
        (str(tmp_path / "sub" / "rel.txt"), os.path.join("sub", "rel.txt"))
    ]


def test_noise_is_filtered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg_dir = tmp_path / "mods"
    pkg_dir.mkdir()
    (pkg_dir / "tmp_mod_for_repro_test.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(pkg_dir))
    store = tmp_path / ".repro"
    store.mkdir()
    (store / "x.json").write_text("{}")
    data = tmp_path / "data.txt"
    data.write_text("d")
    with FileTracker(ignore=["*.log"]) as ft:
        mod = importlib.import_module("tmp_mod_for_repro_test")
        assert mod.VALUE == 41
        importlib.import_module("json.tool")  # stdlib import
        (store / "x.json").read_text()
        with open(tmp_path / "run.log", "w") as f:
            f.write("log")
        with contextlib.suppress(FileNotFoundError):
            open(tmp_path / "missing.txt").close()
        scratch = tmp_path / "scratch.tmp"
        scratch.write_text("gone")
        scratch.unlink()  # does not exist after the cell
        os.close(os.open(tmp_path, os.O_RDONLY))  # a directory
        with open(os.devnull) as f:
            f.read()
        data.read_text()
    sys.modules.pop("tmp_mod_for_repro_test", None)
    assert [r.path for r in ft.records] == [str(data)]


def test_nothing_is_recorded_outside_start_stop(tmp_path: Path) -> None:
    p = tmp_path / "f.txt"
    p.write_text("f")
    ft = FileTracker()
    ft.start()
    ft.stop()
    p.read_text()
    assert ft.stop() == []
    # deactivate() stops every tracker at once; the hook stays installed
    ft2 = FileTracker()
    ft2.start()
    files.deactivate()
    p.read_text()
    assert ft2.stop() == [] and files.hook_installed()


def test_two_trackers_both_record(tmp_path: Path) -> None:
    p = tmp_path / "f.txt"
    p.write_text("f")
    q = tmp_path / "g.txt"
    q.write_text("g")
    outer = FileTracker()
    outer.start()
    with FileTracker() as inner:
        p.read_text()
    q.read_text()
    assert [r.path for r in inner.records] == [str(p)]
    assert [r.path for r in outer.stop()] == [str(p), str(q)]


def test_sha256_file_streams_and_caches_by_stat(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 2**20 + 123))  # several 1 MiB chunks plus a tail
    _age(big)
    sha256_cache_clear()
    assert sha256_file(big) == _sha(big)
    assert sha256_cache_info() == (0, 1, 1)
    assert sha256_file(big) == _sha(big)
    assert sha256_cache_info().hits == 1
    with open(big, "r+b") as f:  # same size, new content and mtime
        f.write(b"\0" * 10)
    _age(big, 5)
    assert sha256_file(big) == _sha(big)
    assert sha256_cache_info()[:2] == (1, 2)
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"new")  # modified just now: hashed, but not cached (racy window)
    sha256_file(fresh)
    sha256_file(fresh)
    assert sha256_cache_info().misses == 4
    with pytest.raises(OSError):
        sha256_file(tmp_path / "nope")


def test_max_hash_bytes_skips_with_a_note(tmp_path: Path) -> None:
    p = tmp_path / "large.bin"
    p.write_bytes(b"x" * 5000)
    with FileTracker(max_hash_bytes=1000) as ft:
        p.read_bytes()
    (r,) = ft.records
    assert r.sha256 is None and r.size == 5000 and "max_hash_bytes" in (r.note or "")


def test_module_reload_keeps_a_single_hook(tmp_path: Path) -> None:
    p = tmp_path / "once.txt"
    p.write_text("1")
    with FileTracker():
        pass  # make sure the hook exists before the reload
    state = sys._repro_nb_file_audit
    reloaded = importlib.reload(files)
    assert sys._repro_nb_file_audit is state and state["installed"]
    with reloaded.FileTracker() as ft:
        p.read_text()
    assert [r.path for r in ft.records] == [str(p)]
    seen: list[object] = []
    probe = reloaded.FileTracker()
    probe.start()
    p.read_text()
    seen.extend(probe._events or [])
    probe.stop()
    assert len(seen) == 1  # one event: the old hook and the new callback are not doubled
