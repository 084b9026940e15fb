"""The terminal as a user meets it: one-line warnings, truthful ``--help``, names that exist,
and cells that call ops nondeterministic only on CUDA named in verify, ``show`` and REPRODUCE.md.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import run_env
from nbhelpers import NOTEBOOKS

import repro_nb
from repro_nb.cli import build_parser, main
from repro_nb.cli.messages import warnings_as_lines
from repro_nb.errors import ReproWarning
from repro_nb.seeding.cuda_ops import cuda_nondeterministic_cells, find_cuda_nondeterminism
from repro_nb.verification import VerifyResult

PACKAGE = Path(repro_nb.__file__).resolve().parent
REPRO_NB = Path(sys.executable).with_name("repro-nb")

#: The codes each command can exit with, read from its code: every command returns 2 on a
#: ReproError/OSError and 130 on Ctrl-C (cli.main); run returns {"ok": 0, "error": 1} else 2;
#: verify, rebuild and demo return VerifyResult.exit_code (0, 1, 2); restore 0 or 1; the
#: store readers, export, fix and log return 0.
EXPECTED_EXIT_CODES = {
    "run": {0, 1, 2, 130},
    "export": {0, 2, 130},
    "verify": {0, 1, 2, 130},
    "rebuild": {0, 1, 2, 130},
    "restore": {0, 1, 2, 130},
    "fix": {0, 2, 130},
    "log": {0, 2, 130},
    "show": {0, 2, 130},
    "runs": {0, 2, 130},
    "drift": {0, 2, 130},
    "baseline": {0, 2, 130},
    "compare": {0, 2, 130},
    "demo": {0, 1, 2, 130},
}


def _subcommands() -> dict[str, object]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return dict(sub.choices)  # type: ignore[arg-type]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def _block(text: str, title: str) -> list[str]:
    """The indented lines under ``title:`` (up to the next blank line)."""
    lines = text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [ln for ln in lines if ln.strip()]


# ----------------------------------------------------------------------------- --help


def test_every_help_lists_its_own_exit_codes_and_examples_that_parse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = _subcommands()
    assert set(commands) == set(EXPECTED_EXIT_CODES), "a command without an exit-code table"
    parser = build_parser()
    for name in commands:
        text = _help(capsys, name)
        codes = {int(m.group(1)) for m in re.finditer(r"^\s{2,4}(\d+)  \S", text, re.M)}
        assert codes == EXPECTED_EXIT_CODES[name], (name, codes)
        if 1 not in EXPECTED_EXIT_CODES[name]:
            assert "diverged" not in text.split("exit codes:")[1], name
        assert "%%" not in text, f"`repro-nb {name} --help` shows a doubled %: {text}"
        examples = _block(text, "examples")
        assert examples, f"`repro-nb {name} --help` has no examples"
        for line in examples:
            argv = shlex.split(line.strip())
            assert argv[0] == "repro-nb" and argv[1] in commands, line
            parser.parse_args(argv[1:])  # exits (and fails the test) on an unknown option
    top = _help(capsys)
    assert "%%" not in top and "1  diverged" not in top
    assert "%repro_seed" in top  # the subcommand list formats its help with %: one % shows


def test_fix_help_names_the_real_magics(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "fix")
    assert "%load_ext repro_nb" in " ".join(text.split())
    assert "%%load_ext" not in text and "%%repro_seed" not in text


# ----------------------------------------------------------------------------- names


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def _registered_magics(shell: object) -> tuple[set[str], set[str]]:
    from repro_nb.kernel.magics import ReproMagics

    magics = ReproMagics(shell).magics
    return set(magics["line"]), set(magics["cell"])


def test_every_name_a_message_tells_the_user_to_call_exists(_shell: object) -> None:
    sources = _sources()
    api = {m.group(1) for _, text in sources for m in re.finditer(r"repro_nb\.([a-z_]+)\(", text)}
    assert "write_kernelspec_env" in api  # the seed warning's advice
    missing = sorted(name for name in api if not hasattr(repro_nb, name))
    assert not missing, f"messages name repro_nb.X() that the package lacks: {missing}"

    line, cell = _registered_magics(_shell)
    for path, text in sources:
        for m in re.finditer(r"(?<![%\w])(%%?)(repro_[a-z_]+)", text):
            percent, name = m.groups()
            # argparse help strings escape % as %%; they show as a line magic
            if percent == "%%" and "cli" not in path.parts:
                assert name in cell, f"{path.name}: %%{name} is not a cell magic"
            else:
                assert name in line, f"{path.name}: %{name} is not a magic"

    commands = set(_subcommands())
    prose = {"can", "for"}  # "a Python repro-nb can start", "# repro-nb for `repro-nb verify`"
    said = {
        m.group(1)
        for _, text in sources
        for m in re.finditer(r"\brepro-nb ([a-z][a-z-]*)\b", text)
        if m.group(1) not in prose
    }
    assert said - commands == set(), f"messages name repro-nb commands that do not exist: {said}"


# ----------------------------------------------------------------------------- warnings


def test_warnings_are_one_line_without_a_source_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with warnings_as_lines():
        warnings.warn("repro_nb export: executed x.ipynb\n  first", ReproWarning, stacklevel=1)
    assert capsys.readouterr().err == "repro-nb: warning: executed x.ipynb first\n"
    # inside a recording block (the --progress json path) warnings are recorded, not shown
    with warnings_as_lines(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("kept for JSON", ReproWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["kept for JSON"]
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_export_warning_is_one_clean_line(tmp_path: Path) -> None:
    """`repro-nb export` of a notebook never recorded executes it and warns, in one line."""
    nb = tmp_path / "seeded.ipynb"
    shutil.copy(NOTEBOOKS / "seeded.ipynb", nb)
    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    env = run_env()
    env.pop("REPRO_NB_STORE", None)
    proc = subprocess.run(
        [str(REPRO_NB), "export", str(nb), "-o", str(tmp_path / "b.zip")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    ours = [ln for ln in proc.stderr.splitlines() if "executed seeded.ipynb" in ln]
    assert len(ours) == 1, proc.stderr
    assert ours[0].startswith("repro-nb: warning: executed seeded.ipynb"), ours[0]
    for noise in ("ReproWarning", "cli", ".py:", "export_bundle(", "repro_nb export:"):
        assert noise not in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------- CUDA-only ops


def test_cuda_ops_are_found_by_their_calls_not_by_their_words() -> None:
    sources = [
        None,  # markdown
        "import torch\nimport numpy as np\nimport matplotlib.pyplot as plt",
        "x = torch.zeros(3)\nx.index_add_(0, i, s)  # and index_add_( again\nnp.cumsum(a)",
        "plt.scatter(a, b); df.median(); np.bincount(a)  # x.scatter_add_(0)",
        "y = torch.nn.functional.interpolate(z, scale_factor=2)\nmy_interpolate(1)",
        "t.scatter_add_(0, i, s); torch.cumsum(t, 0); pool = nn.AdaptiveAvgPool2d(1)",
    ]
    found = [(u.cell_index, u.op) for u in find_cuda_nondeterminism(sources)]
    assert found == [
        (2, "index_add_"),
        (4, "interpolate"),
        (5, "scatter_add_"),
        (5, "cumsum"),
        (5, "AdaptiveAvgPool2d"),
    ]
    # without torch anywhere, the same words are someone else's
    assert find_cuda_nondeterminism(["x.index_add_(0)", "F.interpolate(a)"]) == []

    res = VerifyResult(
        "b",
        "bundle",
        "reproduced",
        "every cell matches",
        cuda_nondeterminism=find_cuda_nondeterminism(sources, execution_counts={2: 7}),
    )
    md = res.to_markdown()
    assert "## Nondeterministic on CUDA: 3 cells" in md
    assert "- cell 3 · In [7]: index_add_ is nondeterministic on CUDA (" in md
    assert "cell 6: AdaptiveAvgPool2d is nondeterministic on CUDA in backward" in md
    assert "cell 3 · In [7]: index_add_" in res.to_html()


def _torch_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# CUDA-only nondeterminism"),
        nbformat.v4.new_code_cell("import torch\nimport torch.nn.functional as F"),
        nbformat.v4.new_markdown_cell("Sums into repeated indices:"),
        nbformat.v4.new_code_cell(
            "x = torch.zeros(3)\nx.index_add_(0, torch.tensor([0, 1, 1]), torch.ones(3))\n"
            "x.tolist()"
        ),
        nbformat.v4.new_code_cell(
            "y = F.interpolate(torch.arange(4.0).reshape(1, 1, 4), scale_factor=2, "
            "mode='linear')\ny.shape"
        ),
    ]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_cuda_only_ops_are_named_in_show_verify_and_reproduce_md(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    nb = _torch_notebook(tmp_path / "gpu.ipynb")
    assert main(["run", str(nb), "--inplace"]) == 0
    capsys.readouterr()
    saved = json.loads(nb.read_text())
    prompts = {i: c.get("execution_count") for i, c in enumerate(saved["cells"])}
    assert isinstance(prompts[3], int) and isinstance(prompts[4], int)
    index_add = f"cell 4 · In [{prompts[3]}]: index_add_ is nondeterministic on CUDA ("
    interpolate = f"cell 5 · In [{prompts[4]}]: interpolate is nondeterministic on CUDA in backward"
    lines = [u.line for u in cuda_nondeterministic_cells(saved)]
    assert len(lines) == 2
    assert lines[0].startswith(index_add) and lines[1].startswith(interpolate), lines

    assert main(["show", str(nb)]) == 0
    out = capsys.readouterr().out
    assert "nondeterministic on CUDA: 2 cells" in out
    assert index_add in out and interpolate in out

    bundle = tmp_path / "bundle"
    assert main(["export", str(nb), "-o", str(bundle)]) == 0
    capsys.readouterr()
    guide = (bundle / "REPRODUCE.md").read_text()
    assert f"- {index_add}" in guide and f"- {interpolate}" in guide

    report = tmp_path / "report.json"
    assert main(["verify", str(bundle), "--no-progress", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "  nondeterministic on CUDA:\n    2 cells\n" in out
    assert index_add in out and interpolate in out and "deterministic mode" in out
    data = json.loads(report.read_text())
    assert [(u["cell_index"], u["op"]) for u in data["cuda_nondeterminism"]] == [
        (3, "index_add_"),
        (4, "interpolate"),
    ]
