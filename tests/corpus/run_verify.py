"""Run ``repro-nb verify`` (default: two runs) on every corpus notebook in a temp copy and
print one JSON line per notebook; used by tests/test_corpus.py and by hand."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

CORPUS = Path(__file__).resolve().parent


def notebook_of(name: str) -> Path:
    (nb,) = sorted((CORPUS / name).glob("*.ipynb"))
    return nb


def verify_copy(name: str, **kw: object) -> dict:
    from repro_nb.verification import verify

    with tempfile.TemporaryDirectory(prefix=f"corpus-{name}-") as tmp:
        work = Path(tmp) / name
        shutil.copytree(CORPUS / name, work)
        res = verify(work / notebook_of(name).name, **kw)
        return res.to_dict()


if __name__ == "__main__":
    truth = json.loads((CORPUS / "truth.json").read_text())
    for name in sys.argv[1:] or sorted(truth):
        d = verify_copy(name, jobs=2)
        fd = d["first_divergent"] or {}
        print(
            json.dumps(
                {
                    "name": name,
                    "verdict": d["verdict"],
                    "level": d["level"],
                    "cell": fd.get("cell_index"),
                    "shows_at": fd.get("shows_at"),
                    "kind": fd.get("kind"),
                    "cause": fd.get("cause"),
                    "published": [
                        d["published"] and d["published"]["matching"],
                        d["published"] and d["published"]["compared"],
                    ],
                    "reason": d["reason"][:200],
                    "seconds": round(d["seconds"], 1),
                }
            ),
            flush=True,
        )
