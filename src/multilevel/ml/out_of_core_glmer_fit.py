"""The result of an out-of-core glmer fit: what it answers without the rows.

:class:`OutOfCoreGlmerFit` answers everything that needs no per-row data (summary, fixef, ranef,
varcorr, vcov, loglik, AIC/BIC, deviance, Wald intervals, predictions for new data); the summary's
Pearson residual quantiles are found exactly over the partitions at fit time. Per-row questions
(fitted values, residuals, simulation, the bootstrap, profiles) raise
:class:`~multilevel.results.protocol.MissingCapability`, as :class:`~multilevel.ml.out_of_core_fit.OutOfCoreLmerFit`.
"""
from __future__ import annotations


from ..results.glmerfit import GlmerFit
from ..results.protocol import MissingCapability
from .out_of_core_fit import RowlessAnswers, SummaryView
from .services import GeneralizedMixedServices


class OutOfCoreGlmmServices(GeneralizedMixedServices):
    """The GLMM engine for fits whose rows stayed in their partitions."""

    @staticmethod
    def problem(fit):
        raise MissingCapability("the partitions of an out-of-core glmer fit were not kept; refit with ml.glmer")

    @staticmethod
    def bootstrap(fit, nsim: int, **options):
        raise fit._missing("bootstrap")

    @staticmethod
    def confint(fit, method: str, level: float, *, nsim: int, seed, parm):
        if method != "wald":
            raise fit._missing(f"confint(method={method!r})", "use confint('wald')")
        return GeneralizedMixedServices.confint(fit, method, level, nsim=nsim, seed=seed, parm=parm)


def count_extreme(fit: "OutOfCoreGlmerFit", tol: float) -> int:
    """Fitted probabilities within 1e-6 of 0 or 1 at the final modes (counted in PIRLS's last pass)."""
    return int(fit._state.sums["extreme"])


class OutOfCoreGlmerFit(RowlessAnswers, GlmerFit):
    """A glmer fit on data read partition by partition (a Dask DataFrame or parquet).

    ``fit.optimizer.settings["out_of_core"]`` records the partitions, the passes over them and the
    scheduler. Per-row answers raise :class:`MissingCapability`; compute them partition by partition
    with ``fit.predict(partition, type="response")``.
    """

    _pearson_quantiles = None

    def __init__(self, design, problem, state, record, nagq: int, hessian, **options):
        self._state = state  # the modes' reduced sums: deviance, separation count
        super().__init__(design, problem, state, record, nagq, hessian, **options)

    def _missing(self, question: str, hint: str = ""):
        where = (f"the data were out of core ({self.design.n_partitions} partitions) and no rows were kept; "
                 "compute it partition by partition with fit.predict(partition, type='response')")
        return MissingCapability(f"an out-of-core glmer fit cannot answer {question.rstrip('()')}(): "
                                 + (f"{hint}; " if hint else "") + where)

    def __getstate__(self):  # nothing to rebuild from rows: keep the problem (its partitions are released)
        return self.__dict__.copy()

    @property
    def deviance(self) -> float:
        """Sum of squared deviance residuals at the conditional modes (reduced in PIRLS's last pass)."""
        return float(self._state.sums["dev"])

    def fitted(self):
        raise self._missing("fitted")

    def linear_predictor(self):
        raise self._missing("linear_predictor")

    def residuals(self, type: str = "deviance", scaled: bool = False):
        raise self._missing("residuals")

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False):
        raise self._missing("simulate")

    def bootstrap(self, nsim: int, **options):
        raise self._missing("bootstrap")

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, type: str = "link"):
        """Predictions for ``newdata`` (e.g. one partition at a time); the training rows were not kept."""
        if newdata is None:
            raise self._missing("predict", "pass newdata")
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type)

    def summary(self):
        from ..results.glmer_summary import GlmerSummary

        return GlmerSummary(SummaryView(self, self._pearson_quantiles))
