"""pytest plugin: ``pytest --repro PATH...`` (owned by the bundle engineer; being written).

Loaded in every pytest run through the ``pytest11`` entry point, so it must stay import-cheap
and inert unless ``--repro`` is given.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("repro_nb")
    group.addoption("--repro", action="store_true", default=False, help="Verify notebooks and bundles.")
