"""The sidebar's contract with the server: every reply keeps the shape the TypeScript side reads.

This test fetches each endpoint the sidebar calls on a realistic recorded store (two runs, seeded,
with checks, configuration, two commits of a small git repository, an environment change, a
divergent and a failing cell; plus a notebook with nothing recorded, whose replies are mostly
``null``) and compares the replies by SHAPE (keys and JSON
types, recursively; values may differ) with the committed fixture
``labextension/src/__tests__/fixtures/replies.json``. The jest test ``contract.spec.ts`` loads the
same fixture, assigns each reply to its reply type of ``src/tokens.ts`` (so tsc checks it) and
checks at runtime that every required key of those interfaces is there with the right JSON type.
A server change that breaks the sidebar therefore fails here (the shape moved) or there (the
regenerated fixture no longer fits ``tokens.ts``).

Regenerate the fixture after an intended change of a reply, then run ``jlpm test``::

    REPRO_NB_UPDATE_CONTRACT=1 python -m pytest tests/lab/test_contract.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from repro_nb.seeding import SeedConfig, SeedEffect, SeedReport
from repro_nb.server.jobs import JobManager

from .records import ENV_BEFORE, env_after, record_run

FIXTURE = Path(__file__).resolve().parents[2] / ("labextension/src/__tests__/fixtures/replies.json")
UPDATE_VARIABLE = "REPRO_NB_UPDATE_CONTRACT"

NOTEBOOK = "work/analysis.ipynb"
SOURCES = [
    "%load_ext repro_nb\n%repro_seed 42",
    "import numpy as np\nx = np.random.default_rng(0).normal(size=100)",
    "repro_nb.check('mean', float(x.mean()))",
    "raise ValueError('boom')",
]

# Stands in for `repro-nb KIND NB --progress json`: the same protocol (JSON progress on
# stderr, the result as JSON on stdout) without starting kernels.
FAKE_JOB = r"""
import json, os, sys, zipfile
kind, nb = sys.argv[1], sys.argv[2]
print(json.dumps({"progress": 0.5, "message": "halfway"}), file=sys.stderr, flush=True)
if kind == "export":
    out = sys.argv[sys.argv.index("--output") + 1]
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("notebook.ipynb", open(nb).read())
    print(json.dumps({"bundle": os.path.basename(out), "executed": False, "job_warnings": []}))
else:
    print(json.dumps({"verdict": "reproduced", "reason": "4 cells match", "job_warnings": []}))
"""


# ----------------------------------------------------------------------------- shapes
def json_type(value: Any) -> str:
    """The JSON type of a decoded JSON value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def shape_of(value: Any, path: str = "") -> dict[str, set[str]]:
    """Every key path of a JSON value with the JSON types found there.

    Object keys extend the path with ``.key``; the elements of an array share the path
    ``[]``, so an array's shape is the union of its elements' shapes.
    """
    shape: dict[str, set[str]] = {path or "$": {json_type(value)}}
    children: Iterator[tuple[str, Any]]
    if isinstance(value, dict):
        children = ((f"{path}.{key}" if path else key, item) for key, item in value.items())
    elif isinstance(value, list):
        children = ((f"{path}[]", item) for item in value)
    else:
        children = iter(())
    for child_path, item in children:
        for key, types in shape_of(item, child_path).items():
            shape.setdefault(key, set()).update(types)
    return shape


def shape_differences(expected: Any, actual: Any) -> list[str]:
    """How the shape of ``actual`` differs from that of ``expected``, one line per key path."""
    want, got = shape_of(expected), shape_of(actual)
    problems = []
    for path in sorted(want.keys() | got.keys()):
        before, after = want.get(path), got.get(path)
        if after is None:
            problems.append(
                f"`{path}` is missing from the reply (the fixture has {_types(before)})"
            )
        elif before is None:
            problems.append(f"`{path}` is new in the reply ({_types(after)}); the fixture lacks it")
        elif before != after:
            problems.append(
                f"`{path}` is {_types(after)} in the reply, {_types(before)} in the fixture"
            )
    return problems


def _types(types: set[str] | None) -> str:
    return " | ".join(sorted(types or ()))


def test_shape_differences_name_the_key() -> None:
    fixture = {"run": 1, "cells": [{"state": "same", "error": None}], "gone": True}
    assert shape_differences(fixture, {**fixture, "run": 2.5}) == []  # values may differ
    reply = {"run": "1", "cells": [{"state": "same", "error": 3}], "new": []}
    assert shape_differences(fixture, reply) == [
        "`cells[].error` is number in the reply, null in the fixture",
        "`gone` is missing from the reply (the fixture has boolean)",
        "`new` is new in the reply (array); the fixture lacks it",
        "`run` is string in the reply, number in the fixture",
    ]


# ----------------------------------------------------------------------------- replies
def seed_record() -> dict[str, Any]:
    """What ``%repro_seed 42`` records with a run (a SeedReport's ``to_dict()``)."""
    report = SeedReport(
        requested=SeedConfig(seed=42, deterministic=True),
        effective=SeedEffect(
            seed=42, generators={"random": "seeded", "numpy": "seeded"}, hash_seed="0"
        ),
        warnings=["torch is not imported: it is seeded when it is imported."],
    )
    return report.to_dict()


def git_commits(repo: Path) -> list[str]:
    """A small repository with two commits (a file changed, one added); their shas."""
    repo.mkdir(parents=True, exist_ok=True)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=repo, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q", "-b", "main")
    (repo / "train.py").write_text("lr = 0.1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    first = git("rev-parse", "HEAD")
    (repo / "train.py").write_text("lr = 0.01\nepochs = 3\n")
    (repo / "data.txt").write_text("1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")
    return [first, git("rev-parse", "HEAD")]


@pytest.fixture
def fake_jobs(install_fake_jobs: Callable[[str], JobManager]) -> JobManager:
    """Export and verify jobs run a stand-in script speaking the job protocol."""
    return install_fake_jobs(FAKE_JOB)


async def get_json(jp_fetch: Any, *parts: str, **params: str) -> Any:
    response = await jp_fetch("repro-nb", "api", *parts, params=params)
    assert response.code == 200, parts
    return json.loads(response.body)


async def finished_job(jp_fetch: Any, kind: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """POST a job, poll it as the sidebar does until it finishes; the POST and last GET replies."""
    response = await jp_fetch("repro-nb", "api", kind, method="POST", body=json.dumps(body))
    started = json.loads(response.body)
    for _ in range(600):
        job = await get_json(jp_fetch, "jobs", started["job"])
        if job["state"] in ("done", "failed"):
            assert job["state"] == "done", job
            return started, job
        await asyncio.sleep(0.05)  # the client's polling interval, not a wait for a result
    raise AssertionError(f"the {kind} job did not finish in 30 s: {job}")


async def sidebar_replies(
    jp_fetch: Any, recorded: Any, root_dir: Path, store_path: Path, repo: Path
) -> dict[str, Any]:
    """Every reply the sidebar reads, keyed by the name contract.spec.ts gives its reply type."""
    nb, store = recorded(NOTEBOOK, SOURCES)
    commits = git_commits(repo)
    checks_base = {"mean": (0.0598, None, None), "loss": (0.5, None, None)}
    checks_run = {"mean": (0.0598, 0.0598, True), "loss": (0.7, 0.5, False)}
    base = record_run(store, nb, SOURCES, env=ENV_BEFORE, seed=seed_record(), checks=checks_base)
    store.add_config(base, "cfg", "dict", {"lr": 0.1, "epochs": 3, "optim": "adam"})
    git_base = {"repo_root": str(repo), "commit": commits[0], "branch": "main", "dirty": False}
    store.update_session(base, git_id=store.add_git_state(git_base))
    run = record_run(
        store, nb, SOURCES, values={1: "changed"}, error_at=3, env=env_after(),
        seed=seed_record(), checks=checks_run,
    )  # fmt: skip
    store.add_config(run, "cfg", "dict", {"lr": 0.01, "epochs": 3, "batch": 32})
    git_run = {**git_base, "commit": commits[1], "dirty": True}
    store.update_session(run, git_id=store.add_git_state(git_run))
    recorded("work/fresh.ipynb")  # a notebook with nothing recorded
    replies: dict[str, Any] = {}
    for endpoint in ("status", "runs", "cells", "drift", "checks"):
        replies[endpoint] = await get_json(jp_fetch, endpoint, path=NOTEBOOK)
        replies[f"{endpoint}_empty"] = await get_json(jp_fetch, endpoint, path="work/fresh.ipynb")
    replies["compare"] = await get_json(jp_fetch, "compare", path=NOTEBOOK)
    replies["job_started"], replies["job_export"] = await finished_job(
        jp_fetch, "export", {"path": NOTEBOOK}
    )
    _, replies["job_verify"] = await finished_job(jp_fetch, "verify", {"path": NOTEBOOK, "runs": 1})
    # Machine-specific paths would make every regenerated fixture differ; strings stay strings.
    text = json.dumps(replies, indent=2, sort_keys=True)
    for path, name in ((store_path, "<store>"), (root_dir, "<root>"), (repo, "<repo>")):
        text = text.replace(str(path.resolve()), name).replace(str(path), name)
    return json.loads(text)


async def test_replies_keep_the_shape_the_sidebar_reads(
    jp_fetch: Any,
    recorded: Any,
    jp_root_dir: Path,
    store_path: Path,
    fake_jobs: JobManager,
    tmp_path: Path,
) -> None:
    replies = await sidebar_replies(jp_fetch, recorded, jp_root_dir, store_path, tmp_path / "repo")
    assert replies["cells"]["first_divergent"] is not None and replies["drift"]["report"]["items"]
    assert {c["state"] for c in replies["compare"]["config"]} == {"changed", "added", "removed"}
    assert (
        replies["compare"]["git"]["commits"] == 1 and len(replies["compare"]["git"]["files"]) == 2
    )
    assert replies["job_export"]["download"] and replies["job_verify"]["result"]["verdict"]
    if os.environ.get(UPDATE_VARIABLE):
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(replies, indent=2, sort_keys=True) + "\n")
        return
    assert FIXTURE.is_file(), f"{FIXTURE} is missing: run this test with {UPDATE_VARIABLE}=1."
    fixture = json.loads(FIXTURE.read_text())
    problems = [
        f"{name}: {problem}"
        for name in sorted(fixture.keys() | replies.keys())
        for problem in shape_differences(fixture.get(name), replies.get(name))
    ]
    assert not problems, (
        "The server's replies no longer have the shape of the sidebar's fixture:\n  "
        + "\n  ".join(problems)
        + f"\nIf the change is intended, regenerate {FIXTURE.name} with {UPDATE_VARIABLE}=1, "
        "update labextension/src/tokens.ts to match, and run `jlpm test` (contract.spec.ts)."
    )
