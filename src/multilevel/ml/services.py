"""What an ML fit asks of its engine after fitting: the problem object, refits, intervals, variances.

``results/`` never imports ``ml/``: ``lmer`` and ``glmer`` hand each fit one of these classes, and
the fit calls it (``fit.confint``, ``fit.refit_ml``, ``fit.ranef(condvar=True)``...). They hold no
state, so a pickled fit stores only a reference to the class and rebuilds its problem on demand.
"""
from __future__ import annotations


class LinearMixedServices:
    """The linear mixed model engine, as :class:`~multilevel.results.LmerFit` uses it."""

    @staticmethod
    def problem(fit):
        from .lmm import LMMProblem

        return LMMProblem(fit.design, reml=fit.reml)

    @staticmethod
    def refit(design, *, reml: bool, start, data_name: str):
        from .lmer import fit_design

        return fit_design(design, reml=reml, start=start, data_name=data_name)

    @staticmethod
    def conditional_variances(factor, terms, lambdas, sigma):
        from .condvar import conditional_variances

        return conditional_variances(factor, terms, lambdas, sigma)

    @staticmethod
    def variance_parameter_names(fit) -> list[str]:
        from .inference import _param_names

        return _param_names(fit)

    @staticmethod
    def confint(fit, method: str, level: float, *, nsim: int, seed, parm):
        from . import inference

        if method == "wald":
            return inference.wald_intervals(fit, level)
        if method == "profile":
            return inference.profile_intervals(fit, level, parm=parm)
        return inference.bootstrap_intervals(fit, level, nsim=nsim, seed=seed)

    @staticmethod
    def objective(fit):
        """The fit's criterion as a function of theta (:mod:`multilevel.ml.control`)."""
        from .control import lmm_deviance_function

        return lmm_deviance_function(fit.problem, fit.reml)

    @staticmethod
    def refit_response(fit, newresponse):
        """lme4's ``refit(object, newresp)`` (:mod:`multilevel.ml.update`)."""
        from .update import refit_lmer

        return refit_lmer(fit, newresponse)

    @staticmethod
    def update(fit, formula, newdata, **changes):
        """R's ``update`` (:mod:`multilevel.ml.update`)."""
        from .update import update

        return update(fit, formula, newdata, **changes)

    @staticmethod
    def leverage(fit):
        """lme4's ``hatvalues`` (:mod:`multilevel.ml.influence`)."""
        from .influence import lmer_leverage

        return lmer_leverage(fit)

    @staticmethod
    def bootstrap(fit, nsim: int, **options):
        """lme4's ``bootMer`` (:func:`multilevel.ml.bootstrap.bootstrap`)."""
        from .bootstrap import bootstrap

        return bootstrap(fit, nsim, **options)


class GeneralizedMixedServices(LinearMixedServices):
    """The GLMM engine (PIRLS, Laplace, AGQ), as :class:`~multilevel.results.GlmerFit` uses it."""

    @staticmethod
    def problem(fit):
        from .glmm import GLMMProblem

        return GLMMProblem(fit.design, nagq=fit.nagq)

    @staticmethod
    def refit(design, *, reml: bool, start, data_name: str):  # pragma: no cover - glmer fits are ML already
        raise NotImplementedError

    @staticmethod
    def objective(fit):
        from .control import glmm_deviance_function

        return glmm_deviance_function(fit.problem, fit.nagq, fit.design.fixed.column_names,
                                      start_beta=fit.fixef().to_numpy())

    @staticmethod
    def refit_response(fit, newresponse):
        from .update import refit_glmer

        return refit_glmer(fit, newresponse)

    @staticmethod
    def leverage(fit):
        from .influence import glmer_leverage

        return glmer_leverage(fit)

    @staticmethod
    def bootstrap(fit, nsim: int, **options):
        from .bootstrap import GeneralizedReplicate, bootstrap

        return bootstrap(fit, nsim, replicate=GeneralizedReplicate, **options)

    @staticmethod
    def confint(fit, method: str, level: float, *, nsim: int, seed, parm):
        from . import glmm_inference

        if method == "wald":
            return glmm_inference.wald_intervals(fit, level)
        if method == "boot":
            return glmm_inference.bootstrap_intervals(fit, level, nsim=nsim, seed=seed)
        return glmm_inference.profile_intervals(fit, level, parm=parm)


class LinearModelServices:
    """The lm/glm engine, as :class:`~multilevel.results.LmFit` and ``GlmFit`` use it: anova tables."""

    update = LinearMixedServices.update

    @staticmethod
    def leverage(fit):
        """R's ``hatvalues`` of lm and glm (glm: at the final IRLS working weights)."""
        from .influence import fixed_leverage

        weights = fit.irls.working_weights if fit.engine == "glm" else fit.design.weights
        return fixed_leverage(fit.design.fixed.matrix, weights, fit._unscaled)

    @staticmethod
    def anova(fit, **options):
        from .lm_anova import anova_glm, anova_lm

        return anova_lm(fit) if fit.engine == "lm" else anova_glm(fit, **options)
