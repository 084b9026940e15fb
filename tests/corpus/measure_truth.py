"""Measure the ground truth for the notebook corpus, independently of repro_nb.

Usage:
    python tests/corpus/measure_truth.py [--dump DIR] [names...]

For every corpus folder (all of them when no names are given) the single
``*.ipynb`` at the top of the folder is executed twice with plain nbclient,
each time in a fresh temporary copy of the folder (the corpus itself is never
written to), with PYTHONHASHSEED removed from the environment (so each kernel
gets a random hash seed, as for a normal user).  The normalised outputs of the
two runs are compared with each other and with the outputs saved in the
notebook, and the result is merged into ``truth.json`` next to this script.

This script deliberately does not import repro_nb.  The normalisation rules
are documented in README.md and in ``RULES`` below.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TRUTH = HERE / "truth.json"

# (name, compiled pattern, replacement).  Applied in this order to every text
# (stream text, text/plain, text/html, error evalue).
RULES = [
    # %timeit result lines, e.g. "1.53 µs ± 47.8 ns per loop (mean ± std. dev. of 7 runs, 1000000 loops each)"
    ("timeit", re.compile(r"^.*per loop \(mean ± std\. dev\. of .*$", re.M), "<timeit>"),
    # %timeit's caching warning, e.g. "The slowest run took 5.12 times longer than the fastest. ..."
    # (this line appears only on some runs, so it is removed, newline included)
    ("timeit", re.compile(r"^The slowest run took .*(?:\n|$)", re.M), ""),
    # %time / %%time result lines
    ("time-magic", re.compile(r"^CPU times: .*$", re.M), "<cpu-times>"),
    ("time-magic", re.compile(r"^Wall time: .*$", re.M), "<wall-time>"),
    # tqdm progress bars: elapsed<remaining, rate
    ("tqdm", re.compile(r"\[\d+:\d+(?::\d+)?<[^\]]*\]"), "[<tqdm-time>]"),
    # kernel temp files in tracebacks / warnings, e.g. /tmp/ipykernel_123/456789.py
    ("kernel-path", re.compile(r"/tmp/ipykernel_\d+/\d+\.py"), "<kernel-cell>"),
    # the temporary run folder of this script, e.g. /tmp/tmpab12_cd/
    ("run-dir", re.compile(r"/tmp/tmp[A-Za-z0-9_]+"), "<run-dir>"),
    # memory addresses, e.g. <Figure at 0x7f3a2c1d0e50>
    ("address", re.compile(r"\b0x[0-9a-fA-F]+"), "0x<addr>"),
]

IMAGE_TYPES = ("image/png", "image/jpeg")


def normalise_text(text: str, fired: set[str]) -> str:
    for name, pattern, repl in RULES:
        new = pattern.sub(repl, text)
        if new != text:
            fired.add(name)
            text = new
    return text


def image_digest(mime: str, payload) -> str:
    """Digest of the decoded pixels (mode, size, raw bytes), not of the file bytes."""
    from PIL import Image

    if isinstance(payload, list):
        payload = "".join(payload)
    raw = base64.b64decode(payload)
    with Image.open(io.BytesIO(raw)) as img:
        img = img.convert("RGBA")
        h = hashlib.sha256()
        h.update(f"{img.size}".encode())
        h.update(img.tobytes())
        return f"pixels:{img.size[0]}x{img.size[1]}:{h.hexdigest()[:16]}"


def normalise_outputs(outputs, fired: set[str]):
    """Normalised form of one code cell's outputs (a JSON-able dict)."""
    streams: dict[str, str] = {}
    items: list = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            if isinstance(text, list):
                text = "".join(text)
            streams[out.get("name", "stdout")] = streams.get(out.get("name", "stdout"), "") + text
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            item = {}
            if "text/plain" in data:
                t = data["text/plain"]
                item["text"] = normalise_text("".join(t) if isinstance(t, list) else t, fired)
            elif "text/html" in data:
                t = data["text/html"]
                item["html"] = normalise_text("".join(t) if isinstance(t, list) else t, fired)
            for mime in IMAGE_TYPES:
                if mime in data:
                    try:
                        item["image"] = image_digest(mime, data[mime])
                    except Exception as exc:  # undecodable image
                        item["image"] = f"undecodable:{type(exc).__name__}"
            items.append(item)
        elif kind == "error":
            items.append(
                {"error": normalise_text(f"{out.get('ename')}: {out.get('evalue')}", fired)}
            )
    result = {}
    if streams:
        # coalesce across messages, then normalise line-based rules on the whole text
        result["streams"] = {k: normalise_text(v, fired) for k, v in sorted(streams.items())}
    if items:
        result["items"] = items
    return result


def notebook_path(folder: Path) -> Path:
    found = sorted(folder.glob("*.ipynb"))
    if len(found) != 1:
        raise SystemExit(f"{folder}: expected exactly one top-level .ipynb, found {found}")
    return found[0]


def run_once(folder: Path):
    nb_file = notebook_path(folder)
    tmp = Path(tempfile.mkdtemp())
    work = tmp / folder.name
    shutil.copytree(folder, work)
    nb = nbformat.read(work / nb_file.name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    finally:
        seconds = round(time.monotonic() - start, 1)
        shutil.rmtree(tmp, ignore_errors=True)
    return nb, seconds


def cell_table(nb, fired_by_cell: dict[int, set[str]] | None):
    table = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        fired: set[str] = set()
        table[i] = normalise_outputs(cell.get("outputs", []), fired)
        if fired_by_cell is not None and fired:
            fired_by_cell.setdefault(i, set()).update(fired)
    return table


def error_of(norm) -> str | None:
    for item in norm.get("items", []):
        if "error" in item:
            return item["error"]
    return None


def measure(folder: Path, dump: Path | None):
    saved_nb = nbformat.read(notebook_path(folder), as_version=4)
    fired_by_cell: dict[int, set[str]] = {}
    saved = cell_table(saved_nb, None)
    nb1, s1 = run_once(folder)
    nb2, s2 = run_once(folder)
    run1 = cell_table(nb1, fired_by_cell)
    run2 = cell_table(nb2, fired_by_cell)

    differing = [i for i in run1 if run1[i] != run2.get(i)]
    errors = []
    for i, norm in run1.items():
        err = error_of(norm)
        if err is not None:
            errors.append({"cell": i, "ename": err.split(":", 1)[0]})
    with_saved = [
        i for i, c in enumerate(saved_nb.cells) if c.cell_type == "code" and c.get("outputs")
    ]
    saved_differing = [i for i in with_saved if saved[i] != run1.get(i)]

    noise: dict[str, list[int]] = {}
    for i, names in sorted(fired_by_cell.items()):
        for name in names:
            noise.setdefault(name, []).append(i)

    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{folder.name}.json").write_text(
            json.dumps(
                {"saved": saved, "run1": run1, "run2": run2},
                indent=1,
                sort_keys=True,
                ensure_ascii=False,
            )
        )
    return {
        "notebook": notebook_path(folder).name,
        "runs_equal": not differing,
        "first_differing_cell": differing[0] if differing else None,
        "differing_cells": differing,
        "error_cells": errors,
        "saved": {
            "compared": len(with_saved),
            "matching": len(with_saved) - len(saved_differing),
            "differing": saved_differing,
        },
        "noise_seen": {k: sorted(v) for k, v in sorted(noise.items())},
        "seconds": [s1, s2],
        "hash_seed": "random",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="corpus folders (default: all)")
    parser.add_argument(
        "--dump", type=Path, help="write the normalised outputs of each notebook here"
    )
    parser.add_argument(
        "--out", type=Path, default=TRUTH, help="truth file to merge into (default: truth.json)"
    )
    args = parser.parse_args(argv)

    os.environ.pop("PYTHONHASHSEED", None)  # random hash seed in every kernel
    names = args.names or sorted(
        p.name for p in HERE.iterdir() if p.is_dir() and list(p.glob("*.ipynb"))
    )
    truth = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in names:
        folder = HERE / name
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        truth[name] = measure(folder, args.dump)
        t = truth[name]
        print(
            f"  runs_equal={t['runs_equal']} first_diff={t['first_differing_cell']} "
            f"errors={[e['cell'] for e in t['error_cells']]} saved={t['saved']['matching']}/{t['saved']['compared']} "
            f"seconds={t['seconds']}",
            file=sys.stderr,
            flush=True,
        )
        args.out.write_text(json.dumps(truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
