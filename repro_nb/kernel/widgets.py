"""The live reproducibility panel (``%repro_panel``): plain ipywidgets 8, in the kernel.

Four tabs: Overview (seed and determinism requested vs effective, capture, this run vs the
baseline, the reproducibility checklist with a score), Drift (baseline environment vs now,
coloured by severity, imported packages first, with a filter), Validation (checks vs the
baseline, statistics over runs and a spread plot when there are three runs or more) and Cells
(this run's cells vs the baseline's, first divergent cell highlighted).

Cost: a panel that was never displayed costs nothing: the recorder calls listeners only from
a list, and :func:`_on_cell` is put on that list when the first panel is displayed and taken
off when the last one is closed. A displayed panel's :meth:`Panel.refresh` only sets an event
(microseconds); a daemon thread per panel waits for the store writer, reads the store and
updates the widgets, at most every ``min_interval`` seconds, so cells are never slowed by it.
Widget traits set from that thread are sent on ipykernel's thread-safe IOPub channel.

What each tab shows is rendered by :mod:`repro_nb.kernel.panel_html` (the verdict first, rows
with visible reasons, headers naming both sides, cells numbered as the notebook counts them).

The plot is drawn with ``matplotlib.figure.Figure`` on an Agg canvas, so the user's pyplot
state and backend are never touched.
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from repro_nb.capture.recorder import add_listener, remove_listener
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.overview import overview
from repro_nb.compare.results import ValidationReport
from repro_nb.compare.run_stats import RunStats
from repro_nb.errors import UsageProblem
from repro_nb.kernel.panel_html import (
    PANEL_CSS,
    CellNumbers,
    Sides,
    cell_numbers,
    render_cells,
    render_drift,
    render_overview,
    render_verdict,
)
from repro_nb.render import BLUE, GREEN, RED
from repro_nb.store import Store, latest_session, run_cells

__all__ = ["Panel", "displayed_panels", "panel", "refresh_all", "spread_png"]

#: Panels currently displayed (weak: a panel the user dropped is not kept alive by us).
_DISPLAYED: weakref.WeakSet[Panel] = weakref.WeakSet()
_LISTENING = False
_LOCK = threading.Lock()

_MAX_PLOTS = 6


def displayed_panels() -> list[Panel]:
    """The panels that are displayed now."""
    return list(_DISPLAYED)


def refresh_all(recorder: Any = None) -> None:
    """Ask every displayed panel to refresh; returns at once when none is displayed."""
    if not _DISPLAYED:
        return
    for p in list(_DISPLAYED):
        p.refresh()


def _on_cell(recorder: Any) -> None:
    """Recorder listener: after every recorded cell."""
    for p in list(_DISPLAYED):
        if p.recorder is None or p.recorder is recorder:
            p.refresh()


def _listen(on: bool) -> None:
    global _LISTENING
    with _LOCK:
        if on and not _LISTENING:
            add_listener(_on_cell)
            _LISTENING = True
        elif not on and _LISTENING and not _DISPLAYED:
            remove_listener(_on_cell)
            _LISTENING = False


# --------------------------------------------------------------------------- rendering


def _esc(x: Any) -> str:
    return html.escape("–" if x is None else str(x))


def spread_png(all_stats: dict[str, RunStats], *, min_runs: int = 3) -> bytes | None:
    """A small strip plot per numeric check (runs, mean, 95% CI) as PNG bytes.

    Drawn on a ``matplotlib.figure.Figure`` with an Agg canvas: pyplot and the user's backend
    are left alone.

    Parameters
    ----------
    all_stats
        Run statistics per check name.
    min_runs
        Checks with fewer runs are left out.

    Returns
    -------
    bytes or None
        None when no check has enough runs.
    """
    chosen = [(n, s) for n, s in all_stats.items() if s is not None and len(s.values) >= min_runs]
    if not chosen:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chosen = chosen[:_MAX_PLOTS]
    fig = Figure(figsize=(2.4 * len(chosen), 2.2), dpi=80)
    FigureCanvasAgg(fig)
    for i, (name, s) in enumerate(chosen):
        ax = fig.add_subplot(1, len(chosen), i + 1)
        xs = range(1, len(s.values) + 1)
        ax.plot(xs, s.values, "o", color=BLUE, ms=4, label="runs")
        if s.mean is not None:
            ax.axhline(s.mean, color=GREEN if s.stable else RED, lw=1)
        if s.ci_low is not None and s.ci_high is not None:
            ax.axhspan(s.ci_low, s.ci_high, color="#8c959f", alpha=0.2, lw=0)
        lo, hi = min(s.values), max(s.values)
        pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
        ax.set_ylim(lo - pad, hi + pad)  # the data, not a wide CI band, sets the scale
        ax.set_xticks(list(xs))
        ax.set_title(name if len(name) <= 24 else name[:23] + "…", fontsize=9)
        ax.set_xlabel("run", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------- the panel


class Panel:
    """The reproducibility panel of one notebook.

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    notebook
        The notebook's store key.
    session_provider
        Returns the run to show (e.g. ``lambda: recorder.session_id``); None: the latest run.
    notebook_path
        The notebook file (cell order, pinned-dependency lookup), when known.
    flush
        Called before reading the store (e.g. ``recorder.flush``) so the last cell is in it.
    recorder
        The live :class:`repro_nb.recorder.Recorder`, when the panel belongs to one.
    min_interval
        Seconds between two background updates (refreshes in between are merged).
    """

    def __init__(
        self,
        store: Store,
        notebook: str,
        session_provider: Callable[[], int | None] | None = None,
        *,
        notebook_path: str | os.PathLike[str] | None = None,
        flush: Callable[[], Any] | None = None,
        recorder: Any = None,
        min_interval: float = 0.3,
    ) -> None:
        self.store = store
        self.notebook = notebook
        self.session_provider = session_provider
        self.notebook_path = notebook_path
        self.flush = flush
        self.recorder = recorder
        self.min_interval = min_interval
        self.drift: DriftReport | None = None
        self.validation: ValidationReport | None = None
        self.updates = 0
        self.last_error: str | None = None
        self._dirty = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._plot_key: Any = None
        self._update_lock = threading.Lock()
        self._build()

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        # auto, not 100%: a widget's own margin would make 100% overflow its box
        full = {"width": "auto", "align_self": "stretch", "min_width": "0"}
        wrap = {"flex_flow": "row wrap", **full}
        self.style = w.HTML(PANEL_CSS, layout=w.Layout(display="none"))
        self.header = w.HTML(layout=w.Layout(flex="1 1 240px", min_width="0"))
        self.refresh_button = w.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Read the store again",
            layout=w.Layout(width="auto", min_width="96px", flex="0 0 auto"),
        )
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.overview_html = w.HTML(layout=w.Layout(**full))
        self.drift_text = w.Text(
            placeholder="filter: name, kind or version",
            layout=w.Layout(flex="1 1 180px", min_width="0", max_width="320px"),
        )
        self.drift_severity = w.Dropdown(
            options=[
                ("all severities", ""),
                ("major", "major"),
                ("minor and major", "minor"),
                ("minor", "=minor"),
                ("info", "=info"),
            ],
            value="",
            layout=w.Layout(flex="0 1 170px", min_width="0"),
        )
        self.drift_kind = w.Dropdown(
            options=[("all kinds", "")], value="", layout=w.Layout(flex="0 1 150px", min_width="0")
        )
        self.drift_html = w.HTML(layout=w.Layout(**full))
        for control in (self.drift_text, self.drift_severity, self.drift_kind):
            control.observe(lambda _c: self._render_drift(), names="value")
        self.validation_html = w.HTML(layout=w.Layout(**full))
        self.validation_plot = w.Image(
            format="png", layout=w.Layout(display="none", max_width="100%")
        )
        self.cells_html = w.HTML(layout=w.Layout(**full))
        # Compare: two runs side by side (config, git, environment, checks, cells).
        self.compare_a = w.Dropdown(
            description="A", layout=w.Layout(flex="1 1 240px", min_width="0", max_width="360px")
        )
        self.compare_b = w.Dropdown(
            description="B", layout=w.Layout(flex="1 1 240px", min_width="0", max_width="360px")
        )
        self.compare_html = w.HTML(layout=w.Layout(**full))
        self.compare_html.add_class("repro-nb-panel-compare")
        for control in (self.compare_a, self.compare_b):
            control.observe(lambda _c: self._render_compare(), names="value")
        self._run_options: list[tuple[str, int]] = []
        self._compare_ready = True
        drift_box = w.VBox(
            [
                w.HBox(
                    [self.drift_text, self.drift_severity, self.drift_kind],
                    layout=w.Layout(**wrap),
                ),
                self.drift_html,
            ],
            layout=w.Layout(**full),
        )
        self.tabs = w.Tab(
            children=[
                self.overview_html,
                drift_box,
                w.VBox([self.validation_html, self.validation_plot], layout=w.Layout(**full)),
                self.cells_html,
                w.VBox(
                    [
                        w.HBox([self.compare_a, self.compare_b], layout=w.Layout(**wrap)),
                        self.compare_html,
                    ],
                    layout=w.Layout(**full),
                ),
            ],
            layout=w.Layout(**full),
        )
        self.tabs.titles = ("Overview", "Drift", "Validation", "Cells", "Compare")
        self.tabs.observe(lambda _c: self._render_compare(), names="selected_index")
        self.widget = w.VBox(
            [
                self.style,
                w.HBox([self.header, self.refresh_button], layout=w.Layout(**wrap)),
                self.tabs,
            ],
            layout=w.Layout(**full),
        )
        self.widget.add_class("repro-nb-panel")
        self.header.add_class("repro-nb-panel-header")
        self.drift_html.add_class("repro-nb-panel-drift")
        self.validation_html.add_class("repro-nb-panel-validation")
        self.cells_html.add_class("repro-nb-panel-cells")
        self.overview_html.add_class("repro-nb-panel-overview")
        self.header.value = self._header_html("loading…")
        self._numbers_key: Any = None
        self._numbers = CellNumbers()
        self._drift_sides: Sides | None = None

    def _header_html(self, text: str, *, error: bool = False) -> str:
        body = f"<span class='repro-nb-mark-no'>{_esc(text)}</span>" if error else _esc(text)
        return (
            "<div class='repro-nb-view repro-nb-header'><b>repro_nb</b> · "
            f"{_esc(self.notebook)} · {body}</div>"
        )

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self.show()
        return self.widget._repr_mimebundle_(**kwargs)

    def show(self) -> None:
        """Mark the panel displayed: it now follows every recorded cell."""
        if self._closed:
            return
        _DISPLAYED.add(self)
        _listen(True)
        self._start_thread()
        self.refresh()

    def close(self) -> None:
        """Stop following cells and close the widgets."""
        self._closed = True
        _DISPLAYED.discard(self)
        _listen(False)
        self._dirty.set()  # wake the thread so it ends
        self.widget.close()

    # ------------------------------------------------------------------ updates
    def refresh(self) -> None:
        """Ask for an update (cheap: the work happens on the panel's thread)."""
        self._idle.clear()
        self._dirty.set()
        if self._thread is None:  # not displayed: update in the caller's thread
            self.update()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until pending refreshes are done (tests, scripts)."""
        return self._idle.wait(timeout)

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="repro-nb-panel", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last = 0.0
        while not self._closed:
            self._dirty.wait()
            if self._closed:
                break
            pause = self.min_interval - (time.monotonic() - last)
            if pause > 0:
                time.sleep(pause)  # merge the refreshes of quickly running cells
            self._dirty.clear()
            self.update()
            last = time.monotonic()
            if not self._dirty.is_set():
                self._idle.set()

    def session_id(self) -> int | None:
        """The run shown: the provider's, else the latest run of the notebook."""
        sid = self.session_provider() if self.session_provider else None
        return sid if sid is not None else latest_session(self.store, self.notebook)

    def update(self) -> None:
        """Read the store and redraw every tab now (never raises; errors show in the header)."""
        with self._update_lock:
            try:
                self._update()
                self.last_error = None
            except Exception as exc:  # the panel must never break the kernel
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.header.value = self._header_html(
                    f"update failed: {self.last_error}", error=True
                )
            finally:
                self.updates += 1
                if self._thread is None:
                    self._idle.set()

    def _cell_numbers(self) -> CellNumbers:
        """The notebook's cell positions, read again only when its file changed."""
        path = self.notebook_path
        try:
            key = (os.fspath(path), os.stat(path).st_mtime_ns) if path else None
        except OSError:
            key = None
        if key != self._numbers_key:
            self._numbers_key = key
            self._numbers = cell_numbers(path) if key else CellNumbers()
        return self._numbers

    def _update(self) -> None:
        if self.flush is not None:
            self.flush()
        # The baseline's environment is compared with this process's now while the panel
        # follows a live recorder, with the run's recorded environment otherwise.
        live = self.recorder is not None
        view = overview(
            self.store,
            self.notebook,
            self.session_provider() if self.session_provider else None,
            notebook_path=self.notebook_path,
            drift_now=live,
        )
        sid, base = view.run_id, view.baseline_id
        numbers = self._cell_numbers()
        # The overview places cells by the notebook file's positions, as the sidebar does.
        comparison = None if view.run_is_baseline else view.comparison
        this_run = f"run {sid} (this kernel)" if live and sid is not None else f"run {sid}"
        cell_sides = Sides(f"baseline run {base}", this_run) if comparison is not None else None
        verdict = render_verdict(
            comparison, cell_sides, numbers, run_id=sid, run_is_baseline=view.run_is_baseline
        )
        capturing = getattr(self.recorder, "capturing", None)
        self.overview_html.value = render_overview(view.status, verdict, capturing)
        self._drift_sides = (
            Sides(f"baseline run {base}", "this kernel, live" if live else f"run {sid}")
            if base is not None
            else None
        )
        try:
            self.drift = view.drift
        except Exception as exc:  # no baseline yet, no environment captured...
            self.drift = None
            self.drift_html.value = render_drift(None, self._drift_sides, error=str(exc))
        else:
            kinds = sorted({i.kind for i in self.drift.items})
            options = [("all kinds", ""), *((k, k) for k in kinds)]
            if list(self.drift_kind.options) != options:
                keep = self.drift_kind.value if self.drift_kind.value in kinds else ""
                self.drift_kind.options = options
                self.drift_kind.value = keep
            self._render_drift()
        self.validation = view.checks
        self.validation_html.value = (
            f"<div class='repro-nb-view repro-nb-validation-view'>"
            f"<div class='repro-nb-head'>Checks: {_esc(this_run)} vs baseline run {_esc(base)}"
            f"</div>{self.validation._repr_html_()}</div>"
            if not view.run_is_baseline
            else f"<div class='repro-nb-view repro-nb-validation-view'>"
            f"<div class='repro-nb-head'>Checks: {_esc(this_run)} (the baseline)</div>"
            f"{self.validation._repr_html_()}</div>"
        )
        self._render_plot(self.validation)
        self.cells_html.value = render_cells(
            comparison,
            cell_sides,
            numbers,
            baseline_cells=len(run_cells(self.store, sid)) if sid is not None else None,
        )
        self._update_run_choices(view.runs, base, sid)
        versus = (
            f"run {sid} vs baseline run {base}"
            if not view.run_is_baseline
            else (f"run {sid} (baseline)" if sid is not None else "no run yet")
        )
        drift_txt = self.drift.summary if self.drift is not None else "drift unknown"
        checks = self.validation.summary if self.validation.items else "no checks"
        self.header.value = self._header_html(
            f"{versus} · drift: {drift_txt} · checks: {checks} · "
            f"updated {time.strftime('%H:%M:%S')}"
        )

    def _update_run_choices(self, runs: list[Any], base: int | None, sid: int | None) -> None:
        """Offer every run in the Compare tab (A: the baseline, B: the run shown, by default)."""
        options = [(r.to_text(), r.id) for r in reversed(runs)]
        if options == self._run_options:
            return
        first = not self._run_options
        self._run_options = options
        ids = [i for _, i in options]

        def pick(keep: Any, default: int | None, fallback: int | None) -> int | None:
            if not first and keep in ids:
                return int(keep)
            return default if default in ids else fallback

        a = pick(self.compare_a.value, base, ids[-1] if ids else None)
        b = pick(self.compare_b.value, sid, ids[0] if ids else None)
        self._compare_ready = False  # one comparison after both are set, not one per change
        try:
            self.compare_a.options = options
            self.compare_b.options = options
            self.compare_a.value = a
            self.compare_b.value = b
        finally:
            self._compare_ready = True
        self._render_compare()

    def _render_compare(self) -> None:
        """The two chosen runs side by side; computed only while the Compare tab is open."""
        if self.tabs.selected_index != 4 or not self._compare_ready:
            return
        a, b = self.compare_a.value, self.compare_b.value
        if a is None or b is None:
            self.compare_html.value = (
                "<div class='repro-nb-compare'>Record two runs to compare them.</div>"
            )
            return
        try:
            from repro_nb.compare.side_by_side import side_by_side

            hint = os.fspath(self.notebook_path) if self.notebook_path else None
            result = side_by_side(self.store, self.notebook, a, b, repo_hint=hint)
        except Exception as exc:  # the panel must never break the kernel
            self.compare_html.value = f"<div class='repro-nb-compare'>{_esc(exc)}</div>"
            return
        self.compare_html.value = result._repr_html_()

    def _render_drift(self) -> None:
        if self.drift is None:
            return
        sev = self.drift_severity.value
        report = self.drift.filter(
            severity=sev[1:] if sev.startswith("=") else None,
            min_severity=sev if sev and not sev.startswith("=") else None,
            kind=self.drift_kind.value or None,
            text=self.drift_text.value.strip() or None,
        )
        self.drift_html.value = render_drift(report, self._drift_sides)

    def _render_plot(self, report: ValidationReport) -> None:
        all_stats = {it.name: it.stats for it in report.items if it.stats is not None}
        key = tuple((n, tuple(s.values)) for n, s in all_stats.items())
        if key == self._plot_key:
            return  # same numbers as last time: keep the picture
        self._plot_key = key
        png = spread_png(all_stats)
        if png is None:
            self.validation_plot.layout.display = "none"
        else:
            self.validation_plot.value = png
            self.validation_plot.layout.display = ""

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._closed = True
            self._dirty.set()


def panel(
    recorder: Any = None,
    *,
    notebook: str | os.PathLike[str] | None = None,
    store: Any = None,
) -> Panel:
    """The panel for the active run (``%repro_panel``) or for a notebook's store.

    Parameters
    ----------
    recorder
        The live recorder; the panel follows its cells and shows its run.
    notebook
        Without a recorder: the notebook whose store to read.
    store
        Without a recorder: an open :class:`repro_nb.store.Store` (default: the notebook's).

    Returns
    -------
    Panel
        Display it (it is the value of ``%repro_panel``) to start live updates.
    """
    if recorder is not None:
        # Let the writer thread open the store first: two threads opening a new store file at
        # once would both try to create its tables.
        recorder.flush()
        return Panel(
            recorder.store,
            recorder.notebook,
            lambda: recorder.session_id,
            notebook_path=getattr(recorder, "notebook_file", None),
            flush=recorder.flush,
            recorder=recorder,
        )
    if notebook is None and store is None:
        raise UsageProblem(
            "No run to show: load the extension and turn capture on (%repro_snapshot on), "
            "or pass notebook=PATH."
        )
    st = store if store is not None else Store.for_notebook(notebook)
    key = st.notebook_key(notebook) if notebook is not None else (st.notebooks() or ["?"])[-1]
    return Panel(st, key, None, notebook_path=notebook)
