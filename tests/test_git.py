"""capture.git against real repositories made with `git init` in temp folders."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from repro_nb.capture.git import capture_git, find_repo_root, read_head, read_head_ref

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Repro Test",
    "GIT_AUTHOR_EMAIL": "repro@example.com",
    "GIT_COMMITTER_NAME": "Repro Test",
    "GIT_COMMITTER_EMAIL": "repro@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}

GITLAB_TOKEN = "glpat-Zq8xV3mN2pR7sT1uW4yB"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PASSWORD = "s3cr3t-Passw0rd-xyz"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "analysis.py").write_text("x = 1\ny = 2\n")
    (root / "data.csv").write_text("a,b\n1,2\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_clean_repo(repo: Path) -> None:
    info = capture_git(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert info["status"] == "clean"
    assert info["dirty"] is False
    assert info["commit"] == head
    assert info["branch"] == "main"
    assert info["detached"] is False
    assert info["repo_root"] == str(repo)
    assert info["untracked"] == [] and info["modified"] == []
    assert info["diff"] == "" and info["diff_truncated"] is False
    assert info["remote"] is None and info["remotes"] == {}
    assert info["note"] is None
    json.dumps(info)  # JSON-ready
    assert read_head(repo) == head
    assert read_head_ref(repo / "analysis.py") == (head, "main")


def test_dirty_tracked_file_has_diff(repo: Path) -> None:
    (repo / "analysis.py").write_text("x = 1\ny = 3\n")
    info = capture_git(repo)
    assert info["status"] == "dirty"
    assert info["dirty"] is True
    assert info["modified"] == ["analysis.py"]
    assert "-y = 2" in info["diff"] and "+y = 3" in info["diff"]
    assert info["diff_truncated"] is False


def test_staged_change_is_dirty(repo: Path) -> None:
    (repo / "data.csv").write_text("a,b\n1,5\n")
    git(repo, "add", "data.csv")
    info = capture_git(repo)
    assert info["dirty"] is True
    assert "+1,5" in info["diff"]


def test_cache_is_per_head_and_index_and_refresh_rereads(repo: Path) -> None:
    assert capture_git(repo)["status"] == "clean"
    # Editing a tracked file touches neither HEAD nor the index: the cached answer stands...
    (repo / "analysis.py").write_text("changed\n")
    assert capture_git(repo)["status"] == "clean"
    # ...until asked to refresh (export does), or the index changes.
    assert capture_git(repo, refresh=True)["status"] == "dirty"
    git(repo, "add", "analysis.py")
    git(repo, "commit", "-q", "-m", "second")
    info = capture_git(repo)
    assert info["status"] == "clean"
    assert info["commit"] == git(repo, "rev-parse", "HEAD")


def test_untracked_listed_and_capped(repo: Path) -> None:
    for i in range(5):
        (repo / f"new{i}.txt").write_text(str(i))
    (repo / "sub").mkdir()
    (repo / "sub" / "inner.txt").write_text("x")
    # repro_nb's own store and Jupyter checkpoints are never reported.
    (repo / ".repro").mkdir()
    (repo / ".repro" / "repro.sqlite").write_bytes(b"x")
    (repo / ".ipynb_checkpoints").mkdir()
    (repo / ".ipynb_checkpoints" / "nb-checkpoint.ipynb").write_text("{}")
    info = capture_git(repo)
    assert info["status"] == "clean"  # untracked files are listed, not counted as dirty
    assert info["dirty"] is False
    assert sorted(info["untracked"]) == [*(f"new{i}.txt" for i in range(5)), "sub/"]
    assert info["untracked_truncated"] is False
    capped = capture_git(repo, max_untracked=3, refresh=True)
    assert len(capped["untracked"]) == 3
    assert capped["untracked_truncated"] is True


def test_diff_is_capped_at_a_line_end(repo: Path) -> None:
    (repo / "analysis.py").write_text("".join(f"line {i}\n" for i in range(5000)))
    info = capture_git(repo, max_diff_bytes=2000)
    assert info["dirty"] is True
    assert info["diff_truncated"] is True
    assert 0 < len(info["diff"].encode()) <= 2000
    assert info["diff"].endswith("\n")
    assert info["diff"].startswith("diff --git a/analysis.py b/analysis.py")


def test_detached_head(repo: Path) -> None:
    (repo / "analysis.py").write_text("v2\n")
    git(repo, "commit", "-q", "-am", "second")
    first = git(repo, "rev-parse", "HEAD~1")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture_git(repo)
    assert info["detached"] is True
    assert info["branch"] is None
    assert info["commit"] == first
    assert info["status"] == "clean"
    assert read_head(repo) == first


def test_no_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert find_repo_root(folder) is None
    info = capture_git(folder)
    assert info["status"] == "no repository"
    assert info["repo_root"] is None and info["commit"] is None and info["dirty"] is None
    assert str(folder) in info["note"]
    assert read_head(folder) is None


def test_unborn_branch(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "fresh")
    fresh = tmp_path / "fresh"
    (fresh / "a.txt").write_text("a")
    info = capture_git(fresh)
    assert info["repo_root"] == str(fresh)
    assert info["commit"] is None and info["branch"] == "main"
    assert info["untracked"] == ["a.txt"]
    assert "no commits yet" in info["note"]


def test_notebook_in_nested_folder_finds_root(repo: Path) -> None:
    nested = repo / "notebooks" / "exp1"
    nested.mkdir(parents=True)
    notebook = nested / "analysis.ipynb"
    notebook.write_text("{}")
    assert find_repo_root(notebook) == str(repo)
    info = capture_git(notebook)
    assert info["repo_root"] == str(repo)
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["untracked"] == ["notebooks/"]


def test_packed_refs_and_worktree(repo: Path, tmp_path: Path) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    head = git(repo, "rev-parse", "HEAD")
    assert read_head(repo) == head
    # A linked worktree has a .git *file* and shares refs with the main repository.
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert (wt / ".git").is_file()
    assert read_head_ref(wt) == (head, "feature")
    (wt / "analysis.py").write_text("in worktree\n")
    info = capture_git(wt)
    assert info["repo_root"] == str(wt)
    assert info["branch"] == "feature"
    assert info["dirty"] is True and "+in worktree" in info["diff"]
    assert capture_git(repo, refresh=True)["dirty"] is False


def test_remote_credentials_never_captured(repo: Path) -> None:
    git(repo, "remote", "add", "origin", f"https://oauth2:{GITLAB_TOKEN}@gitlab.com/team/proj.git")
    git(repo, "remote", "add", "gh", f"https://{GITHUB_TOKEN}@github.com/team/proj.git")
    git(repo, "remote", "add", "mirror", f"https://alice:{PASSWORD}@example.org/proj.git")
    git(repo, "remote", "add", "ssh", "git@github.com:team/proj.git")
    info = capture_git(repo)
    dumped = json.dumps(info)
    for secret in (GITLAB_TOKEN, GITHUB_TOKEN, PASSWORD, "oauth2", "alice"):
        assert secret not in dumped
    assert info["remote"] == "https://gitlab.com/team/proj.git"
    assert info["remotes"] == {
        "origin": "https://gitlab.com/team/proj.git",
        "gh": "https://github.com/team/proj.git",
        "mirror": "https://example.org/proj.git",
        "ssh": "git@github.com:team/proj.git",
    }


def test_branch_upstream_remote_is_the_remote(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://example.org/a.git")
    git(repo, "remote", "add", "upstream", "https://example.org/b.git")
    git(repo, "config", "branch.main.remote", "upstream")
    assert capture_git(repo)["remote"] == "https://example.org/b.git"


def test_tiny_timeout_says_unknown(repo: Path) -> None:
    (repo / "analysis.py").write_text("changed\n")
    info = capture_git(repo, timeout=0.000001)
    assert info["status"] == "unknown (timed out)"
    assert info["dirty"] is None
    assert info["commit"] == git(repo, "rev-parse", "HEAD")  # HEAD is still known
    assert "did not finish" in info["note"]
    # A later call with time to spare (refresh) gets the real answer.
    assert capture_git(repo, refresh=True)["status"] == "dirty"


def _fake_git(tmp_path: Path, body: str) -> str:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    script = bindir / "git"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{bindir}{os.pathsep}{os.environ['PATH']}"


def test_slow_git_is_killed_at_the_deadline(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _fake_git(tmp_path, "exec sleep 30"))
    start = time.monotonic()
    info = capture_git(repo, timeout=0.5)
    elapsed = time.monotonic() - start
    assert info["status"] == "unknown (timed out)"
    assert info["dirty"] is None
    assert elapsed < 5.0  # not 30 s: the process was killed (bound is loose on purpose)


def test_failing_git_reports_error_without_raising(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = 'echo "fatal: detected dubious ownership in repository" >&2\nexit 128'
    monkeypatch.setenv("PATH", _fake_git(tmp_path, body))
    info = capture_git(repo)
    assert info["status"] == "unknown (error)"
    assert info["dirty"] is None
    assert "dubious ownership" in info["note"]
    assert info["commit"] == read_head(repo)


def test_removed_repository_is_noticed(repo: Path) -> None:
    assert capture_git(repo)["repo_root"] == str(repo)
    assert read_head(repo) is not None
    shutil.rmtree(repo / ".git")
    assert capture_git(repo)["status"] == "no repository"
    assert read_head(repo) is None
