"""brm's ``file=``: keep a fit on disk and reuse it while nothing that shapes it has changed.

As brms's ``brm(..., file = "fit1", file_refit = "on_change")``: the first call samples and writes
``fit1.npz``; a later call with the same formula, data, family, priors, sampler settings and package
version reads the draws back instead of sampling (seconds instead of a compilation and a run); any
change samples again and overwrites the file. ``file_refit="never"`` reuses any file made by the same
formula text (brms's default), ``"always"`` always samples.

The file holds only arrays and a JSON text (numpy's ``.npz``, read with ``allow_pickle=False``): no
Python objects, so reading a file cannot run code. The fit is rebuilt from the data given to the
call (the design and layout are cheap) and the stored draws.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .sampler import SamplerRun

FORMAT = 1
REFIT = ("on_change", "never", "always")


def file_path(file) -> Path:
    """``"fit1"`` -> ``fit1.npz`` (brms appends ``.rds`` likewise); a path ending in .npz is kept."""
    if not isinstance(file, (str, Path)) or not str(file):
        raise ArgumentError(f"file must be a path such as 'fits/sleep', not {file!r}")
    path = Path(file)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def fingerprint(formula: str, data: pd.DataFrame, design, parts: dict) -> str:
    """A hash of everything that shapes the fit: the formula, the rows and columns the design used,
    the family, priors and sampler settings (``parts``) and the package's version."""
    from .. import __version__

    digest = hashlib.sha256()
    digest.update(json.dumps({"formula": formula, "version": __version__, "format": FORMAT, **parts},
                             sort_keys=True, default=str).encode())
    used = [c for c in design.formula.variables if c in data.columns]
    rows = data[used] if design.row_index is None else data[used].iloc[design.row_index]
    digest.update(pd.util.hash_pandas_object(rows.reset_index(drop=True), index=True).to_numpy().tobytes())
    digest.update(json.dumps([str(t) for t in data[used].dtypes]).encode())
    return digest.hexdigest()


def load(path: Path, key: str, formula: str, refit: str) -> tuple[SamplerRun, SamplerRun | None] | None:
    """The stored runs (posterior, and prior draws where sampled) when ``refit`` allows reusing the
    file; None to sample."""
    if refit == "always" or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != FORMAT:
                return None
            if refit == "on_change" and meta.get("fingerprint") != key:
                return None
            if refit == "never" and meta.get("formula") != formula:
                return None
            runs = [_run(stored, meta, "posterior")]
            runs.append(_run(stored, meta, "prior") if "prior" in meta["runs"] else None)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        warnings.warn(f"{path} is not a fit this package wrote ({type(error).__name__}: {error}); sampling again "
                      "and overwriting it", UserWarning, stacklevel=3)
        return None
    return runs[0], runs[1]


def save(path: Path, key: str, formula: str, run: SamplerRun, prior_run: SamplerRun | None) -> None:
    """Write the runs and what identifies them (written to a temporary name, then renamed)."""
    arrays, runs = {}, {}
    for label, r in (("posterior", run), ("prior", prior_run)):
        if r is None:
            continue
        for kind, values in (("samples", r.samples), ("stats", r.stats)):
            for name, value in values.items():
                arrays[f"{label}|{kind}|{name}"] = np.asarray(value)
        for name in ("diverging", "num_steps", "energy"):
            arrays[f"{label}|{name}"] = np.asarray(getattr(r, name))
        runs[label] = {"samples": list(r.samples), "stats": list(r.stats), "seconds_total": r.seconds_total,
                       "seconds_sampling": r.seconds_sampling, "settings": _jsonable(r.settings)}
    meta = {"format": FORMAT, "fingerprint": key, "formula": formula, "runs": runs}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, meta=np.array(json.dumps(meta)), **arrays)
    partial.replace(path)


def _run(stored, meta: dict, label: str) -> SamplerRun:
    info = meta["runs"][label]
    samples = {name: stored[f"{label}|samples|{name}"] for name in info["samples"]}
    stats = {name: stored[f"{label}|stats|{name}"] for name in info["stats"]}
    settings = dict(info["settings"], loaded_from_file=True)
    return SamplerRun(samples, stored[f"{label}|diverging"], stored[f"{label}|num_steps"], stored[f"{label}|energy"],
                      info["seconds_total"], info["seconds_sampling"], settings, stats)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
