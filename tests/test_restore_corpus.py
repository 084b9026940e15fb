"""``repro-nb restore`` on real old notebooks that fail today because a library changed.

The corpus (``tests/corpus/restore``: public notebooks copied unmodified with their data) and
its truth were made independently of repro_nb: each notebook was run today with plain
nbclient, its library-caused errors named by hand, and an environment that makes it run was
chosen by hand (``hand_env``), with the saved outputs it matches counted by the corpus's own
script. Restore must make every cell that failed because of a library change run, without
a person choosing versions, and match at least as many saved outputs as the hand-made one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "restore"
TRUTH = json.loads((CORPUS / "truth.json").read_text()) if (CORPUS / "truth.json").is_file() else {}

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("store_beside_notebooks")]


def _index_or_skip() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI cannot be reached from here ({exc}); restore resolves against it")


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_restore_brings_the_notebook_back(name: str, tmp_path: Path) -> None:
    _index_or_skip()
    from repro_nb.restoration.run import restore

    truth = TRUTH[name]
    repo = tmp_path / name
    shutil.copytree(CORPUS / name, repo)
    nb = repo / truth["notebook"]
    # As it lies in its repository: the last commit that touched it is the date_hint the
    # corpus recorded (git log of the original repository).
    when = f"{truth['date_hint']}T12:00:00"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=corpus", "-c", "user.email=c@x", "commit", "-qm", "as published"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    result = restore(nb, tmp_path / "restored", bundle=False)
    # The versions a notebook shows date it better than git; else git must.
    assert result.dating.source in ("versions", "git"), result.dating
    if result.dating.source == "git":
        assert result.dating.date.isoformat() == truth["date_hint"]
    library = {e["cell_index"] for e in truth["today"]["errors"] if e["library_change"]}
    assert library, "the corpus holds notebooks that fail today because a library changed"
    still = {e["cell_index"]: e["error"] for e in result.after.errors if e["cell_index"] in library}
    assert not still, f"{name}: library-caused failures remain: {still}\n{result.to_text()}"
    hand = truth["hand_env"]
    assert result.after.matched >= hand["outputs_matched"], result.to_text()
    # Honest about the rest: every error left is named in the report.
    assert len(result.remaining) == len(result.after.errors)
    record = {
        "dated": [result.dating.source, result.dating.date.isoformat()],
        "moved": result.moved,
        "python": result.python,
        "before": [result.before.ran, result.before.matched],
        "after": [
            result.after.ran,
            result.after.cells,
            result.after.matched,
            result.after.compared,
        ],
        "hand": [hand.get("outputs_matched")],
        "tries": len(result.attempts),
        "changes": result.changes,
        "seconds": result.seconds,
    }
    out = os.environ.get("REPRO_NB_CORPUS_LOG")
    if out:  # the numbers quoted in the issue note
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({name: record}) + "\n")
