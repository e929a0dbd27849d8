"""What a Bayesian fit hands the tidy-draws layer: named posterior variables with labelled dimensions.

Every Bayesian engine (brm, ulam) describes its draws the same way, so that ``spread_draws``,
``gather_draws``, ``get_variables`` and the interval plots are written once:

- a scalar parameter (``b_Intercept``, ``sigma``, ``a_bar``) has ``dims == ()``;
- an indexed one (brms's ``r_Subject[308,Intercept]``, rethinking's ``a[tank]``) has one
  dimension per index, each with its labels (``coords``) in the data's own dtype and order:
  sleepstudy's Subject levels as its categories, an integer id column as integers, a text
  column used as an ulam index as its sorted text levels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Variable:
    """One posterior variable: draws ``(chains, iterations, *shape)`` and a label per index."""

    name: str
    values: np.ndarray
    dims: tuple[str, ...] = ()
    coords: tuple[pd.Index, ...] = ()

    def __post_init__(self):
        shape = np.shape(self.values)[2:]
        if len(shape) != len(self.dims) or len(self.dims) != len(self.coords):
            raise ValueError(f"variable {self.name!r}: draws of shape {np.shape(self.values)} need one dimension "
                             f"name and one set of labels per index, got dims={self.dims}")
        for dim, labels, size in zip(self.dims, self.coords, shape):
            if len(labels) != size:
                raise ValueError(f"variable {self.name!r}: {len(labels)} labels for dimension {dim!r} of size {size}")

    @property
    def chains(self) -> int:
        return int(np.shape(self.values)[0])

    @property
    def iterations(self) -> int:
        return int(np.shape(self.values)[1])

    def column_names(self, order: str = "C") -> list[str]:
        """brms/posterior-style flat names: ``name`` or ``name[label,label]``.

        ``order="C"``: the last index varies fastest; ``order="F"``: the first does, as R, Stan,
        brms's ``variables()`` and tidybayes's ``get_variables()`` list arrays.
        """
        if not self.dims:
            return [self.name]
        shape = np.shape(self.values)[2:]
        positions = list(np.ndindex(*shape)) if order == "C" else [p[::-1] for p in np.ndindex(*shape[::-1])]
        return [f"{self.name}[{','.join(str(labels[i]) for labels, i in zip(self.coords, position))}]"
                for position in positions]


SAMPLER_COLUMNS = ("lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__", "divergent__", "energy__")
"""Stan's per-iteration sampler diagnostics, as brms's ``as_draws`` and tidybayes's ``get_variables`` list them."""
