"""``REPRODUCE.md``: the bundle's guide for a person, filled from ``templates/REPRODUCE.md.tmpl``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from repro_nb.bundle.envfiles import python_version
from repro_nb.bundle.layout import DATA_FILES
from repro_nb.capture.config import flatten_config
from repro_nb.compare.preview import stored_value_text
from repro_nb.environments.lock import Lock
from repro_nb.render import cell_label, human_size, markdown_table, md_escape, shorten
from repro_nb.seeding.cuda_ops import CUDA_ADVICE, cuda_nondeterministic_cells

__all__ = ["ReproduceContext", "reproduce_md"]

_TEMPLATE = Path(__file__).parent / "templates" / "REPRODUCE.md.tmpl"


@dataclass
class ReproduceContext:
    """What REPRODUCE.md is written from.

    Attributes
    ----------
    notebook_name
        The source notebook's file name.
    version
        The repro_nb version writing the bundle.
    env, session, git
        The recorded environment, session row and git state of the reference run.
    kernel_env
        The variables the kernel must start with.
    n_code_cells
        Code cells in the notebook.
    executed
        Whether export executed the notebook to get the run.
    lock
        The bundle's full lock.
    wheel_name
        The repro_nb wheel in ``wheels/``.
    has_patch, patch_truncated
        Whether the bundle holds ``git.patch``, and whether it was cut at its cap.
    data
        The data entries (``data/manifest.json``).
    checks, spread, cells, nondeterminism
        As in ``expected.json``.
    n_same_seed_runs
        Recorded runs with the reference run's seed settings.
    files
        The bundle's files to list (copied data files as one ``data/files/…`` line).
    purposes
        File -> what it is for.
    env_name, docker_base
        The conda environment / image name and the Dockerfile's base image.
    config
        The run's configuration values (:func:`repro_nb.store.run_config`).
    notebook
        The notebook as executed (cells are named by it: ``cell 5 (code cell 3)``, and the
        cells calling ops nondeterministic only on CUDA are found in it).
    """

    notebook_name: str
    version: str
    env: Mapping[str, Any] | None
    session: Mapping[str, Any]
    git: Mapping[str, Any] | None
    kernel_env: Mapping[str, str]
    n_code_cells: int
    executed: bool
    lock: Lock
    wheel_name: str
    has_patch: bool
    patch_truncated: bool
    data: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    spread: Mapping[str, Any]
    cells: list[dict[str, Any]]
    nondeterminism: list[dict[str, Any]]
    n_same_seed_runs: int
    files: list[str]
    purposes: Mapping[str, str]
    env_name: str
    docker_base: str
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notebook: Mapping[str, Any] = field(default_factory=dict)


def _what_ran(ctx: ReproduceContext) -> str:
    session = ctx.session
    git = ctx.git or {}
    seed = session.get("seed") or {}
    requested = seed.get("requested") or {}
    effective = seed.get("effective") or {}
    kenv = ctx.kernel_env
    started = session.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)) if started else "unknown"
    what = [
        (
            "notebook",
            f"`notebook.ipynb` (from `{ctx.notebook_name}`), {ctx.n_code_cells} code cells run top to bottom in one kernel",
        ),
        (
            "recorded",
            f"{when} on host `{session.get('hostname') or '?'}`, run `{session.get('run_uuid', '?')}`"
            + (
                " (executed by `repro-nb export`)"
                if ctx.executed or session.get("kind") == "export"
                else ""
            ),
        ),
    ]
    if requested:
        det = requested.get("deterministic")
        seed_text = f"`%repro_seed {requested.get('seed')}`" + (
            " with deterministic algorithms requested" if det else ""
        )
        known = {
            "deterministic algorithms": effective.get("deterministic_algorithms"),
            "cuDNN deterministic": effective.get("cudnn_deterministic"),
        }
        known = {k: v for k, v in known.items() if v is not None}
        if det and known:
            seed_text += " (effective: " + ", ".join(f"{k} {v}" for k, v in known.items()) + ")"

        what.append(("seed", seed_text))
    else:
        what.append(
            ("seed", "not seeded with `%repro_seed` (random results may differ on every run)")
        )
    what.append(
        (
            "PYTHONHASHSEED",
            f"`{kenv['PYTHONHASHSEED']}`" if "PYTHONHASHSEED" in kenv else "random (not set)",
        )
    )
    if git.get("commit"):
        what.append(
            (
                "git",
                f"commit `{git['commit']}` on `{git.get('branch') or 'detached HEAD'}` "
                f"({git.get('status')})"
                + (f", remote `{git['remote']}`" if git.get("remote") else ""),
            )
        )
    else:
        what.append(("git", str(git.get("status") or "not in a git repository")))
    return "\n".join(f"| {k} | {md_escape(v)} |" for k, v in what)


def _hardware(ctx: ReproduceContext) -> str:
    env: Mapping[str, Any] = ctx.env or {}
    py = env.get("python", {})
    plat = env.get("platform", {})
    cpu = env.get("cpu", {})
    mem = env.get("memory", {})
    gpu = env.get("gpu") or {}
    hw = [
        f"- **Python** {py.get('version', '?')} ({py.get('implementation', '?')}), `{py.get('executable', '?')}`",
        f"- **Platform** {plat.get('platform') or plat.get('system', '?')}"
        + (f", libc {plat.get('libc')}" if plat.get("libc") else ""),
        f"- **CPU** {cpu.get('model') or '?'}, {cpu.get('count') or '?'} logical cores; "
        f"**RAM** {human_size(mem.get('total_bytes'))}",
    ]
    if gpu.get("devices"):
        names = ", ".join(
            f"{d.get('name')} (compute {d.get('capability')})" for d in gpu["devices"]
        )
        hw.append(
            f"- **GPU** {names}; CUDA {gpu.get('cuda')}, cuDNN {gpu.get('cudnn')}, driver {gpu.get('driver')}; "
            f"TF32 matmul {gpu.get('allow_tf32_matmul')}, TF32 cuDNN {gpu.get('allow_tf32_cudnn')}, "
            f"float32 matmul precision {gpu.get('float32_matmul_precision')}"
        )
    else:
        hw.append("- **GPU** none used")
    blas = (env.get("blas") or {}).get("libraries") or []
    if blas:
        hw.append(
            "- **BLAS** "
            + "; ".join(
                f"{b.get('prefix') or b.get('api')} {b.get('version') or ''} ({b.get('threading_layer') or '?'}, "
                f"{b.get('num_threads')} threads)".replace("  ", " ")
                for b in blas
            )
        )
    threads = {k: v for k, v in (env.get("threads") or {}).items() if v is not None}
    if threads:
        hw.append("- **Threads** " + ", ".join(f"{k}={v}" for k, v in threads.items()))
    own = [ctx.lock.get(n) for n in ctx.lock.notebook_dists]
    pins = [f"`{p.pin}`" for p in own if p is not None]
    if pins:
        hw.append(
            "- **Packages the notebook imported** "
            + ", ".join(pins[:25])
            + (" …" if len(pins) > 25 else "")
            + f"; with what they need and the kernel, {len(ctx.lock.packages)} distributions "
            "are locked (`pylock.toml`)"
        )
    return "\n".join(hw)


def _verify_wheel_step(ctx: ReproduceContext) -> str:
    return (
        ""
        if ctx.lock.needs_repro_nb
        else f"pip install wheels/{ctx.wheel_name}     # repro-nb, only to verify\n"
    )


def _pip_setup(ctx: ReproduceContext) -> str:
    full, mm = python_version(ctx.env or {})
    hashes = " --require-hashes" if ctx.lock.hashed else ""
    return (
        f"python{mm} -m venv .venv          # Python {full} was used\n"
        ". .venv/bin/activate\n"
        f"pip install --no-deps{hashes} -r binder/requirements.txt\n" + _verify_wheel_step(ctx)
    ).rstrip("\n")


def _sources(ctx: ReproduceContext) -> str:
    """Where the locked files come from, and what the lock could not pin."""
    lock = ctx.lock
    lines = [
        f"The lock holds {len(lock.packages)} distributions: what the notebook imports "
        "(in its code, or while it ran), the Jupyter kernel, and every requirement of "
        "those, recursively, at the versions that were installed. "
        + (
            "Every file has its sha256, so `--require-hashes` installs exactly these files."
            if lock.hashed
            else "Some files have no known hash (below), so the lock is installed without "
            "hash checking."
        )
    ]
    extra = lock.extra_indexes
    if extra:
        lines.append(
            "Some builds are not on PyPI: "
            + ", ".join(f"`{p.pin}` (from {p.index})" for p in lock.packages if p.index in extra)
            + ". `binder/requirements.txt` names "
            + ("that index" if len(extra) == 1 else "those indexes")
            + " with `--extra-index-url`, which pip and uv both read."
        )
    if any(p.origin == "bundle" for p in lock.packages):
        lines.append(
            f"`wheels/{ctx.wheel_name}` is the repro_nb that made this bundle; the notebook "
            "needs it, and `--find-links ../wheels` in `binder/requirements.txt` (relative to "
            "that file) points pip and uv at it."
        )
    else:
        lines.append(
            f"`wheels/{ctx.wheel_name}` is the repro_nb that made this bundle. The notebook "
            "runs without it (it only loads the extension for capture); install it to verify."
        )
    notes = [*lock.notes, *lock.problems]
    if notes:
        lines.append(
            "What the lock could not pin, or you should know:\n\n"
            + "\n".join(f"- {md_escape(n)}" for n in notes)
        )
    return "\n\n".join(lines)


def _source_code(ctx: ReproduceContext) -> str:
    git = ctx.git or {}
    if not git.get("commit"):
        return (
            "The notebook did not run in a git repository; everything it needs is in this bundle."
        )
    remote = git.get("remote") or "<the repository>"
    source_code = (
        "The notebook ran in a git repository. To get the code it may import:\n\n"
        f"```bash\ngit clone {remote} project && cd project\ngit checkout {git['commit']}\n"
        + (
            "git apply /path/to/bundle/git.patch     # the uncommitted changes of the run\n"
            if ctx.has_patch
            else ""
        )
        + "```"
    )
    if ctx.has_patch and ctx.patch_truncated:
        source_code += "\n\n`git.patch` was cut at its size cap; some changes are missing."
    if git.get("untracked"):
        source_code += (
            f"\n\nThe repository also had {len(git['untracked'])} untracked file(s) "
            "(not in git.patch), e.g. `" + git["untracked"][0] + "`."
        )
    return source_code


def _code_numbers(ctx: ReproduceContext) -> dict[int, int]:
    """Cell index -> 1-based code-cell number, from the notebook."""
    cells = ctx.notebook.get("cells", [])
    code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    return {i: n + 1 for n, i in enumerate(code)}


def _cell_names(ctx: ReproduceContext) -> dict[str, str]:
    """Cell key -> ``cell 5 (code cell 3) `first line…``` (1-based among all cells)."""
    numbers = _code_numbers(ctx)
    out = {}
    for c in ctx.cells:
        idx = c.get("cell_index")
        label = (
            cell_label(idx, numbers.get(idx))
            if isinstance(idx, int)
            else "a cell no longer in the notebook"
        )
        if c.get("excerpt"):
            label += f" `{c['excerpt']}`"
        out[str(c.get("key"))] = label
    return out


def _cell_name(ctx: ReproduceContext, index: Any, excerpt_text: str | None = None) -> str:
    label = cell_label(index if isinstance(index, int) else None, _code_numbers(ctx).get(index))
    return label + (f" `{excerpt_text}`" if excerpt_text else "")


def _data_section(data: list[dict[str, Any]], names: dict[str, str]) -> str:
    if not data:
        return "The notebook read no data files (none were recorded)."
    rows = [
        {
            "file (as the notebook opens it)": f"`{e['path']}`",
            "size": human_size(e["size"]),
            "sha256": f"`{e['sha256']}`",
            "in bundle": (
                f"`{e['bundle_path']}`"
                if e["copied"]
                else "no (too large, or changed): bring it yourself"
            ),
            "read by": ", ".join(names.get(k, k) for k in e["cells"][:4]),
        }
        for e in data
    ]
    data_section = (
        "The notebook read these files (recorded when it opened them):\n\n"
        + markdown_table(rows)
        + "\n\n"
        "`repro-nb verify .` puts the copied files where the notebook expects them (relative "
        "to the notebook) and checks every hash. To check by hand, from the bundle folder:\n\n"
        "```bash\n"
        + (
            f"grep ' {DATA_FILES}/' MANIFEST.sha256 | sha256sum -c -\n"
            if any(e["copied"] for e in data)
            else ""
        )
        + "".join(
            f"echo '{e['sha256']}  {e['path']}' | sha256sum -c -\n" for e in data if not e["copied"]
        )
        + "```\n"
    )
    if any(not e["copied"] for e in data):
        data_section += (
            "\nFiles not in the bundle must be placed at their path relative to the folder you "
            "verify from (the bundle folder by default), or pass `--data-dir DIR`; the last "
            "command above checks them."
        )
    return data_section


def _spread_text(s: Mapping[str, Any] | None) -> str:
    if not s or s.get("std") is None:
        return "–"
    return (
        f"{s['mean']:.6g} ± {s['std']:.2g} (95% CI [{s['ci_low']:.6g}, {s['ci_high']:.6g}], "
        f"{s['n']} seeds)"
    )


def _expected_results(ctx: ReproduceContext) -> str:
    if ctx.checks:
        rows = []
        for c in ctx.checks:
            tol = (
                f"rtol {c.get('rtol'):g}, atol {c.get('atol'):g}"
                if c.get("rtol") is not None
                else "default"
            )
            row = {
                "cell": _cell_name(ctx, c.get("cell_index")),
                "check": f"`{c['name']}`",
                "expected value": stored_value_text(c["value"]),
                "tolerance": tol,
            }
            if ctx.spread:
                row["spread over seeds"] = _spread_text(ctx.spread.get(c["name"]))
            rows.append(row)
        expected_results = (
            "Checks recorded with `%repro_check` / `repro_nb.check(...)`. A value passes when "
            "`|actual − expected| ≤ atol + rtol·|expected|`:\n\n" + markdown_table(rows)
        )
    else:
        expected_results = "No checks were recorded (add `%repro_check NAME EXPR` to the notebook to get numbers with tolerances here)."
    n_vals = sum(len(c["values"]) for c in ctx.cells)
    n_rng = sum(1 for c in ctx.cells if c.get("rng"))
    expected_results += (
        f"\n\nBeyond the checks, `expected.json` fingerprints {len(ctx.cells)} cells: "
        f"RNG states after {n_rng} of them and content hashes of {n_vals} variables. Exact "
        "hashes can differ on other hardware or library builds; checks within tolerance "
        "still pass then, and the report says so."
    )
    return expected_results


def _configuration(ctx: ReproduceContext) -> str:
    if not ctx.config:
        return (
            "No configuration values were recorded. Values bound to `config`, `cfg`, `params`, "
            "`hparams` or `args` (dataclasses, pydantic models, OmegaConf configs, "
            "`argparse.Namespace`, dicts of scalars), names marked with "
            "`%repro_snapshot on --config NAME`, and the `parameters` cell are."
        )
    rows = []
    for name, entry in ctx.config.items():
        for key, value in flatten_config(entry.get("value"), name).items():
            rows.append({"key": f"`{key}`", "value": f"`{shorten(json.dumps(value), 80)}`"})
    kinds = ", ".join(f"`{n}` ({e.get('kind')})" for n, e in ctx.config.items())
    return (
        f"The run was configured with {kinds}; secrets are shown as `<redacted>`. "
        "`repro-nb compare NOTEBOOK RUN_A RUN_B` compares these key by key.\n\n"
        + markdown_table(rows[:200])
        + (f"\n\n({len(rows) - 200} more keys in `expected.json`.)" if len(rows) > 200 else "")
    )


def _nondeterminism(ctx: ReproduceContext) -> str:
    seed = ctx.session.get("seed") or {}
    gpu = (ctx.env or {}).get("gpu") or {}
    lines = []
    for item in ctx.nondeterminism:
        lines.append(
            f"- {_cell_name(ctx, item.get('cell_index'), md_escape(item['excerpt']))} differed across recorded runs "
            f"with the same seed: {item['reason']}"
        )
    ops = sorted({w for c in ctx.cells for w in c.get("warnings") or []})
    for op in ops:
        lines.append(f"- deterministic mode warned about a nondeterministic operation: {op}")
    cuda = cuda_nondeterministic_cells(ctx.notebook)
    lines += [f"- {md_escape(u.line)}" for u in cuda]
    if cuda:
        lines.append(f"- {CUDA_ADVICE}")
    if "PYTHONHASHSEED" not in ctx.kernel_env:
        lines.append(
            "- PYTHONHASHSEED was random: the iteration order of sets of strings can change between runs."
        )
    for w in dict.fromkeys(seed.get("warnings") or []):
        if "PYTHONHASHSEED" in w and any("PYTHONHASHSEED" in ln for ln in lines):
            continue  # said once, above
        lines.append(f"- seeding warned: {w}")
    if not seed.get("requested"):
        lines.append(
            "- the notebook is not seeded: random numbers differ on every run. `repro-nb fix` adds a seed."
        )
    if gpu.get("devices") and (gpu.get("allow_tf32_matmul") or gpu.get("allow_tf32_cudnn")):
        lines.append("- TF32 was enabled: float32 results differ across GPU generations.")
    if not lines:
        n_runs = ctx.n_same_seed_runs
        lines.append(
            f"None observed ({n_runs} recorded run(s) with the same seed settings)."
            if n_runs > 1
            else "None known (one recorded run; `repro-nb verify . --runs 3` would tell)."
        )
    return "\n".join(lines)


def reproduce_md(ctx: ReproduceContext) -> str:
    """The text of ``REPRODUCE.md``.

    Parameters
    ----------
    ctx
        What the guide is written from.

    Returns
    -------
    str
    """
    env_exports = (
        "\n".join(f"export {k}={v}" for k, v in ctx.kernel_env.items()) or "# (none were recorded)"
    )
    files_table = "\n".join(f"| `{f}` | {md_escape(ctx.purposes.get(f, ''))} |" for f in ctx.files)
    template = Template(_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        notebook_name=ctx.notebook_name,
        repro_version=ctx.version,
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        what_ran=_what_ran(ctx),
        hardware=_hardware(ctx),
        pip_setup=_pip_setup(ctx),
        sources=_sources(ctx),
        verify_wheel_step=_verify_wheel_step(ctx),
        pylock_note="hashes checked" if ctx.lock.hashed else "without hashes (see below)",
        env_name=ctx.env_name,
        docker_base=ctx.docker_base,
        source_code=_source_code(ctx),
        data_section=_data_section(ctx.data, _cell_names(ctx)),
        env_exports=env_exports,
        configuration=_configuration(ctx),
        expected_results=_expected_results(ctx),
        nondeterminism=_nondeterminism(ctx),
        files_table=files_table,
    )
