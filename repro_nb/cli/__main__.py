"""``python -m repro_nb.cli``: the ``repro-nb`` command (the server's jobs start it so)."""

from __future__ import annotations

import sys

from repro_nb.cli import main

if __name__ == "__main__":  # Dask spawns processes: never start work on import
    sys.exit(main())
