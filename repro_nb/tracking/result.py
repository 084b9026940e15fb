"""What one log to a tracker did: :class:`LogResult`, with a line per thing done."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

from repro_nb.render import TextRendering

__all__ = ["LogResult"]


def _names(items: list[str], n: int = 6) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", … ({len(items) - n} more)" if len(items) > n else "")


@dataclass
class LogResult(TextRendering):
    """The outcome of :func:`repro_nb.tracking.log_run`.

    Attributes
    ----------
    tracker
        ``mlflow`` or ``wandb``.
    notebook
        The notebook's store key.
    run_id, run_uuid
        The repro_nb run logged.
    location
        The MLflow tracking URI, or the folder holding W&B's offline runs.
    tracker_run
        The MLflow run id, or the W&B run id.
    url
        The MLflow run's artifact URI, or the W&B offline run folder.
    skipped
        True when this repro_nb run was logged there before and nothing was written
        (``force=True`` replaces it).
    replaced
        Tracker runs of the same repro_nb run that ``force=True`` deleted (MLflow).
    params, metrics, seed_metrics
        The names logged (``seed_metrics``: the per-seed series, one step per seed).
    tags
        How many tags were set.
    artifacts
        Where each attached file landed in the tracker run.
    verdict
        The verdict logged.
    next_step
        A command to look at or upload the result.
    notes
        What was left out and why.
    seconds
        Wall time of the log.
    """

    tracker: str
    notebook: str
    run_id: int
    run_uuid: str
    location: str
    tracker_run: str = ""
    url: str = ""
    skipped: bool = False
    replaced: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    seed_metrics: list[str] = field(default_factory=list)
    tags: int = 0
    artifacts: list[str] = field(default_factory=list)
    verdict: str = ""
    next_step: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tracker_name(self) -> str:
        """``MLflow`` or ``W&B``."""
        return {"mlflow": "MLflow", "wandb": "W&B"}.get(self.tracker, self.tracker)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def lines(self) -> list[str]:
        """One line per thing done (the CLI prints these)."""
        head = f"{self.notebook} run {self.run_id}"
        if self.skipped:
            return [
                f"{head}: already logged to {self.tracker_name} as run {self.tracker_run} "
                f"({self.url}); nothing written, --force logs it again"
            ]
        where = "offline run" if self.tracker == "wandb" else "run"
        out = [f"{head} → {self.tracker_name} {where} {self.tracker_run}: {self.url}"]
        out += [f"replaced {self.tracker_name} run {r} (deleted)" for r in self.replaced]
        if self.params:
            out.append(f"params: {len(self.params)} ({_names(self.params)})")
        else:
            out.append("params: none (the run recorded no config and no seed)")
        if self.metrics:
            n = len(self.metrics)
            out.append(f"metrics: {n} check{'s' if n != 1 else ''} ({_names(self.metrics)})")
        if self.seed_metrics:
            out.append(f"per seed (step = seed): {_names(self.seed_metrics)}")
        out.append(f"tags: {self.tags}; verdict: {self.verdict}")
        if self.artifacts:
            out.append(f"artifacts: {_names(self.artifacts, 10)}")
        out += [f"note: {n}" for n in self.notes]
        if self.next_step:
            out.append(f"next: {self.next_step}")
        return out

    def to_text(self) -> str:
        """The lines, for a terminal."""
        return "\n".join(self.lines())

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text())

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines()[1:])
        return f"<div><b>{html.escape(self.lines()[0])}</b><ul>{items}</ul></div>"
