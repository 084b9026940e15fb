"""The server extension's REST API, in-process through pytest_jupyter's ``jp_fetch``."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from repro_nb.server import handlers as routes
from repro_nb.server import reader
from repro_nb.server.jobs import JobManager
from repro_nb.server.reader import RouteError, resolve_notebook

from .records import ENV_BEFORE, env_after, record_run

SOURCES = ["x = 1", "x = x + 1", "print(x)"]


async def get_json(jp_fetch: Any, endpoint: str, **params: Any) -> dict[str, Any]:
    response = await jp_fetch("repro-nb", "api", endpoint, params=params)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def get_error(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("repro-nb", "api", *parts, **kwargs)
    body = json.loads(info.value.response.body)
    assert set(body) >= {"message"}, body
    return info.value.code, body["message"]


# ----------------------------------------------------------------------------- paths (unit)
def test_resolve_notebook_keeps_paths_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    ref = resolve_notebook(root, "/a/../a/nb.ipynb")
    assert ref.path == "a/nb.ipynb"
    assert ref.file == (root / "a" / "nb.ipynb").resolve()
    for bad in ("../x.ipynb", "a/../../x.ipynb"):
        with pytest.raises(RouteError) as info:
            resolve_notebook(root, bad)
        assert info.value.status == 403
        assert "outside the server root" in info.value.message
    for empty in (None, "", "  ", "/"):
        with pytest.raises(RouteError) as info:
            resolve_notebook(root, empty)
        assert info.value.status == 400


def test_resolve_notebook_refuses_symlinks_that_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.ipynb").write_text("{}")
    os.symlink(outside, root / "link")
    with pytest.raises(RouteError) as info:
        resolve_notebook(root, "link/secret.ipynb")
    assert info.value.status == 403


def test_dumps_writes_strict_json() -> None:
    text = routes.dumps({"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads(text) == {"a": "nan", "b": ["inf", 1.5]}


# ----------------------------------------------------------------------------- auth and errors
async def test_every_endpoint_requires_auth(jp_fetch: Any) -> None:
    bad = {"Authorization": "token not-the-token"}
    for endpoint, method, body in (
        ("status", "GET", None),
        ("runs", "GET", None),
        ("cells", "GET", None),
        ("drift", "GET", None),
        ("checks", "GET", None),
        ("compare", "GET", None),
        ("export", "POST", "{}"),
        ("verify", "POST", "{}"),
        ("jobs/" + "0" * 32, "GET", None),
    ):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(
                "repro-nb", "api", endpoint, params={"path": "x.ipynb"}, method=method,
                body=body, headers=bad,
            )  # fmt: skip
        assert info.value.code == 403, endpoint


async def test_bad_paths_are_json_errors(jp_fetch: Any, jp_root_dir: Path) -> None:
    code, message = await get_error(jp_fetch, "status")
    assert code == 400 and "?path=" in message
    code, message = await get_error(jp_fetch, "status", params={"path": "../../etc/passwd"})
    assert code == 403 and "outside the server root" in message
    code, message = await get_error(
        jp_fetch, "export", method="POST", body=json.dumps({"path": "../x.ipynb"})
    )
    assert code == 403
    code, message = await get_error(jp_fetch, "export", method="POST", body="not json")
    assert code == 400 and "JSON" in message


async def test_unknown_notebook_is_404_and_unrecorded_one_is_empty(
    jp_fetch: Any, recorded: Any
) -> None:
    code, message = await get_error(jp_fetch, "status", params={"path": "nope.ipynb"})
    assert code == 404 and "nope.ipynb" in message
    recorded("fresh.ipynb")  # the file exists; nothing recorded
    for endpoint in ("status", "runs", "cells", "drift", "checks"):
        body = await get_json(jp_fetch, endpoint, path="fresh.ipynb")
        assert body["path"] == "fresh.ipynb"
    status = await get_json(jp_fetch, "status", path="fresh.ipynb")
    assert status["recorded"] is False and status["n_runs"] == 0 and status["status"] is None
    runs = await get_json(jp_fetch, "runs", path="fresh.ipynb")
    assert runs["runs"] == []
    cells = await get_json(jp_fetch, "cells", path="fresh.ipynb")
    assert cells["cells"] == [] and cells["first_divergent"] is None


# ----------------------------------------------------------------------------- reads
async def test_status_and_runs(jp_fetch: Any, recorded: Any) -> None:
    nb, store = recorded("work/analysis.ipynb", SOURCES)
    first = record_run(store, nb, SOURCES, seed={"requested": {"seed": 42}, "effective": {}})
    status = await get_json(jp_fetch, "status", path="work/analysis.ipynb")
    assert status["recorded"] is True
    assert status["n_runs"] == 1
    assert status["latest_run"]["id"] == first == status["baseline_run"]["id"]
    assert status["notebook"].endswith("work/analysis.ipynb")
    names = [item["name"] for item in status["status"]["checklist"]]
    assert "seeded" in names
    seeded = next(i for i in status["status"]["checklist"] if i["name"] == "seeded")
    assert seeded["ok"] is True
    revision = status["revision"]

    second = record_run(store, nb, SOURCES)
    status = await get_json(jp_fetch, "status", path="work/analysis.ipynb")
    assert status["revision"] != revision
    assert status["n_runs"] == 2
    assert status["latest_run"]["id"] == second and status["baseline_run"]["id"] == first
    runs = await get_json(jp_fetch, "runs", path="work/analysis.ipynb")
    assert [r["id"] for r in runs["runs"]] == [first, second]
    assert runs["baseline"] == first
    assert [r["is_baseline"] for r in runs["runs"]] == [True, False]


async def test_status_is_cached_until_the_record_changes(jp_fetch: Any, recorded: Any) -> None:
    nb, store = recorded("nb.ipynb", SOURCES)
    record_run(store, nb, SOURCES)
    one = await get_json(jp_fetch, "status", path="nb.ipynb")
    two = await get_json(jp_fetch, "status", path="nb.ipynb")
    assert one == two
    store.add_check(one["latest_run"]["id"], "late", value={"kind": "int", "value": 1})
    three = await get_json(jp_fetch, "status", path="nb.ipynb")
    assert three["revision"] != one["revision"]


async def test_cells_of_a_run_vs_baseline(jp_fetch: Any, recorded: Any) -> None:
    nb, store = recorded("nb.ipynb", SOURCES)
    base = record_run(store, nb, SOURCES)
    run = record_run(store, nb, SOURCES, values={1: "changed"}, error_at=2)
    cells = await get_json(jp_fetch, "cells", path="nb.ipynb")
    assert cells["run"] == run and cells["baseline"] == base
    assert [c["state"] for c in cells["cells"]] == ["same", "different", "error"]
    assert cells["first_divergent"]["cell_id"] == "c1"
    assert cells["first_divergent"]["values_differ"] == ["x"]
    assert cells["cells"][2]["error"] == "ValueError: boom"
    assert cells["counts"] == {"same": 1, "different": 1, "error": 1}

    same = await get_json(jp_fetch, "cells", path="nb.ipynb", run=str(base))
    assert same["run"] == base and same["first_divergent"] is None
    assert {c["state"] for c in same["cells"]} == {"same"}

    page = await get_json(jp_fetch, "cells", path="nb.ipynb", offset="1", limit="1")
    assert page["total"] == 3 and page["offset"] == 1 and page["limit"] == 1
    assert [c["cell_id"] for c in page["cells"]] == ["c1"]
    assert page["first_divergent"]["cell_id"] == "c1" and page["counts"] == cells["counts"]
    code, message = await get_error(jp_fetch, "cells", params={"path": "nb.ipynb", "limit": "0"})
    assert code == 400 and "limit" in message

    code, message = await get_error(jp_fetch, "cells", params={"path": "nb.ipynb", "run": "999"})
    assert code == 404 and "999" in message
    code, message = await get_error(jp_fetch, "cells", params={"path": "nb.ipynb", "run": "abc"})
    assert code == 400


async def test_drift_lists_imported_packages_first(jp_fetch: Any, recorded: Any) -> None:
    nb, store = recorded("nb.ipynb", SOURCES)
    record_run(store, nb, SOURCES, env=ENV_BEFORE)
    single = await get_json(jp_fetch, "drift", path="nb.ipynb")
    assert single["report"] is not None and single["report"]["items"] == []
    record_run(store, nb, SOURCES, env=env_after())
    drift = await get_json(jp_fetch, "drift", path="nb.ipynb")
    items = drift["report"]["items"]
    names = [i["name"] for i in items]
    assert names.index("numpy") < names.index("six")
    numpy_item = items[names.index("numpy")]
    assert numpy_item["imported"] is True
    assert (numpy_item["before"], numpy_item["after"]) == ("1.26.4", "2.0.0")
    assert numpy_item["severity"] == "major"
    assert drift["report"]["counts"]["major"] >= 1


async def test_checks_report_pass_fail_and_stats(jp_fetch: Any, recorded: Any) -> None:
    nb, store = recorded("nb.ipynb", SOURCES)
    record_run(store, nb, SOURCES, checks={"acc": (0.9, None, None), "loss": (0.5, None, None)})
    run = record_run(
        store, nb, SOURCES, checks={"acc": (0.9, 0.9, True), "loss": (0.7, 0.5, False)}
    )
    body = await get_json(jp_fetch, "checks", path="nb.ipynb")
    assert body["run"] == run
    report = body["report"]
    by_name = {item["name"]: item for item in report["items"]}
    assert by_name["acc"]["status"] == "pass"
    assert by_name["loss"]["status"] == "fail"
    assert report["counts"]["pass"] == 1 and report["counts"]["fail"] == 1
    assert by_name["loss"]["stats"]["n"] == 2
    assert by_name["loss"]["stats"]["mean"] == pytest.approx(0.6)


async def test_compare_two_runs_side_by_side(jp_fetch: Any, recorded: Any) -> None:
    """``compare``: config, checks, environment and cells of run b against run a."""
    nb, store = recorded("nb.ipynb", SOURCES)
    first = record_run(
        store, nb, SOURCES, checks={"acc": (0.9, None, None), "loss": (0.5, None, None)}
    )
    store.add_config(first, "cfg", "dict", {"lr": 0.1, "epochs": 3, "optim": {"name": "adam"}})
    second = record_run(
        store, nb, SOURCES, values={1: "changed"}, env=env_after(),
        checks={"acc": (0.9, 0.9, True), "loss": (0.7, 0.5, False)},
    )  # fmt: skip
    store.add_config(second, "cfg", "dict", {"lr": 0.01, "epochs": 3, "optim": {"name": "sgd"}})

    body = await get_json(jp_fetch, "compare", path="nb.ipynb")  # baseline vs latest
    assert body["path"] == "nb.ipynb" and body["revision"]
    assert body["notebook"].endswith("nb.ipynb")
    assert (body["a"]["id"], body["b"]["id"]) == (first, second)
    assert body["a"]["title"].startswith(f"run {first} · ")
    assert body["summary"] == (
        f"run {first} vs run {second}: differ in 2 config values, 1 environment item, "
        "1 check, 1 cell"
    )
    assert body["config"] == [
        {"key": "cfg.lr", "before": 0.1, "after": 0.01, "state": "changed"},
        {"key": "cfg.optim.name", "before": "adam", "after": "sgd", "state": "changed"},
    ]
    assert body["config_same"] == 1
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["acc"]["verdict"] == "within tolerance" and checks["acc"]["reason"] is None
    assert checks["loss"]["verdict"] == "outside tolerance" and checks["loss"]["reason"]
    assert (checks["loss"]["before"], checks["loss"]["after"]) == (0.5, 0.7)
    assert checks["loss"]["rtol"] == 1e-6
    drift = body["drift"]
    assert drift["counts"]["major"] == 1
    numpy_item = next(i for i in drift["items"] if i["name"] == "numpy")
    assert (numpy_item["before"], numpy_item["after"]) == ("1.26.4", "2.0.0")
    assert body["git"]["before"] is None and body["git"]["same"] is True
    assert body["git"]["summary"] == "neither run was in a git repository"
    [cell] = body["cells"]
    assert cell["cell_id"] == "c1" and cell["label"] == "cell 2"
    assert cell["state"] == "different" and cell["reason"] == "values differ: x"
    assert body["cell_counts"] == {"same": 2, "different": 1}

    # The same two runs, named the other ways; and the other way round.
    for a, b in ((str(first), str(second)), ("previous", "latest"), ("-2", "-1")):
        other = await get_json(jp_fetch, "compare", path="nb.ipynb", a=a, b=b)
        assert (other["a"]["id"], other["b"]["id"]) == (first, second), (a, b)
        assert other["config"] == body["config"]
    swapped = await get_json(jp_fetch, "compare", path="nb.ipynb", a="latest", b="baseline")
    assert swapped["config"][0] == {
        "key": "cfg.lr", "before": 0.01, "after": 0.1, "state": "changed"
    }  # fmt: skip
    same = await get_json(jp_fetch, "compare", path="nb.ipynb", a="latest", b="latest")
    assert same["summary"] == f"run {second} vs run {second}: no differences"
    assert same["cells"] == [] and same["config"] == []


async def test_compare_bad_run_references_are_400_with_one_line(
    jp_fetch: Any, recorded: Any
) -> None:
    nb, store = recorded("nb.ipynb", SOURCES)
    run = record_run(store, nb, SOURCES)
    code, message = await get_error(
        jp_fetch, "compare", params={"path": "nb.ipynb", "a": "yesterday"}
    )
    assert code == 400
    assert message == (
        f"Run 'yesterday' is not a run: use an id ({run}), latest, previous, baseline, "
        "or -N (N-th from the latest)."
    )
    code, message = await get_error(jp_fetch, "compare", params={"path": "nb.ipynb", "b": "999"})
    assert code == 400 and message.startswith("Run 999 is not a run of ")
    assert "\n" not in message
    code, message = await get_error(
        jp_fetch, "compare", params={"path": "nb.ipynb", "a": "previous"}
    )
    assert code == 400 and "only one recorded run" in message
    code, message = await get_error(jp_fetch, "compare", params={"path": "nb.ipynb", "a": "9" * 80})
    assert code == 400 and "is not a run" in message

    recorded("fresh.ipynb")  # the file exists; nothing recorded
    code, message = await get_error(jp_fetch, "compare", params={"path": "fresh.ipynb"})
    assert code == 404 and "no recorded runs" in message
    code, message = await get_error(jp_fetch, "compare", params={"path": "nope.ipynb"})
    assert code == 404 and "nope.ipynb" in message


async def test_store_reads_do_not_block_the_event_loop(
    jp_fetch: Any, recorded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow read runs in the pool: the loop keeps answering other requests meanwhile."""
    nb, store = recorded("nb.ipynb", SOURCES)
    record_run(store, nb, SOURCES)
    import threading

    gate = threading.Event()
    real = reader.read_runs

    def slow_runs(store: Any, key: str) -> dict[str, Any]:
        assert threading.current_thread() is not threading.main_thread()
        gate.wait(10)
        return real(store, key)

    monkeypatch.setattr(reader, "read_runs", slow_runs)
    monkeypatch.setattr(routes.RunsHandler, "get", _runs_get_with(slow_runs))
    pending = asyncio.ensure_future(get_json(jp_fetch, "runs", path="nb.ipynb"))
    status = await get_json(jp_fetch, "status", path="nb.ipynb")  # answered while runs waits
    assert status["recorded"] is True
    assert not pending.done()
    gate.set()
    runs = await pending
    assert len(runs["runs"]) == 1


def _runs_get_with(compute: Any) -> Any:
    import tornado.web

    @tornado.web.authenticated
    async def get(self: routes.RunsHandler) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        got = await self.read(ref, "runs-slow", compute)
        self.reply({"path": ref.path, "revision": got.revision, **(got.value or {})})

    return get


# ----------------------------------------------------------------------------- jobs
FAKE_JOB = r"""
import json, sys, zipfile
kind, nb = sys.argv[1], sys.argv[2]
print(json.dumps({"progress": 0.5, "message": "halfway"}), file=sys.stderr, flush=True)
if kind == "export":
    out = sys.argv[sys.argv.index("--output") + 1]
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("notebook.ipynb", open(nb).read())
    print(json.dumps({"bundle": out}))
elif "fail" in nb.rsplit("/", 1)[-1]:
    print("Traceback ...\nRuntimeError: kernel died in cell 2", file=sys.stderr)
    sys.exit(3)
elif kind == "restore":
    after = {"ran": 3, "cells": 3}
    print(json.dumps({"restored": True, "after": after, "kernel_name": "restored-nb"}))
else:
    print(json.dumps({"verdict": "reproduced", "reason": "3 cells match"}))
"""


@pytest.fixture
def fake_jobs(install_fake_jobs: Callable[[str], JobManager]) -> JobManager:
    """Jobs run a stand-in script speaking the CLI's protocol (stderr progress, JSON stdout)."""
    return install_fake_jobs(FAKE_JOB)


async def wait_job(jp_fetch: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    seen = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        job = await get_json(jp_fetch, f"jobs/{job_id}")
        assert 0 <= job["progress"] <= 1
        seen.add(job["state"])
        if job["state"] in ("done", "failed"):
            job["seen"] = seen
            return job
        await asyncio.sleep(0.1)  # polling interval of a real client, not a wait for a result
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: last {job}")


async def test_job_lifecycle_export_download(
    jp_fetch: Any, recorded: Any, fake_jobs: JobManager
) -> None:
    recorded("nb.ipynb", SOURCES)
    response = await jp_fetch(
        "repro-nb", "api", "export", method="POST", body=json.dumps({"path": "nb.ipynb"})
    )
    assert response.code == 202
    job_id = json.loads(response.body)["job"]
    job = await wait_job(jp_fetch, job_id)
    assert job["state"] == "done", job
    assert job["progress"] == 1 and job["kind"] == "export" and job["path"] == "nb.ipynb"
    assert job["download"].endswith(f"/repro-nb/api/jobs/{job_id}/download")
    download = await jp_fetch("repro-nb", "api", "jobs", job_id, "download")
    assert download.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.body)) as zf:
        assert zf.namelist() == ["notebook.ipynb"]


async def test_job_lifecycle_verify_and_failure(
    jp_fetch: Any, recorded: Any, fake_jobs: JobManager
) -> None:
    recorded("ok.ipynb", SOURCES)
    recorded("fail.ipynb", SOURCES)
    start = await jp_fetch(
        "repro-nb", "api", "verify", method="POST", body=json.dumps({"path": "ok.ipynb", "runs": 2})
    )
    job = await wait_job(jp_fetch, json.loads(start.body)["job"])
    assert job["state"] == "done"
    assert job["result"]["verdict"] == "reproduced"
    assert job["message"] == "reproduced: 3 cells match"
    assert job["download"] is None
    code, _ = await get_error(jp_fetch, "jobs", job["id"], "download")
    assert code == 404

    start = await jp_fetch(
        "repro-nb", "api", "verify", method="POST", body=json.dumps({"path": "fail.ipynb"})
    )
    job = await wait_job(jp_fetch, json.loads(start.body)["job"])
    assert job["state"] == "failed"
    assert "kernel died in cell 2" in job["message"]


async def test_job_lifecycle_restore(jp_fetch: Any, recorded: Any, fake_jobs: JobManager) -> None:
    """The sidebar's "Restore environment…": a job whose result names the kernel to switch
    to, registered among the user's kernels (``--user-kernel``) so Lab can use it."""
    from repro_nb.server.jobs import Job, job_argv

    recorded("nb.ipynb", SOURCES)
    start = await jp_fetch(
        "repro-nb", "api", "restore", method="POST", body=json.dumps({"path": "nb.ipynb"})
    )
    assert start.code == 202
    job = await wait_job(jp_fetch, json.loads(start.body)["job"])
    assert job["state"] == "done" and job["kind"] == "restore"
    assert job["result"]["kernel_name"] == "restored-nb"
    assert job["message"] == "restored: 3 of 3 cells run; switch to kernel restored-nb"
    argv = job_argv(Job(id="x", kind="restore", path="nb.ipynb", file=Path("/w/nb.ipynb")))
    assert argv[-5:] == ["restore", "/w/nb.ipynb", "--progress", "json", "--user-kernel"]


async def test_job_errors(jp_fetch: Any, recorded: Any, fake_jobs: JobManager) -> None:
    code, message = await get_error(jp_fetch, "jobs", "f" * 32)
    assert code == 404 and "No job" in message
    code, message = await get_error(
        jp_fetch, "export", method="POST", body=json.dumps({"path": "missing.ipynb"})
    )
    assert code == 404 and "missing.ipynb" in message
    recorded("nb.ipynb", SOURCES)
    code, message = await get_error(
        jp_fetch, "verify", method="POST", body=json.dumps({"path": "nb.ipynb", "runs": 0})
    )
    assert code == 400 and "runs" in message


DEMO_SOURCES = [
    "%load_ext repro_nb\n%repro_seed 42",
    "import numpy as np\nx = np.random.default_rng(0).normal(size=100)",
    "import repro_nb\nrepro_nb.check('mean', float(x.mean()))",
]


@pytest.mark.slow
async def test_real_export_and_verify_jobs(jp_fetch: Any, recorded: Any, tmp_path: Path) -> None:
    """The default runner: export executes the unrecorded notebook, verify re-runs it."""
    recorded("demo/demo.ipynb", DEMO_SOURCES)
    start = await jp_fetch(
        "repro-nb", "api", "export", method="POST", body=json.dumps({"path": "demo/demo.ipynb"})
    )
    job = await wait_job(jp_fetch, json.loads(start.body)["job"], timeout=240)
    assert job["state"] == "done", job
    assert job["result"]["executed"] is True
    assert "bundle ready" in job["message"]
    download = await jp_fetch("repro-nb", "api", "jobs", job["id"], "download")
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(download.body)
    with zipfile.ZipFile(bundle) as zf:
        assert {"MANIFEST.sha256", "REPRODUCE.md", "notebook.ipynb", "expected.json"} <= set(
            zf.namelist()
        )

    # The export recorded a run, so the sidebar's reads now have a record.
    status = await get_json(jp_fetch, "status", path="demo/demo.ipynb")
    assert status["recorded"] is True

    start = await jp_fetch(
        "repro-nb", "api", "verify", method="POST",
        body=json.dumps({"path": "demo/demo.ipynb", "runs": 1}),
    )  # fmt: skip
    job = await wait_job(jp_fetch, json.loads(start.body)["job"], timeout=240)
    assert job["state"] == "done", job
    assert job["result"]["verdict"] == "reproduced", job["result"]["reason"]
    assert job["message"].startswith("reproduced")
