"""The result of ``ml.power``: power with Clopper-Pearson intervals, printed as simr prints it."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TEST_NAMES = {"lr": "Likelihood ratio", "z": "z-test"}


def _pct(x: float) -> str:
    """Percent in five characters as simr prints: 100.0% (96.38, 100.0), 33.00% (23.92, 43.12), 0.00%."""
    text = f"{100 * x:.2f}"
    return text if len(text) <= 5 else f"{100 * x:.1f}"


@dataclass
class PowerResult:
    """Power by simulation (simr's powerSim, or powerCurve when ``along`` is set).

    ``frame`` has one row per size (``along``'s number of levels, or one row): ``nrow``,
    ``successes`` (p < alpha), ``trials`` (refits that did not fail), ``failed``, ``nonconverged``,
    ``power`` and its 95% Clopper-Pearson ``lower``/``upper``.
    """

    frame: pd.DataFrame
    test: str
    method: str
    alpha: float
    effect: float | None
    along: str | None
    nsim: int
    entropy: int
    messages: list = field(default_factory=list)
    elapsed: float = float("nan")

    @property
    def power(self) -> float:
        """Power at the largest size (the only one without ``along``)."""
        return float(self.frame["power"].iloc[-1])

    def confint(self) -> tuple[float, float]:
        """95% Clopper-Pearson interval of :attr:`power` (simr's ``confint(powerSim)``)."""
        row = self.frame.iloc[-1]
        return float(row["lower"]), float(row["upper"])

    def __str__(self) -> str:
        head = f"Power for predictor '{self.test}', (95% confidence interval)"
        lines = []
        if self.along is None:
            row = self.frame.iloc[0]
            lines += [head + ":", f"      {_pct(row['power'])}% ({_pct(row['lower'])}, {_pct(row['upper'])})"]
        else:
            lines += [head + ",", f"by number of levels in {self.along}:"]
            for row in self.frame.itertuples(index=False):
                r = row._asdict()
                lines.append(f"{r[self.along]:>7}: {_pct(r['power'])}% ({_pct(r['lower'])}, {_pct(r['upper'])})"
                             f" - {r['nrow']} rows")
        lines += ["", f"Test: {TEST_NAMES[self.method]}"]
        if self.effect is not None:
            lines.append(f"      Effect size for {self.test} is {self.effect:#.2g}")
        failed, warned = int(self.frame["failed"].sum()), int(self.frame["nonconverged"].sum())
        lines += ["", f"Based on {self.nsim} simulations, ({warned} warnings, {failed} errors)",
                  f"alpha = {self.alpha:g}, nrow = {int(self.frame['nrow'].iloc[-1])}",
                  "", f"Time elapsed: {_elapsed(self.elapsed)}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def _elapsed(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600} h {s % 3600 // 60} m {s % 60} s"
