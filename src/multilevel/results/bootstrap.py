"""The result of ``fit.bootstrap``: one statistic per replicate, boot.ci's intervals, what failed.

Intervals follow R's ``boot::boot.ci`` (what lme4's ``confint(method="boot")`` prints): ``"perc"``
interpolates order statistics on the normal scale (``norm.inter``), ``"basic"`` reflects them
around the estimate, ``"norm"`` is estimate - bias +- z * sd of the replicates.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..options import choice, open_probability

OK, NONCONVERGED, FAILED = "ok", "nonconverged", "failed"


def norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """boot's ``norm.inter``: quantiles of ``t`` at ``alpha``, interpolated on the normal scale."""
    from scipy import stats

    t = np.sort(t[np.isfinite(t)])
    n = len(t)
    if n == 0:
        return np.full(len(alpha), np.nan)
    rk = (n + 1) * np.asarray(alpha, dtype=float)
    k = np.trunc(rk).astype(int)
    out = np.empty(len(rk))
    for i, (r, ki) in enumerate(zip(rk, k)):
        if ki <= 0:
            out[i] = t[0]
        elif ki >= n:
            out[i] = t[-1]
        elif ki == r:
            out[i] = t[ki - 1]
        else:
            z, lo, hi = stats.norm.ppf([alpha[i], ki / (n + 1), (ki + 1) / (n + 1)])
            out[i] = t[ki - 1] + (z - lo) / (hi - lo) * (t[ki] - t[ki - 1])
    return out


def boot_interval(t0: float, t: np.ndarray, level: float, type: str) -> tuple[float, float]:
    """One row of ``boot.ci(..., type=type)``: (lower, upper)."""
    from scipy import stats

    if type == "perc":
        lo, hi = norm_inter(t, np.array([(1 - level) / 2, (1 + level) / 2]))
        return lo, hi
    if type == "basic":
        hi_q, lo_q = norm_inter(t, np.array([(1 + level) / 2, (1 - level) / 2]))
        return 2 * t0 - hi_q, 2 * t0 - lo_q
    finite = t[np.isfinite(t)]
    if len(finite) < 2:
        return np.nan, np.nan
    bias = finite.mean() - t0
    half = np.std(finite, ddof=1) * stats.norm.ppf((1 + level) / 2)
    return t0 - bias - half, t0 - bias + half


@dataclass
class BootResult:
    """A parametric bootstrap of a mixed model (lme4's ``bootMer``).

    ``t0`` is the statistic on the data, ``t`` one row per replicate (a failed refit is a row of
    NaN), ``status`` says per replicate ``"ok"``, ``"nonconverged"`` (kept, as bootMer keeps them)
    or ``"failed"``. ``entropy`` reproduces the run: ``fit.bootstrap(nsim, seed=result.entropy)``.
    """

    t0: pd.Series
    t: pd.DataFrame
    status: np.ndarray
    use_u: bool
    entropy: int
    messages: list = field(default_factory=list)
    elapsed: float = float("nan")
    type: str = "parametric"

    @property
    def nsim(self) -> int:
        return len(self.t)

    @property
    def failed(self) -> int:
        return int(np.sum(self.status == FAILED))

    @property
    def nonconverged(self) -> int:
        return int(np.sum(self.status == NONCONVERGED))

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Intervals per statistic as ``boot.ci``: ``"perc"`` (default, as lme4), ``"basic"`` or ``"norm"``."""
        level = open_probability("level", level)
        type = choice("type", type, ["perc", "basic", "norm"])
        if self.failed == self.nsim:
            raise ArgumentError(f"all {self.nsim} bootstrap refits failed; there is nothing to take intervals of "
                                f"(first message: {self.messages[0] if self.messages else 'none'})")
        rows = [boot_interval(self.t0[name], self.t[name].to_numpy(), level, type) for name in self.t.columns]
        labels = [f"{100 * (1 - level) / 2:.3g} %", f"{100 * (1 + level) / 2:.3g} %"]
        return pd.DataFrame(rows, index=self.t.columns, columns=labels)

    def summary(self) -> pd.DataFrame:
        """boot's print: original, bias and std. error per statistic (over finite replicates)."""
        return pd.DataFrame({"original": self.t0, "bias": self.t.mean() - self.t0, "std. error": self.t.std(ddof=1)})

    def __str__(self) -> str:
        head = (f"PARAMETRIC BOOTSTRAP ({'conditional on the random effects' if self.use_u else 'new random effects'})"
                f"\n\nBootstrap Statistics :  {self.nsim} replicates, {self.failed} failed, "
                f"{self.nonconverged} not converged\n")
        return head + self.summary().to_string()

    def __repr__(self) -> str:
        return self.__str__()
