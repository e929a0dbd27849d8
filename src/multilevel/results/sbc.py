"""The result of ``ml.sbc``: ranks per replicate and variable, uniformity checks, rank histograms.

With ``L = thin_to`` posterior draws per fit, a calibrated posterior makes each rank uniform on
0..L (Talts et al. 2018). Per variable, :meth:`SBCResult.summary` gives a chi-square test of the
rank counts over bins against their expected counts (bin widths need not be equal), and the
largest distance between the ranks' ECDF and the uniform CDF at the L + 1 rank values (the SBC
package's ECDF-difference plot, as one number).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..options import open_probability, whole_number
from .format import html_messages, html_table

OK, FAILED = "ok", "failed"
MAX_BINS = 20


def default_bins(n: int, thin_to: int) -> int:
    """About five ranks expected per bin, at least 2 and at most 20 bins (and no more than L + 1)."""
    return int(min(thin_to + 1, MAX_BINS, max(2, n // 5)))


def bin_counts(ranks: np.ndarray, thin_to: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed counts per bin and the bins' shares of the L + 1 rank values (rank * bins // (L + 1))."""
    which = (np.asarray(ranks, dtype=int) * bins) // (thin_to + 1)
    shares = np.bincount(np.arange(thin_to + 1) * bins // (thin_to + 1), minlength=bins) / (thin_to + 1)
    return np.bincount(which, minlength=bins), shares


def max_ecdf_difference(ranks: np.ndarray, thin_to: int) -> float:
    """max_k |share of ranks < k - k / (L + 1)| over k = 1..L+1: 0 for perfectly uniform ranks."""
    ranks = np.asarray(ranks)
    grid = np.arange(1, thin_to + 2)
    ecdf = np.searchsorted(np.sort(ranks), grid, side="left") / len(ranks)
    return float(np.max(np.abs(ecdf - grid / (thin_to + 1))))


@dataclass
class SBCResult:
    """Simulation-based calibration of a brm model (Talts et al. 2018; the R package SBC).

    ``ranks`` has one row per replicate and one column per variable (brms's names): the number of
    the ``thin_to`` posterior draws below the value drawn from the prior (NaN where the fit
    failed). ``truth`` holds those prior draws. ``status`` says per replicate ``"ok"`` or
    ``"failed"``; ``divergences`` counts each fit's divergent transitions (those fits' ranks are
    kept, and counted by :attr:`divergent`). ``ml.sbc(..., seed=result.entropy)`` reproduces the run.
    """

    ranks: pd.DataFrame
    truth: pd.DataFrame
    thin_to: int
    status: np.ndarray
    divergences: np.ndarray
    entropy: int
    seed: object = None
    messages: list = field(default_factory=list)
    elapsed: float = float("nan")
    settings: dict = field(default_factory=dict)

    @property
    def nsim(self) -> int:
        return len(self.ranks)

    @property
    def variables(self) -> list[str]:
        return list(self.ranks.columns)

    @property
    def failed(self) -> int:
        """Replicates whose fit raised an error (their ranks are NaN)."""
        return int(np.sum(self.status == FAILED))

    @property
    def divergent(self) -> int:
        """Fits with at least one divergent transition after warm-up (their ranks are kept)."""
        return int(np.sum(self.divergences > 0))

    def summary(self, bins: int | None = None) -> pd.DataFrame:
        """Per variable: fits with a rank (``n``), ``bins``, the chi-square statistic of the bin counts
        against uniform ranks, its ``df`` and ``p_value``, and ``max_ecdf_diff`` (see the module)."""
        from scipy import stats

        if bins is not None:
            bins = whole_number("bins", bins, 2, self.thin_to + 1)
        rows = []
        for name in self.ranks.columns:
            ranks = self.ranks[name].dropna().to_numpy()
            n = len(ranks)
            if n == 0:
                rows.append([0, np.nan, np.nan, np.nan, np.nan, np.nan])
                continue
            k = bins or default_bins(n, self.thin_to)
            counts, shares = bin_counts(ranks, self.thin_to, k)
            chisq, p_value = stats.chisquare(counts, n * shares)
            rows.append([n, k, float(chisq), k - 1, float(p_value), max_ecdf_difference(ranks, self.thin_to)])
        frame = pd.DataFrame(rows, index=pd.Index(self.ranks.columns, name="variable"),
                             columns=["n", "bins", "chisq", "df", "p_value", "max_ecdf_diff"])
        return frame.astype({"n": int})

    def _head(self) -> list[str]:
        formula, family = self.settings.get("formula", ""), self.settings.get("family", "")
        return [f"Simulation-based calibration: {self.nsim} simulations, ranks 0..{self.thin_to}"
                + (f" ({formula}, {family})" if formula else ""),
                f"{self.failed} failed fits, {self.divergent} fits with divergent transitions (their ranks are kept)"]

    def __str__(self) -> str:
        table = self.summary()
        text = table.to_string(formatters={"chisq": "{:.2f}".format, "p_value": "{:.4f}".format,
                                           "max_ecdf_diff": "{:.3f}".format})
        lines = self._head() + ["", text]
        if self.messages:
            lines += ["", "Messages of failed fits:"] + [f"  {m}" for m in self.messages]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        table = self.summary()
        rows = [[name, r.n, r.bins, f"{r.chisq:.2f}", r.df, f"{r.p_value:.4f}", f"{r.max_ecdf_diff:.3f}"]
                for name, r in zip(table.index, table.itertuples(index=False))]
        head = "".join(f"<p>{html.escape(line)}</p>" for line in self._head())
        return head + html_table(["variable", *table.columns], rows) + "".join(html_messages(self.messages))

    def plot(self, variables=None, bins: int | None = None, band: float = 0.99):
        """Rank histograms, one panel per variable, over the ``band`` (default 99%) range of each bin's
        count under uniform ranks (binomial quantiles): the SBC package's ``plot_rank_hist``.
        Returns the matplotlib Figure."""
        from scipy import stats

        import matplotlib.pyplot as plt

        band = open_probability("band", band)
        names = self.variables if variables is None else ([variables] if isinstance(variables, str) else list(variables))
        unknown = [v for v in names if v not in self.ranks.columns]
        if unknown or not names:
            raise ArgumentError(f"no ranks for {', '.join(map(repr, unknown)) or 'an empty list'}; "
                                f"this result has {', '.join(self.variables)}")
        if bins is not None:
            bins = whole_number("bins", bins, 2, self.thin_to + 1)
        columns = min(3, len(names))
        rows = -(-len(names) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.6 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names):
            ranks = self.ranks[name].dropna().to_numpy()
            k = bins or default_bins(max(len(ranks), 1), self.thin_to)
            counts, shares = bin_counts(ranks, self.thin_to, k)
            edges = np.arange(k + 1)
            low = stats.binom.ppf((1 - band) / 2, len(ranks), shares)
            high = stats.binom.ppf((1 + band) / 2, len(ranks), shares)
            ax.fill_between(edges, np.append(low, low[-1]), np.append(high, high[-1]), step="post", color="0.85",
                            label=f"{100 * band:g}% band")
            ax.stairs(len(ranks) * shares, edges, color="0.4", linestyle="--")
            ax.bar(edges[:-1], counts, width=1.0, align="edge", color="tab:blue", alpha=0.7, edgecolor="white")
            ax.set_title(name, fontsize=9)
            ax.set_xticks([0, k])
            ax.set_xticklabels(["0", str(self.thin_to)])
            ax.set_xlabel("rank", fontsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"SBC rank histograms ({self.nsim} simulations)", fontsize=10)
        fig.tight_layout()
        return fig
