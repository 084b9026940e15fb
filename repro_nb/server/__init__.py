"""The jupyter_server extension: REST handlers, the JSON reads behind them, and jobs."""

from repro_nb.server.handlers import setup_route_handlers
from repro_nb.server.jobs import Job, JobManager
from repro_nb.server.reader import NotebookRef, RouteError, resolve_notebook

__all__ = [
    "Job",
    "JobManager",
    "NotebookRef",
    "RouteError",
    "resolve_notebook",
    "setup_route_handlers",
]
