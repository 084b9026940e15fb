"""What differs and why: cells, values, checks, statistics and environment drift (core: no IPython)."""
