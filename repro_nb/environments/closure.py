"""What an interpreter has installed, and the closure of a set of distributions' requirements.

This file must stay runnable as a plain script by *another* interpreter (``python closure.py
NAME ...`` prints JSON): the lock of a bundle is read from the environment that recorded the
run, which need not be the one exporting it. So it imports only the standard library, and
``packaging`` (every Jupyter kernel has it: ipykernel requires it) for markers.

Core module.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["installed_closure", "main"]

_CANON = re.compile(r"[-_.]+")


def _canon(name: str) -> str:
    return _CANON.sub("-", name).lower()


def _read(path: str, limit: int = 1 << 20) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def _wheel_tags(meta_dir: str) -> list[str]:
    """The ``Tag:`` lines of an installed wheel's ``WHEEL`` file (the artifact that was installed)."""
    text = _read(os.path.join(meta_dir, "WHEEL")) or ""
    return [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Tag:")]


def _direct_url(meta_dir: str) -> dict[str, Any] | None:
    text = _read(os.path.join(meta_dir, "direct_url.json"))
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _header(text: str) -> dict[str, list[str]]:
    """The fields of a METADATA/PKG-INFO header (up to the first blank line), without the
    ``email`` parser (ten times faster over a few hundred distributions)."""
    fields: dict[str, list[str]] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last is not None:
            fields[last][-1] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            fields.setdefault(last, []).append(value.strip())
    return fields


def _installed() -> dict[str, dict[str, Any]]:
    """Every distribution on ``sys.path``, first one wins (as ``import`` finds them)."""
    from importlib.metadata import distributions

    out: dict[str, dict[str, Any]] = {}
    for dist in distributions():
        try:
            text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
            head = _header(text)
            name = (head.get("Name") or [""])[0]
            version = (head.get("Version") or [""])[0]
            requires = head.get("Requires-Dist")
            if requires is None:  # an egg-info keeps them in requires.txt
                requires = list(dist.requires or [])
        except Exception:  # a broken dist-info must not stop the scan
            continue
        if not name or not version:
            continue
        key = _canon(name)
        if key in out:
            continue
        meta_dir = str(getattr(dist, "_path", "") or "")
        out[key] = {
            "name": name,
            "version": version,
            "requires": requires,
            "requires_python": next(iter(head.get("Requires-Python") or []), None),
            "tags": _wheel_tags(meta_dir) if meta_dir else [],
            "direct_url": _direct_url(meta_dir) if meta_dir else None,
            "installer": (_read(os.path.join(meta_dir, "INSTALLER"), 64) or "").strip() or None,
            "meta_dir": meta_dir,
        }
    return out


def _module_dists(installed: dict[str, dict[str, Any]], modules: list[str]) -> dict[str, list[str]]:
    """Top-level module -> the installed distributions providing it: by name, then
    ``top_level.txt``, then (only for names still unknown) the RECORD files of distributions
    without one. ``packages_distributions()`` reads every RECORD instead."""
    tops: dict[str, set[str]] = {}
    no_top_level = []
    for key, info in installed.items():
        text = _read(os.path.join(info["meta_dir"], "top_level.txt")) if info["meta_dir"] else None
        if text is None:
            no_top_level.append(key)
            continue
        for line in text.splitlines():
            top = line.strip().replace("/", ".").partition(".")[0]
            if top:
                tops.setdefault(top, set()).add(key)
    out: dict[str, list[str]] = {}
    for mod in modules:
        found = set(tops.get(mod, set()))
        if _canon(mod) in installed:
            found.add(_canon(mod))
        out[mod] = sorted(found)
    unknown = {m for m, ds in out.items() if not ds}
    for key in no_top_level if unknown else []:
        meta = installed[key]["meta_dir"]
        record = _read(os.path.join(meta, "RECORD"), 1 << 24) if meta else None
        for line in (record or "").splitlines():
            path = line.split(",", 1)[0]
            first = path.split("/", 1)[0]
            top = (
                first
                if "/" in path
                else first.split(".", 1)[0]
                if first.endswith((".py", ".so", ".pyd"))
                else ""
            )
            if top in unknown and key not in out[top]:
                out[top].append(key)
    return {m: sorted(ds) for m, ds in out.items()}


def installed_closure(roots: Iterable[str], modules: Iterable[str] = ()) -> dict[str, Any]:
    """The installed distributions that ``roots`` need, following requirements recursively.

    Requirements are evaluated for *this* interpreter and platform (markers), with the extras
    each one was asked for (``dask[distributed]`` brings ``distributed``).

    Parameters
    ----------
    roots
        Distribution names, optionally with extras (``"dask[distributed]"``).
    modules
        Top-level import names: the distributions that provide them are roots too (mapped
        here, in the interpreter whose packages they are).

    Returns
    -------
    dict
        ``{"python": "3.11.9", "markers": {...}, "packages": {canonical name: {"name",
        "version", "requires" (canonical names it needs here), "tags", "direct_url",
        "installer", "requires_python", "wanted_by"}}, "missing": [{"requirement",
        "wanted_by", "why"}], "modules": {module: [canonical names]}}``. ``missing`` lists requirements nothing installed satisfies
        (not installed, or an installed version outside the specifier).
    """
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement

    installed = _installed()
    module_dists = _module_dists(installed, sorted(set(modules)))
    roots = [*roots, *(d for ds in module_dists.values() for d in ds)]
    packages: dict[str, dict[str, Any]] = {}
    missing: list[dict[str, str]] = []
    # (canonical name, extra) pairs still to expand, with who wanted them.
    todo: list[tuple[str, str, str]] = []
    for root in roots:
        try:
            req = Requirement(root)
        except InvalidRequirement:
            missing.append({"requirement": root, "wanted_by": "", "why": "not a requirement"})
            continue
        todo.append((_canon(req.name), "", "the notebook"))
        todo += [(_canon(req.name), e, "the notebook") for e in sorted(req.extras)]
    done: set[tuple[str, str]] = set()
    while todo:
        key, extra, wanted_by = todo.pop()
        if (key, extra) in done:
            continue
        done.add((key, extra))
        info = installed.get(key)
        if info is None:
            missing.append({"requirement": key, "wanted_by": wanted_by, "why": "not installed"})
            continue
        entry = packages.get(key)
        if entry is None:
            entry = packages[key] = {
                **{k: v for k, v in info.items() if k not in ("requires", "meta_dir")},
                "requires": [],
                "wanted_by": wanted_by,
            }
        for line in info["requires"]:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            about_extra = req.marker is not None and "extra" in str(req.marker)
            if extra and not about_extra:
                continue  # taken with the base requirements
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            dep = _canon(req.name)
            dep_info = installed.get(dep)
            if (
                dep_info is not None
                and req.specifier
                and not req.specifier.contains(dep_info["version"], prereleases=True)
            ):
                missing.append(
                    {
                        "requirement": str(req),
                        "wanted_by": key,
                        "why": f"{dep_info['version']} is installed",
                    }
                )
            if dep not in entry["requires"]:
                entry["requires"].append(dep)
            todo.append((dep, "", key))
            todo += [(dep, e, key) for e in sorted(req.extras)]
    for entry in packages.values():
        entry["requires"].sort()
    return {
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "executable": sys.executable,
        "markers": dict(default_environment()),
        "packages": dict(sorted(packages.items())),
        "missing": missing,
        "modules": module_dists,
    }


def main(argv: list[str] | None = None) -> int:
    """``python closure.py [--modules a,b] NAME ...``: print :func:`installed_closure` as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    modules: list[str] = []
    if len(args) >= 2 and args[0] == "--modules":
        modules = [m for m in args[1].split(",") if m]
        args = args[2:]
    json.dump(installed_closure(args, modules), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
