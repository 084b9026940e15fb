"""Measure the ground truth for the ``restore`` corpus, independently of repro_nb.

Usage (run it with the python of the environment to measure; that
environment needs nbformat, nbclient, ipykernel and pillow):

    PY tests/corpus/restore/measure_restore.py run NAME --label LABEL --out FILE.json

executes the single notebook of corpus folder NAME once with plain nbclient
(``kernel_name="python3"``, which resolves to the kernel of the environment
that runs this script), in a fresh temporary copy of the folder (the corpus is
never written to), and writes FILE.json: the error of every code cell that
raised, and how many code cells with saved outputs produced the same
*normalised* output as the one saved in the notebook.

    python tests/corpus/restore/measure_restore.py build RESULTS_DIR

merges ``RESULTS_DIR/NAME.today.json`` and ``RESULTS_DIR/NAME.hand_env.json``
with the hand-written annotations in ``CASES`` below into ``truth.json``.

The normalisation is the one of ``tests/corpus/measure_truth.py`` (copied,
not imported, so that this script runs in any environment): stream text per
stream name, ``text/plain`` (else ``text/html``) of rich outputs, a digest of
the decoded pixels of PNG/JPEG images, ``ename: evalue`` of errors, after the
regex rules of ``../measure_truth.py``.  This script does not import repro_nb.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRUTH = HERE / "truth.json"

# The same normalisation as tests/corpus/measure_truth.py: one implementation for both
# corpora (the rules each output fired are not kept here).
sys.path.insert(0, str(HERE.parent))
from measure_truth import normalise_outputs as _normalise_outputs  # noqa: E402


def normalise_outputs(outputs):
    return _normalise_outputs(outputs, set())


def notebook_path(folder: Path) -> Path:
    """The single .ipynb of a corpus folder (it may sit in a sub-folder, as in
    netsci_ch3, whose notebook reads ``../datasets/...``)."""
    found = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if len(found) != 1:
        raise SystemExit(f"{folder}: expected exactly one .ipynb, found {found}")
    return found[0]


def code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def run(name: str, label: str, out: Path, timeout: int) -> None:
    import nbformat
    from nbclient import NotebookClient

    folder = HERE / name
    nb_file = notebook_path(folder)
    rel = nb_file.relative_to(folder)
    saved = nbformat.read(nb_file, as_version=4)

    os.environ.pop("PYTHONHASHSEED", None)
    tmp = Path(tempfile.mkdtemp())
    work = tmp / folder.name
    shutil.copytree(folder, work)
    nb = nbformat.read(work / rel, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str((work / rel).parent)}},
    )
    start = time.monotonic()
    failure = None
    try:
        client.execute()
    except Exception as exc:  # a cell timeout or a dead kernel
        failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        seconds = round(time.monotonic() - start, 1)
        shutil.rmtree(tmp, ignore_errors=True)

    errors = []
    compared = matched = ran_ok = 0
    differing = []
    for i, cell in code_cells(nb):
        outs = cell.get("outputs", [])
        err = next((o for o in outs if o.get("output_type") == "error"), None)
        if err is not None:
            errors.append({"cell_index": i, "error": f"{err.get('ename')}: {err.get('evalue')}"})
        elif cell.get("execution_count") is not None or not cell.source.strip():
            ran_ok += 1
        saved_outs = saved.cells[i].get("outputs", [])
        if saved_outs:
            compared += 1
            if normalise_outputs(saved_outs) == normalise_outputs(outs):
                matched += 1
            else:
                differing.append(i)

    import importlib.metadata as md

    versions = {}
    for dist in (
        "numpy",
        "pandas",
        "matplotlib",
        "scipy",
        "scikit-learn",
        "ipython",
        "networkx",
        "lime",
        "ipykernel",
        "nbclient",
    ):
        with contextlib.suppress(md.PackageNotFoundError):
            versions[dist] = md.version(dist)
    result = {
        "name": name,
        "label": label,
        "notebook": str(rel),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "versions": versions,
        "cells": len(code_cells(nb)),
        "ran_without_error": ran_ok,
        "errors": errors,
        "outputs_compared": compared,
        "outputs_matched": matched,
        "differing_cells": differing,
        "seconds": seconds,
        "run_failure": failure,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    print(
        f"{name} [{label}] cells={result['cells']} errors={[e['cell_index'] for e in errors]} "
        f"matched={matched}/{compared} seconds={seconds} failure={failure}",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------
# Hand-written annotations (read from the notebooks, their repositories and
# the measured runs) live in cases.py next to this script.  ``why`` is a list
# of (regex on "ename: evalue", library_change, explanation).
# --------------------------------------------------------------------------


def annotate(errors, why_rules):
    out = []
    for e in errors:
        for pattern, lib, why in why_rules:
            if re.search(pattern, e["error"]):
                out.append({**e, "library_change": lib, "why": why})
                break
        else:
            out.append({**e, "library_change": None, "why": "UNANNOTATED"})
    return out


def build(results: Path) -> None:
    sys.path.insert(0, str(HERE))
    from cases import CASES

    truth = {}
    for name, case in sorted(CASES.items()):
        entry = {k: case[k] for k in ("source", "licence", "breakage", "date_hint", "data_files")}
        entry["notebook"] = case["notebook"]
        if case.get("note"):
            entry["note"] = case["note"]
        for label in ("today", "hand_env"):
            f = results / f"{name}.{label}.json"
            if not f.exists():
                continue
            r = json.loads(f.read_text())
            block = {
                "cells": r["cells"],
                "ran_without_error": r["ran_without_error"],
                "errors": annotate(r["errors"], case["why"]),
                "outputs_compared": r["outputs_compared"],
                "outputs_matched": r["outputs_matched"],
                "seconds": r["seconds"],
                "versions": r["versions"],
            }
            if r.get("run_failure"):
                block["run_failure"] = r["run_failure"]
            if label == "hand_env":
                block["pins"] = case["pins"]
                block["python"] = r["python"]
            entry[label] = block
        truth[name] = entry
    TRUTH.write_text(json.dumps(truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {TRUTH}", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("name")
    r.add_argument("--label", required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--timeout", type=int, default=120)
    b = sub.add_parser("build")
    b.add_argument("results", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "run":
        run(a.name, a.label, a.out, a.timeout)
    else:
        build(a.results)


if __name__ == "__main__":
    main()
