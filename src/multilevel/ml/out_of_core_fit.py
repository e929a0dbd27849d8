"""The result of an out-of-core lmer fit: what it answers without the rows, and what it computes per partition.

:class:`OutOfCoreLmerFit` answers everything that needs no per-row data from the summed
cross-products; ``fitted()`` and ``residuals()`` are lazy dask Series of :class:`RowValues`, computed
partition by partition. The summary's table of scaled residuals comes from exact quantiles over the
partitions taken at fit time (pass 6, :func:`_quantiles`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design.exact_statistics import order_statistics
from ..options import choice, flag
from ..results.lmerfit import LmerFit
from ..results.protocol import Fit, MissingCapability
from ..results.summary import LmerSummary
from .lmm import LMMProblem
from .services import LinearMixedServices


# ---- pass 6: scaled residual quantiles (the summary's table) -------------------------------------
@dataclass(frozen=True)
class RowValues:
    """Fitted values or residuals at the optimum, per row of an encoded partition (as LmerFit computes
    them): ``kind`` "fitted", "response" or "pearson" residuals, ``scaled`` Pearson residuals over sigma."""

    beta: np.ndarray
    b: tuple
    sigma: float
    kind: str = "response"
    scaled: bool = True

    def __call__(self, e) -> np.ndarray:
        total = np.zeros(len(e.y))
        for codes, z, b in zip(e.codes, e.z, self.b):
            total += np.einsum("np,np->n", z, b[codes])
        fitted = e.x @ self.beta + total
        if self.kind == "fitted":
            return fitted
        res = e.y - fitted
        if e.weights is not None and (self.scaled or self.kind == "pearson"):
            res = res * np.sqrt(e.weights)
        return res / self.sigma if self.scaled else res


@dataclass(frozen=True)
class _PartitionRows:
    """``values(encoded partition)`` as a Series on the partition's complete rows (a map_partitions task)."""

    plan: object
    values: RowValues

    def __call__(self, part: pd.DataFrame) -> pd.Series:
        _, rows, _, _ = self.plan.complete_rows(part)
        e = self.plan.encode(part)
        values = np.zeros(0) if e is None else self.values(e)
        return pd.Series(values, index=part.index[rows], dtype=float)


def _quantiles(reducer, plan, function, n: int) -> np.ndarray:
    """np.quantile(values, [0, .25, .5, .75, 1]) exactly: the order statistics around each position."""
    probs = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    positions = probs * (n - 1)
    low, high = np.floor(positions).astype(np.int64), np.ceil(positions).astype(np.int64)
    ranks = sorted(set(low.tolist()) | set(high.tolist()))
    values = dict(zip(ranks, order_statistics(reducer, plan, [function], [(0, r) for r in ranks], n)))
    return np.array([np.quantile([values[lo], values[hi]], p - lo) if hi > lo else values[lo]
                     for lo, hi, p in zip(low, high, positions)])


# ---- the fit -------------------------------------------------------------------------------------
class OutOfCoreServices(LinearMixedServices):
    """The engine for fits whose rows stayed in their partitions: the problem travels with the fit."""

    @staticmethod
    def problem(fit):
        raise MissingCapability("the cross-products of an out-of-core fit were not kept; refit with ml.lmer")

    @staticmethod
    def confint(fit, method: str, level: float, *, nsim: int, seed, parm):
        if method != "wald":
            raise fit._missing(f"confint(method={method!r})", "use confint('wald')")
        return LinearMixedServices.confint(fit, method, level, nsim=nsim, seed=seed, parm=parm)


class RowlessAnswers:
    """For fits of out-of-core data (listed first among the bases): the protocol's questions about
    the training rows take the protocol's defaults, which raise, so capabilities() omits them."""

    observed = Fit.observed
    observation_weights = Fit.observation_weights
    fitted_mean = Fit.fitted_mean
    replicated_data = Fit.replicated_data
    fixed_columns = Fit.fixed_columns
    grouping = Fit.grouping
    varying_effects = Fit.varying_effects

    def hatvalues(self):
        raise self._missing("hatvalues", "leverages need every row of the design")

    def cooks_distance(self):
        raise self._missing("cooks_distance", "leverages need every row of the design")


class OutOfCoreLmerFit(RowlessAnswers, LmerFit):
    """An lmer fit on data read partition by partition (a Dask DataFrame or parquet).

    It answers what needs no per-row data: ``summary``, ``fixef``, ``ranef``, ``coef``, ``varcorr``,
    ``vcov``, ``sigma``, ``loglik``, ``aic``/``bic``, ``confint("wald")``, ``refit_ml``/``anova``,
    ``predict(newdata)`` and the optimizer record. ``fitted()`` and ``residuals()`` are lazy dask
    Series, computed partition by partition. The other per-row answers (predictions on the training
    rows, simulation, the bootstrap, the protocol's ``fitted_mean``/``observed``...) raise
    :class:`~multilevel.results.protocol.MissingCapability`.
    """

    _search = None
    _residual_quantiles = None
    _source = None  # (dask DataFrame, PartitionPlan): per-row answers as lazy dask Series

    def _missing(self, question: str, hint: str = ""):
        where = (f"the data were out of core ({self.design.n_partitions} partitions) and no rows were kept; "
                 "compute it partition by partition with fit.predict(partition)")
        return MissingCapability(f"an out-of-core lmer fit cannot answer {question.rstrip('()')}(): "
                                 + (f"{hint}; " if hint else "") + where)

    def __getstate__(self):  # the cross-products cannot be rebuilt from rows: keep them
        return self.__dict__.copy()

    def fitted(self):
        """Fitted values as a lazy dask Series, computed partition by partition when asked (``.compute()``);
        rows dropped for missing values are left out, the others keep their index."""
        return self._per_row(RowValues(self._beta, tuple(self._b), self.sigma, "fitted", False))

    def residuals(self, type: str = "response", scaled: bool = False):
        """Residuals as a lazy dask Series (see :meth:`fitted`); types and scaling as :meth:`LmerFit.residuals`."""
        type = choice("type", type, ["response", "working", "deviance", "pearson"])
        kind = "pearson" if type == "pearson" else "response"
        return self._per_row(RowValues(self._beta, tuple(self._b), self.sigma, kind, flag("scaled", scaled)))

    def _per_row(self, values: RowValues):
        if self._source is None:
            raise self._missing("fitted", "the fit no longer holds its data source")
        frame, plan = self._source
        return frame.map_partitions(_PartitionRows(plan, values), meta=pd.Series(dtype=float))

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False):
        raise self._missing("simulate")

    def bootstrap(self, nsim: int, **options):
        raise self._missing("bootstrap")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False):
        """Predictions for ``newdata`` (e.g. one partition at a time); the training rows were not kept."""
        if newdata is None:
            raise self._missing("predict", "pass newdata")
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    def refit_ml(self) -> "OutOfCoreLmerFit":
        """The same model by maximum likelihood, from the same summed cross-products (no pass over the data)."""
        if not self.reml:
            return self
        from .lmer import fit_problems

        problem = _with_reml(self.problem, False)
        search = problem if self._search is None or self._search is self.problem else _with_reml(self._search, False)
        settings = {"out_of_core": dict(self.optimizer.settings.get("out_of_core", {}))}
        fit = fit_problems(self.design, search, problem, self.standardization, reml=False, start=self._theta,
                           data_name=self.data_name, constant_response=False, fit_class=OutOfCoreLmerFit,
                           services=OutOfCoreServices, settings=settings)
        fit._search = search
        return fit

    def summary(self):
        return LmerSummary(SummaryView(self, self._residual_quantiles))

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _with_reml(problem: LMMProblem, reml: bool) -> LMMProblem:
    clone = copy.copy(problem)
    clone.reml = reml
    return clone


class SummaryView:
    """The fit as lme4's summary reads it, with quantiles of its residuals computed exactly over the
    partitions at fit time (lmer: scaled residuals; glmer: Pearson residuals) standing in for the
    residuals it would otherwise take quantiles of; everything else is the fit's."""

    def __init__(self, fit, quantiles):
        self._fit, self._quantiles = fit, quantiles

    def __getattr__(self, name):
        return getattr(self._fit, name)

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        return np.full(5, np.nan) if self._quantiles is None else self._quantiles
