"""Capture the git state of a notebook's repository, time-boxed and without credentials.

``capture_git(path)`` returns the Git dict contract: commit, branch, detached HEAD, dirty
state, untracked files (capped), ``git diff HEAD`` (capped), and remotes with credentials
stripped. The dirty check and the diff run as ``git`` subprocesses under one deadline
(default 2 s): on a huge repository the answer is ``"unknown (timed out)"``, never a
blocked cell. Results are cached per (repository, HEAD, index mtime).

``read_head(path)`` reads the current commit in pure Python (~25 µs: ``.git/HEAD``, the
ref file or ``packed-refs``; worktrees and submodules, where ``.git`` is a file, included),
cheap enough to call after every cell.

Core module: no IPython. Every git call, the remotes included (``git config``), runs under the
same deadline in its own process group, killed as a whole when the deadline passes: a ``git``
that hangs (or a wrapper script whose child hangs) costs the deadline, not its own run time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any

from repro_nb.secrets import strip_url_credentials

__all__ = ["capture_git", "commit_diff_summary", "find_repo_root", "read_head", "read_head_ref"]

_SHA = re.compile(r"^[0-9a-f]{7,64}$")

#: Untracked or modified paths under these folders are repro_nb's own or Jupyter's files.
IGNORED_PARTS = frozenset({".repro", ".ipynb_checkpoints"})

NO_REPOSITORY = "no repository"
TIMED_OUT = "unknown (timed out)"
ERROR = "unknown (error)"

# --------------------------------------------------------------------------------------
# Pure-python repository discovery and HEAD
# --------------------------------------------------------------------------------------

# start folder -> (work tree root, git dir, common dir); repository layout rarely changes.
_LOCATE_MEMO: dict[str, tuple[str, str, str] | None] = {}


def _start_dir(path: str | os.PathLike[str] | None) -> str:
    p = os.path.abspath(os.fspath(path) if path is not None else os.getcwd())
    return p if os.path.isdir(p) else os.path.dirname(p)


def _gitdir_of(dotgit: str) -> str | None:
    """The git dir a ``.git`` entry points to (a folder, or a ``gitdir: X`` file)."""
    if os.path.isdir(dotgit):
        return dotgit
    try:
        with open(dotgit, encoding="utf-8") as f:
            line = f.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    target = line[len("gitdir:") :].strip()
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(dotgit), target)
    return os.path.normpath(target)


def _locate(path: str | os.PathLike[str] | None) -> tuple[str, str, str] | None:
    start = _start_dir(path)
    if start in _LOCATE_MEMO:
        return _LOCATE_MEMO[start]
    found = None
    cur = start
    while True:
        dotgit = os.path.join(cur, ".git")
        if os.path.lexists(dotgit):
            gitdir = _gitdir_of(dotgit)
            if gitdir and os.path.isfile(os.path.join(gitdir, "HEAD")):
                common = gitdir
                try:  # linked worktrees keep shared refs in the main repository
                    with open(os.path.join(gitdir, "commondir"), encoding="utf-8") as f:
                        rel = f.read().strip()
                    common = os.path.normpath(os.path.join(gitdir, rel))
                except OSError:
                    pass
                found = (cur, gitdir, common)
                break
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    # Memoise hits only: a folder may become a repository later (git init).
    if found is not None:
        _LOCATE_MEMO[start] = found
    return found


def find_repo_root(path: str | os.PathLike[str] | None = None) -> str | None:
    """The work-tree root of the repository holding ``path``, searching parent folders.

    Parameters
    ----------
    path
        A file or folder (the notebook, usually); ``None`` means the current directory.

    Returns
    -------
    str or None
        Absolute root folder, or ``None`` outside any repository.
    """
    found = _locate(path)
    return found[0] if found else None


def _read_ref(gitdir: str, common: str, ref: str) -> str | None:
    for base in (gitdir, common) if gitdir != common else (gitdir,):
        try:
            with open(os.path.join(base, ref), "rb") as f:
                value = f.read().decode("ascii", "replace").strip()
        except OSError:
            continue
        if value.startswith("ref:"):  # symbolic ref to another ref
            return _read_ref(gitdir, common, value[4:].strip())
        return value or None
    try:
        with open(os.path.join(common, "packed-refs"), encoding="ascii", errors="replace") as f:
            for line in f:
                if line.endswith(" " + ref + "\n") or line.rstrip("\n").endswith(" " + ref):
                    return line.split(" ", 1)[0]
    except OSError:
        pass
    return None


# Raw ``path`` argument -> _locate() result, so the per-cell read_head skips abspath/isdir.
_FAST_MEMO: dict[Any, tuple[str, str, str]] = {}


def read_head_ref(path: str | os.PathLike[str] | None = None) -> tuple[str | None, str | None]:
    """Current commit and branch, in pure Python.

    Parameters
    ----------
    path
        A file or folder inside the repository; ``None`` means the current directory.

    Returns
    -------
    tuple
        ``(commit, branch)``: commit is ``None`` outside a repository or on an unborn
        branch; branch is ``None`` when HEAD is detached.
    """
    memo_key = path if path is not None else os.getcwd()
    for attempt in (0, 1):
        found = _FAST_MEMO.get(memo_key) if attempt == 0 else _locate(path)
        if found is None:
            if attempt == 0:
                continue
            return None, None
        _, gitdir, common = found
        try:
            with open(os.path.join(gitdir, "HEAD"), "rb") as f:  # binary: ~5 µs cheaper
                head = f.read().decode("ascii", "replace").strip()
        except OSError:
            _FAST_MEMO.pop(memo_key, None)  # the repository moved or was deleted
            _LOCATE_MEMO.clear()
            continue
        _FAST_MEMO[memo_key] = found
        if head.startswith("ref:"):
            ref = head[4:].strip()
            branch = ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
            return _read_ref(gitdir, common, ref), branch
        return (head or None), None
    return None, None


def read_head(path: str | os.PathLike[str] | None = None) -> str | None:
    """The commit HEAD points to, read in pure Python (~25 µs; call it per cell).

    Parameters
    ----------
    path
        A file or folder inside the repository; ``None`` means the current directory.

    Returns
    -------
    str or None
        The 40-hex commit id, or ``None`` outside a repository or before the first commit.
    """
    return read_head_ref(path)[0]


# --------------------------------------------------------------------------------------
# Time-boxed git subprocesses
# --------------------------------------------------------------------------------------


class _GitOutput:
    """What one time-boxed ``git`` run gave: exit code, (capped) stdout, and why it stopped."""

    __slots__ = ("error", "out", "rc", "timed_out", "truncated")

    def __init__(self) -> None:
        self.rc: int | None = None
        self.out = b""
        self.truncated = False
        self.timed_out = False
        self.error: str | None = None


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # We name the repository with -C; a user's GIT_DIR etc. must not redirect us.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        env.pop(name, None)
    env["GIT_OPTIONAL_LOCKS"] = "0"  # status must not take index.lock under the user's feet
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def _run_git(root: str, args: list[str], deadline: float, max_bytes: int | None) -> _GitOutput:
    """Run ``git -C root ARGS`` until ``deadline`` (time.monotonic), keeping at most
    ``max_bytes`` of stdout; the process is killed on timeout or once the cap is hit."""
    res = _GitOutput()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        res.timed_out = True
        return res
    cap = max_bytes if max_bytes is not None else 1 << 62
    try:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                ["git", "-C", root, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=_git_env(),
                # Its own process group, so a kill reaches git's children too (hooks, a
                # wrapper script's child): they hold the pipe open otherwise.
                start_new_session=os.name == "posix",
            )

            def kill() -> None:
                if os.name == "posix":
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                        return
                    except OSError:
                        pass  # already gone; proc.kill below is harmless
                proc.kill()

            chunks: list[bytes] = []

            def reader() -> None:
                assert proc.stdout is not None
                size = 0
                while True:
                    chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
                    if not chunk:
                        return
                    if size + len(chunk) > cap:
                        chunks.append(chunk[: cap - size])
                        res.truncated = True
                        kill()  # no point producing a 100 GB patch
                        return
                    chunks.append(chunk)
                    size += len(chunk)

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                res.timed_out = True
                kill()
                t.join(0.2)
            try:
                res.rc = proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                res.rc = None
            if proc.stdout is not None:
                proc.stdout.close()
            res.out = b"".join(chunks)
            if res.rc not in (0, None) and not res.truncated and not res.timed_out:
                err.seek(0)
                msg = err.read(400).decode("utf-8", "replace").strip().splitlines()
                res.error = msg[0] if msg else f"git exited with {res.rc}"
    except (OSError, ValueError) as exc:
        res.error = f"could not run git: {exc}"
    return res


def _ignored(path: str) -> bool:
    return any(part in IGNORED_PARTS for part in path.split("/"))


def _parse_status(out: bytes) -> tuple[list[str], list[str]]:
    """(modified tracked paths, untracked paths) from ``git status --porcelain -z``."""
    modified: list[str] = []
    untracked: list[str] = []
    items = out.split(b"\0")
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if len(item) < 4:
            continue
        code, path = item[:2], item[3:].decode("utf-8", "replace")
        if code in (b"R ", b"C ") or code[:1] in (b"R", b"C"):
            i += 1  # renames and copies carry the source path as the next item
        if _ignored(path):
            continue
        if code == b"??":
            untracked.append(path)
        elif code != b"!!":
            modified.append(path)
    return modified, untracked


# --------------------------------------------------------------------------------------
# capture_git
# --------------------------------------------------------------------------------------

_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}


def _empty(status: str, note: str | None = None) -> dict[str, Any]:
    return {
        "repo_root": None,
        "commit": None,
        "branch": None,
        "detached": False,
        "dirty": None,
        "status": status,
        "untracked": [],
        "untracked_truncated": False,
        "modified": [],
        "diff": "",
        "diff_truncated": False,
        "remote": None,
        "remotes": {},
        "note": note,
    }


def _remotes(
    root: str, branch: str | None, deadline: float
) -> tuple[dict[str, str], str | None, str | None]:
    """Remotes (credentials stripped), the branch's remote URL, and a note on failure.

    Read with ``git config`` under the capture's deadline (GitPython ran ``git`` without
    one, at import and for every remote's URL).
    """
    pattern = r"^(remote\..*\.url|branch\..*\.remote)$"
    res = _run_git(root, ["config", "-z", "--get-regexp", pattern], deadline, 1_000_000)
    if res.timed_out:
        return {}, None, "remotes not read: the time box was spent"
    # git config exits 1 when nothing matches (no remote at all): not an error.
    if res.error and res.rc != 1:
        return {}, None, f"remotes not read: {res.error}"
    remotes: dict[str, str] = {}
    upstream: str | None = None
    for entry in res.out.decode("utf-8", "replace").split("\0"):
        key, _, value = entry.partition("\n")
        if key.startswith("remote.") and key.endswith(".url"):
            remotes.setdefault(key[len("remote.") : -len(".url")], strip_url_credentials(value))
        elif branch and key == f"branch.{branch}.remote":
            upstream = value
    chosen: str | None
    if upstream is not None and upstream in remotes:
        chosen = remotes[upstream]
    elif "origin" in remotes:
        chosen = remotes["origin"]
    else:
        chosen = remotes[sorted(remotes)[0]] if remotes else None
    return remotes, chosen, None


def _index_mtime(gitdir: str) -> int:
    try:
        return os.stat(os.path.join(gitdir, "index")).st_mtime_ns
    except OSError:
        return -1


def capture_git(
    path: str | os.PathLike[str] | None = None,
    *,
    timeout: float = 2.0,
    max_diff_bytes: int = 1_000_000,
    max_untracked: int = 1000,
    refresh: bool = False,
) -> dict[str, Any]:
    """Capture the git state of the repository holding ``path`` (the Git dict contract).

    Parameters
    ----------
    path
        The notebook file or its folder; the repository root is searched in parent
        folders. ``None`` means the current directory.
    timeout
        Seconds allowed for the dirty check and the diff together. When they do not finish,
        ``status`` is ``"unknown (timed out)"`` and ``dirty`` is ``None``.
    max_diff_bytes
        Cap on ``git diff HEAD``; a longer patch is cut at a line end and
        ``diff_truncated`` is set.
    max_untracked
        Cap on the ``untracked`` and ``modified`` lists.
    refresh
        Ignore the cache (kept per repository, HEAD and index mtime; an edit to a tracked
        file does not touch the index, so pass ``refresh=True`` at export time).

    Returns
    -------
    dict
        ``repo_root``, ``commit``, ``branch``, ``detached``, ``dirty`` (tracked changes;
        untracked files are listed separately), ``status`` (``"clean"``, ``"dirty"``,
        ``"unknown (timed out)"``, ``"unknown (error)"`` or ``"no repository"``),
        ``untracked``, ``untracked_truncated``, ``modified``, ``diff``, ``diff_truncated``,
        ``remote``, ``remotes`` (credentials always stripped) and ``note`` (why something
        is missing, or ``None``). Never raises.
    """
    try:
        return _capture_git(path, timeout, max_diff_bytes, max_untracked, refresh)
    except Exception as exc:  # capture must never break a cell
        return _empty(ERROR, f"git capture failed: {type(exc).__name__}: {exc}")


def _capture_git(
    path: str | os.PathLike[str] | None,
    timeout: float,
    max_diff_bytes: int,
    max_untracked: int,
    refresh: bool,
) -> dict[str, Any]:
    deadline = time.monotonic() + max(0.0, timeout)
    found = _locate(path)
    if found is not None and not os.path.isfile(os.path.join(found[1], "HEAD")):
        _LOCATE_MEMO.clear()  # the repository was removed or moved since it was memoised
        _FAST_MEMO.clear()
        found = _locate(path)
    if found is None:
        return _empty(NO_REPOSITORY, f"{_start_dir(path)} is not inside a git repository")
    root, gitdir, _ = found
    commit, branch = read_head_ref(root)
    key = (root, commit, branch, _index_mtime(gitdir), max_diff_bytes, max_untracked)
    if not refresh and key in _CACHE:
        return _copy(_CACHE[key])

    out = _empty(ERROR)
    out.update(repo_root=root, commit=commit, branch=branch, detached=branch is None)
    notes: list[str] = []
    if commit is None and branch is not None:
        notes.append(f"branch {branch} has no commits yet")

    status = _run_git(
        root,
        ["status", "--porcelain=v1", "-z", "--untracked-files=normal", "--no-renames"],
        deadline,
        None,
    )
    if status.timed_out:
        out["status"] = TIMED_OUT
        notes.append(f"git status did not finish within {timeout:g} s")
    elif status.error:
        notes.append(f"git status failed: {status.error}")
    else:
        modified, untracked = _parse_status(status.out)
        out["dirty"] = bool(modified)
        out["status"] = "dirty" if modified else "clean"
        out["modified"] = modified[:max_untracked]
        out["untracked"] = untracked[:max_untracked]
        out["untracked_truncated"] = len(untracked) > max_untracked
        if modified and commit is not None:
            diff = _run_git(
                root,
                ["diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"],
                deadline,
                max_diff_bytes,
            )
            data = diff.out
            if diff.truncated or diff.timed_out:
                cut = data.rfind(b"\n")
                data = data[: cut + 1] if cut >= 0 else b""
                out["diff_truncated"] = True
                if diff.timed_out:
                    notes.append(f"git diff did not finish within {timeout:g} s")
            elif diff.error:
                notes.append(f"git diff failed: {diff.error}")
            out["diff"] = data.decode("utf-8", "replace")

    remotes, remote, note = _remotes(root, branch, deadline)
    out["remotes"] = remotes
    out["remote"] = remote
    if note:
        notes.append(note)
    out["note"] = "; ".join(notes) or None
    _CACHE[key] = out
    return _copy(out)


def _copy(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    out["untracked"] = list(d["untracked"])
    out["modified"] = list(d["modified"])
    out["remotes"] = dict(d["remotes"])
    return out


def commit_diff_summary(
    path: str | os.PathLike[str] | None, before: str, after: str, *, timeout: float = 5.0
) -> dict[str, Any] | None:
    """What changed between two commits of the repository holding ``path``.

    Returns
    -------
    dict or None
        ``{"commits": N, "files": [{"path", "added", "deleted"}], "truncated": bool}`` (``N``
        commits from ``before`` to ``after``; ``None`` when ``after`` is not a descendant),
        or ``None`` when there is no repository or either commit is not in it (a colleague's
        commit never fetched here, a repository moved away).
    """
    found = _locate(path)
    if found is None or not _SHA.match(before or "") or not _SHA.match(after or ""):
        return None
    root = found[0]
    deadline = time.monotonic() + timeout
    stat = _run_git(
        root, ["diff", "--numstat", "--no-renames", "--no-color", before, after], deadline, 1 << 20
    )
    if stat.error or stat.timed_out or stat.rc not in (0, None):
        return None
    files = []
    for line in stat.out.decode("utf-8", "replace").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            added, deleted, name = parts
            files.append(
                {
                    "path": name,
                    "added": int(added) if added.isdigit() else None,  # "-": binary
                    "deleted": int(deleted) if deleted.isdigit() else None,
                }
            )
    count = _run_git(root, ["rev-list", "--count", f"{before}..{after}"], deadline, 4096)
    text = count.out.decode().strip()
    behind = _run_git(root, ["merge-base", "--is-ancestor", before, after], deadline, 4096)
    commits = int(text) if text.isdigit() and behind.rc == 0 else None
    return {"commits": commits, "files": files[:200], "truncated": len(files) > 200}
