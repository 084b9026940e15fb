"""The version of repro_nb, in one place (the package root and the bundle writer read it)."""

__version__ = "0.1.0"
