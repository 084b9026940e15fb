"""Stable content views of objects whose pickle is not content: plots, optimizers, RNGs.

Core module: no IPython, and never imports matplotlib, torch, numpy or pandas. A value of one of
their types implies the process already imported the library, so we look it up in ``sys.modules``.

A *view* is plain data (tuples, dicts, str, numbers, numpy arrays, torch tensors) that
:func:`repro_nb.capture.hashing.hash_value` hashes in place of the object, so the existing byte,
item and depth caps apply to it. Views hold what an object shows or computes with, never ids,
memory addresses, hooks or file paths:

* matplotlib figures, axes and artists: plot data (xy data, offsets, image arrays, paths), texts,
  limits, ticks, scales, colours and sizes, in drawing order. A matplotlib ``Figure`` pickles
  differently in every process (ids, callbacks, the canvas), so its pickle "differs" in every run.
* torch optimizers and LR schedulers: their ``state_dict`` (state tensors, param_group numbers);
  DataLoaders: dataset, batch and sampler settings, worker settings.
* random generators (numpy ``Generator``/``RandomState``/bit generators, ``random.Random``,
  ``torch.Generator``): their state. :func:`is_rng` tells the hasher to give them
  ``kind="rng"``: a generator is evidence of randomness, not a result.
* modules by name (they do not pickle); pandas ``Styler`` by its data (its styling functions are
  not comparable). Functions keep their pickle (by name); lambdas stay unhashable, which compares
  as "not comparable", never as "differs".
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["ContentView", "is_rng", "viewer"]


class ContentView(NamedTuple):
    """What the hasher hashes in place of an object.

    Parameters
    ----------
    tag
        A short name of the view's shape (``"mpl.Figure"``, ``"rng"``), part of the digest.
    data
        Plain data: containers, scalars, strings, numpy arrays, torch tensors.
    notes
        Why parts of the object are not in ``data``; the hash is then marked partial.
    """

    tag: str
    data: Any
    notes: tuple[str, ...] = ()


Viewer = Callable[[Any], ContentView]


def _qualname(t: type) -> str:
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"


def _isinstance(obj: Any, module: str, name: str) -> bool:
    """``isinstance(obj, module.name)`` without importing ``module`` (False when nothing did)."""
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod is not None else None
    return isinstance(cls, type) and isinstance(obj, cls)


def _top_package(obj: Any) -> str:
    return str(getattr(type(obj), "__module__", "") or "").partition(".")[0]


# ---------------------------------------------------------------- random generators


def is_rng(obj: Any) -> bool:
    """Whether ``obj`` is a random generator (numpy, ``random.Random``, torch); no user code.

    Parameters
    ----------
    obj
        Any value.

    Returns
    -------
    bool
    """
    return _rng_viewer(obj) is not None


def _rng_viewer(obj: Any) -> Viewer | None:
    if _isinstance(obj, "numpy.random", "Generator"):
        return lambda g: ContentView("rng", ("numpy.Generator", g.bit_generator.state))
    if _isinstance(obj, "numpy.random", "RandomState"):
        return lambda g: ContentView("rng", ("numpy.RandomState", g.get_state(legacy=False)))
    if _isinstance(obj, "numpy.random", "BitGenerator"):
        return lambda g: ContentView("rng", ("numpy.BitGenerator", g.state))
    if _isinstance(obj, "random", "Random"):
        # SystemRandom.getstate raises: it has no state, so it is reported as unhashable
        return lambda g: ContentView("rng", ("random.Random", g.getstate()))
    if _isinstance(obj, "torch", "Generator"):
        return lambda g: ContentView("rng", ("torch.Generator", str(g.device), g.get_state()))
    return None


# ---------------------------------------------------------------- matplotlib


def _np() -> Any:
    return sys.modules["numpy"]


def _array(x: Any) -> Any:
    """A numpy array of ``x`` with its mask, if any (masked points are not drawn)."""
    np = _np()
    mask = np.ma.getmask(x)
    data = np.asarray(np.ma.getdata(x))
    return (data, np.asarray(mask)) if mask is not np.ma.nomask else data


def _common(a: Any) -> tuple[Any, ...]:
    """What every artist shows: visibility, label, alpha, z-order."""
    return (a.get_visible(), str(a.get_label()), a.get_alpha(), a.get_zorder())


def _line(a: Any) -> tuple[Any, ...]:
    return (
        _common(a),
        _np().asarray(a.get_xydata()),
        a.get_color(),
        a.get_linestyle(),
        a.get_linewidth(),
        str(a.get_marker()),
        a.get_markersize(),
        a.get_markerfacecolor(),
        a.get_drawstyle(),
    )


def _paths(paths: Any) -> tuple[Any, ...]:
    """Paths as three arrays (lengths, vertices, codes): one header each, not one per path."""
    np = _np()
    verts = [np.asarray(p.vertices, dtype=float).reshape(-1, 2) for p in paths]
    # codes None means "a polyline"; 0 (STOP) never appears inside a drawn path, so it marks that
    codes = [
        np.zeros(len(v), np.uint8) if p.codes is None else p.codes
        for p, v in zip(paths, verts, strict=True)
    ]
    if not verts:
        return ()
    return (np.array([len(v) for v in verts]), np.concatenate(verts), np.concatenate(codes))


def _collection(a: Any) -> tuple[Any, ...]:
    mapped = a.get_array()
    cmap = getattr(a.get_cmap(), "name", None)
    # colour-mapped collections get their face and edge colours when drawn: hash the data and
    # the map, not colours that depend on whether the figure was drawn yet
    colours = (
        ("mapped", _array(mapped), cmap, tuple(a.get_clim()))
        if mapped is not None
        else ("colours", _np().asarray(a.get_facecolor()), _np().asarray(a.get_edgecolor()))
    )
    return (
        _common(a),
        _np().asarray(a.get_offsets()),
        _np().asarray(a.get_sizes()) if hasattr(a, "get_sizes") else None,
        # a QuadMesh (pcolormesh, colorbars) is a grid: its coordinates, not one path per cell
        _np().asarray(a.get_coordinates())
        if hasattr(a, "get_coordinates")
        else _paths(a.get_paths()),
        colours,
        _np().asarray(a.get_linewidth()),
    )


def _image(a: Any) -> tuple[Any, ...]:
    arr = a.get_array()
    return (
        _common(a),
        None if arr is None else _array(arr),
        tuple(a.get_extent()) if hasattr(a, "get_extent") else None,
        getattr(a.get_cmap(), "name", None),
        tuple(a.get_clim()),
        str(getattr(a, "origin", "")),
        str(a.get_interpolation()) if hasattr(a, "get_interpolation") else None,
    )


def _text(a: Any) -> tuple[Any, ...]:
    return (
        _common(a),
        a.get_text(),
        tuple(map(float, a.get_position())),
        a.get_color(),
        a.get_fontsize(),
        a.get_rotation(),
        a.get_horizontalalignment(),
        a.get_verticalalignment(),
    )


def _patch(a: Any) -> tuple[Any, ...]:
    verts = a.get_patch_transform().transform(a.get_path().vertices)
    return (
        _common(a),
        _np().asarray(verts),
        tuple(a.get_facecolor()),
        tuple(a.get_edgecolor()),
        a.get_linewidth(),
        a.get_fill(),
        a.get_hatch(),
    )


def _table(a: Any) -> tuple[Any, ...]:
    cells = sorted(a.get_celld().items())
    return (
        _common(a),
        [(rc, c.get_text().get_text(), tuple(c.get_facecolor())) for rc, c in cells],
    )


def _legend(a: Any) -> tuple[Any, ...]:
    title = a.get_title()
    return (_common(a), title.get_text(), [t.get_text() for t in a.get_texts()])


# (matplotlib module, class name, view) in lookup order: subclasses before their bases
_ARTISTS: tuple[tuple[str, str, Callable[[Any], tuple[Any, ...]]], ...] = (
    ("matplotlib.lines", "Line2D", _line),
    ("matplotlib.collections", "Collection", _collection),
    ("matplotlib.image", "_ImageBase", _image),
    ("matplotlib.legend", "Legend", _legend),
    ("matplotlib.table", "Table", _table),
    ("matplotlib.text", "Text", _text),
    ("matplotlib.patches", "Patch", _patch),
)


def _artist(a: Any, notes: list[str], axes3d: bool = False) -> tuple[Any, ...]:
    """``(type, view)`` of one artist; an unknown kind of artist is named and noted."""
    tname = _qualname(type(a))
    if axes3d:  # 3-D artists hold projected 2-D data that changes when drawn: keep the 3-D data
        data3d = a.get_data_3d() if hasattr(a, "get_data_3d") else None
        return (tname, _common(a), None if data3d is None else [_array(x) for x in data3d])
    try:
        for module, name, view in _ARTISTS:
            if _isinstance(a, module, name):
                return (tname, view(a))
        if _isinstance(a, "matplotlib.axes", "Axes"):
            return (tname, _axes(a, notes))
    except Exception as exc:  # one odd artist must not make the whole figure unhashable
        note = f"a {tname} could not be read ({type(exc).__name__}); hashed by type and label"
    else:
        note = f"a {tname} is hashed by its type and label only"
    if note not in notes:
        notes.append(note)
    return (tname, _common(a))


#: Locators and formatters whose ticks are a function of the limits and scale alone.
_AUTOMATIC_TICKS = frozenset(
    {"AutoLocator", "MaxNLocator", "LogLocator", "ScalarFormatter", "LogFormatterSciNotation"}
)


def _axis(ax: Any, which: str) -> tuple[Any, ...]:
    axis = getattr(ax, f"{which}axis")
    locator, formatter = axis.get_major_locator(), axis.get_major_formatter()
    kinds = (type(locator).__name__, type(formatter).__name__)
    ticks: Any = None
    labels: list[str] = []
    if not _AUTOMATIC_TICKS.issuperset(kinds):  # computing ticks is half the cost of a figure
        ticks = _np().asarray(locator())
        # format_ticks gives the labels a draw would show (categorical names, dates, fixed labels)
        labels = list(map(str, formatter.format_ticks(ticks)))
    return (
        tuple(map(float, getattr(ax, f"get_{which}lim")())),
        getattr(ax, f"get_{which}scale")(),
        getattr(ax, f"get_{which}label")(),
        kinds,
        ticks,
        labels,
    )


def _axes(ax: Any, notes: list[str]) -> tuple[Any, ...]:
    children = [*ax.images, *ax.collections, *ax.patches, *ax.lines, *ax.texts, *ax.artists]
    children += list(getattr(ax, "tables", ()))
    legend = ax.get_legend()
    if legend is not None:
        children.append(legend)
    titles = tuple(ax.get_title(loc) for loc in ("left", "center", "right"))
    axes3d = hasattr(ax, "get_zlim")
    note = "3-D axes are hashed by limits, labels and the 3-D data of lines only"
    if axes3d and note not in notes:
        notes.append(note)
    return (
        tuple(map(float, ax.get_position(original=True).bounds)),
        titles,
        _axis(ax, "x"),
        _axis(ax, "y"),
        tuple(ax.get_zlim()) if axes3d else None,
        str(ax.get_aspect()),
        ax.axison,
        [_artist(a, notes, axes3d) for a in children],
    )


def _figure_view(fig: Any) -> ContentView:
    notes: list[str] = []
    suptitle = getattr(fig, "_suptitle", None)  # no public getter before matplotlib 3.8
    parts = [*fig.images, *fig.lines, *fig.patches, *fig.texts, *getattr(fig, "legends", ())]
    size = getattr(fig, "get_size_inches", None)  # a SubFigure has no size of its own
    data = (
        None if size is None else tuple(map(float, size())),
        None if suptitle is None else suptitle.get_text(),
        [_axes(ax, notes) for ax in fig.axes],
        [_artist(a, notes) for a in parts],
        [_figure_view(sub).data for sub in getattr(fig, "subfigs", ())],
    )
    return ContentView("mpl.Figure", data, tuple(notes))


def _artist_view(a: Any) -> ContentView:
    notes: list[str] = []
    data = _artist(a, notes)
    return ContentView("mpl.Artist", data, tuple(notes))


def _mpl_viewer(obj: Any) -> Viewer | None:
    if _isinstance(obj, "matplotlib.figure", "FigureBase"):
        return _figure_view
    if _isinstance(obj, "matplotlib.artist", "Artist"):
        return _artist_view
    return None


# ---------------------------------------------------------------- torch


def _optimizer_view(opt: Any) -> ContentView:
    # state_dict keys state by parameter position, not by the Parameter objects (ids)
    return ContentView("torch.Optimizer", opt.state_dict())


def _scheduler_view(sched: Any) -> ContentView:
    return ContentView("torch.LRScheduler", sched.state_dict())


def _loader_view(dl: Any) -> ContentView:
    sampler = dl.sampler
    sampler_view = (
        _qualname(type(sampler)),
        getattr(sampler, "replacement", None),
        getattr(sampler, "_num_samples", None),
        getattr(sampler, "generator", None),
    )
    batch_sampler = getattr(dl, "batch_sampler", None)
    data = (
        dl.dataset,
        dl.batch_size,
        dl.drop_last,
        sampler_view,
        None if batch_sampler is None else _qualname(type(batch_sampler)),
        dl.collate_fn,
        dl.num_workers,
        dl.worker_init_fn,
        dl.generator,
        getattr(dl, "persistent_workers", None),
    )
    return ContentView("torch.DataLoader", data)


def _torch_viewer(obj: Any) -> Viewer | None:
    if _isinstance(obj, "torch.optim", "Optimizer"):
        return _optimizer_view
    sched = sys.modules.get("torch.optim.lr_scheduler")
    base = getattr(sched, "LRScheduler", None) or getattr(sched, "_LRScheduler", None)
    if isinstance(base, type) and isinstance(obj, base):
        return _scheduler_view
    if _isinstance(obj, "torch.utils.data", "DataLoader"):
        return _loader_view
    return None


# ---------------------------------------------------------------- modules, pandas


def _module_view(mod: Any) -> ContentView:
    return ContentView("module", getattr(mod, "__name__", "?"))


def _styler_view(styler: Any) -> ContentView:
    note = "a pandas Styler is hashed by its data; its styling functions are not comparable"
    return ContentView("pandas.Styler", styler.data, (note,))


def viewer(obj: Any) -> Viewer | None:
    """The function that builds ``obj``'s content view, or None to hash it as before.

    Only type checks: no user code runs here (the view itself may call the object's methods).

    Parameters
    ----------
    obj
        A value with no dedicated hasher in :mod:`repro_nb.capture.hashing`.

    Returns
    -------
    callable or None
        ``f(obj) -> ContentView``.
    """
    if type(obj) is types.ModuleType:
        return _module_view
    if "matplotlib" in sys.modules:
        found = _mpl_viewer(obj)  # by isinstance: user subclasses of artists live elsewhere
        if found is not None:
            return found
    rng = _rng_viewer(obj)
    if rng is not None:
        return rng
    if "torch" in sys.modules:
        found = _torch_viewer(obj)
        if found is not None:
            return found
    if _top_package(obj) == "pandas" and _isinstance(obj, "pandas.io.formats.style", "Styler"):
        return _styler_view
    return None
