"""Bundled real data sets, loaded as pandas DataFrames with R's factor level order.

Each CSV in ``data/`` is a copy of a published data set; ``data/SOURCES.md`` gives its origin and
licence. Columns that R stores as factors (``data/factor_levels_r.json``) are loaded as pandas
categoricals with R's level order, so that reference levels and contrasts match lme4.

Examples
--------
>>> import multilevel as ml
>>> ml.datasets.load("sleepstudy").shape
(180, 3)
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["load", "names", "sources"]


def _data_dir():
    return resources.files(__name__).joinpath("data")


def names() -> list[str]:
    """Names of the bundled data sets, sorted."""
    return sorted(p.name[:-4] for p in _data_dir().iterdir() if p.name.endswith(".csv"))


@lru_cache(maxsize=1)
def _factor_levels() -> dict:
    return json.loads(_data_dir().joinpath("factor_levels_r.json").read_text())


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set by name (see :func:`names`).

    Returns a fresh DataFrame each call. Factor columns that R orders in a particular way are
    categoricals with R's levels; the ordered ones (InstEval ``studage``, ``lectage``) are ordered.
    """
    available = names()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"no bundled data set named {name!r}.{hint} Available: {', '.join(available)}")
    with _data_dir().joinpath(f"{name}.csv").open("rb") as handle:
        frame = pd.read_csv(handle)
    for column, info in _factor_levels().get(name, {}).items():
        values = frame[column].astype("string")
        frame[column] = pd.Categorical(values, categories=info["levels"], ordered=info["ordered"])
    return frame


def sources() -> str:
    """The text of SOURCES.md: origin and licence of every bundled data set."""
    return _data_dir().joinpath("SOURCES.md").read_text()
