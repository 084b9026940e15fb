"""``shorten_around`` and ``shorten_middle``: long values shown by the part that differs."""

from __future__ import annotations

import pytest

from repro_nb.render import shorten_around, shorten_middle


def test_values_that_fit_are_whole():
    assert shorten_around("1.26.4", "2.0.1", 20) == ("1.26.4", "2.0.1")
    assert shorten_around(None, "x", 5) == ("–", "x")


def test_a_long_path_keeps_the_differing_part_with_context():
    a = "/home/ana/.venv/lib/python3.11/site-packages/numpy/core/x.py"
    b = a.replace("3.11", "3.12")
    sa, sb = shorten_around(a, b, 24)
    assert "python3.11" in sa and "python3.12" in sb
    assert sa.startswith("…") and sa.endswith("…") and len(sa) <= 24 and len(sb) <= 24


@pytest.mark.parametrize("limit", [3, 5, 12, 30])
def test_never_longer_than_the_limit(limit):
    pairs = [
        ("a" * 50, "a" * 50 + "b"),
        ("a" * 50 + "b", "a" * 50),
        ("/usr/bin/python3", "/home/someone/projects/thing/.venv/bin/python3"),
        ("x" * 40, "x" * 40),
        ("left" + "m" * 60, "right" + "m" * 60),
    ]
    for a, b in pairs:
        sa, sb = shorten_around(a, b, limit)
        assert len(sa) <= max(limit, 3) and len(sb) <= max(limit, 3), (sa, sb)


def test_an_insertion_at_the_end_shows_the_end():
    sa, sb = shorten_around("a" * 50, "a" * 50 + "b", 12)
    assert sa == "…" + "a" * 11 and sb == "…" + "a" * 10 + "b"


def test_a_difference_at_the_start_shows_the_start():
    sa, sb = shorten_around("left" + "m" * 60, "right" + "m" * 60, 12)
    assert sa.startswith("left") and sb.startswith("right") and sa.endswith("…")


def test_shorten_middle_keeps_both_ends():
    assert shorten_middle("/a/very/long/path/to/the/store.sqlite", 20) == "/a/very/l…ore.sqlite"
    assert shorten_middle("short", 20) == "short"
