"""``control=`` for lmer and glmer (lme4's ``lmerControl``/``glmerControl``) and ``devfun_only=`` (lme4's
``devFunOnly``, MixedModels.jl's ``objective!``).

``control={"xtol_abs": 1e-9, "maxeval": 5000}`` sets the stopping rules of nlopt's BOBYQA (see
:mod:`multilevel.ml.optimize` for why the defaults stop on theta's step, not on the criterion);
lme4's spellings are read too: ``maxfun`` for ``maxeval``, ``nAGQ0initStep`` for glmer's
``nagq0_init_step`` (False: no theta-only first stage, as lme4's ``nAGQ0initStep = FALSE``).
What a fit used is in ``fit.optimizer.settings``.

``devfun_only=True`` returns the objective instead of a fit: a :class:`DevianceFunction` of theta
(lmer: the REML criterion or the ML deviance, profiled over beta and sigma) or of ``(theta, beta)``
(glmer with nagq >= 1: the Laplace or AGQ deviance; nagq = 0: of theta, beta by PIRLS), on the
design as given: the same numbers as lme4's ``devfun``. A fit's ``fit.objective(...)`` is the same
function at its own model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ArgumentError
from ..options import flag, whole_number

ALIASES = {"maxfun": "maxeval", "nAGQ0initStep": "nagq0_init_step", "xtol": "xtol_abs", "ftol": "ftol_abs"}


@dataclass(frozen=True)
class OptimizerControl:
    """Optimizer settings; None keeps the engine's default for that stage."""

    xtol_abs: float | None = None
    ftol_abs: float | None = None
    ftol_rel: float | None = None
    maxeval: int | None = None
    nagq0_init_step: bool = True

    @classmethod
    def of(cls, control, engine: str) -> OptimizerControl:
        if control is None:
            return cls()
        if isinstance(control, OptimizerControl):
            return control
        if not isinstance(control, dict):
            raise ArgumentError(f"control must be a dict such as {{'xtol_abs': 1e-9, 'maxeval': 5000}}, "
                                f"not {type(control).__name__}")
        known = [f for f in cls.__dataclass_fields__ if engine == "glmer" or f != "nagq0_init_step"]
        values = {}
        for key, value in control.items():
            name = ALIASES.get(key, key)
            if name not in known:
                raise ArgumentError(f"control: unknown setting {key!r} for {engine}; known: {', '.join(known)} "
                                    f"(lme4's maxfun and nAGQ0initStep are read too)")
            if name == "maxeval":
                values[name] = whole_number(f"control {key!r}", value, 1)
            elif name == "nagq0_init_step":
                values[name] = flag(f"control {key!r}", value)
            else:
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) \
                        or value < 0:
                    raise ArgumentError(f"control {key!r} must be a number >= 0, not {value!r}")
                values[name] = float(value)
        return cls(**values)

    def bobyqa_options(self, **defaults) -> dict:
        """The engine's defaults for one optimizer stage, with the settings given here in their place."""
        given = {k: v for k, v in asdict(self).items() if v is not None and k != "nagq0_init_step"}
        return {**defaults, **given}


class DevianceFunction:
    """A model's objective as a function (lme4's ``devfun``): call it with the parameters.

    ``lower_bounds``, ``start`` (lme4's starting values) and ``parameters`` (``theta``, or
    ``theta`` then ``beta``) describe what it takes; ``what`` says which criterion it returns.
    """

    def __init__(self, objective, lower_bounds: np.ndarray, start: np.ndarray, parameters: list[str], what: str):
        self._objective = objective
        self.lower_bounds = np.asarray(lower_bounds, dtype=float)
        self.start = np.asarray(start, dtype=float)
        self.parameters = list(parameters)
        self.what = what

    def __call__(self, params) -> float:
        try:
            params = np.asarray(params, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"the {self.what} takes numbers ({', '.join(self.parameters)}), "
                                f"not {params!r}") from exc
        if params.shape != self.start.shape:
            raise ArgumentError(f"the {self.what} takes {len(self.start)} values ({', '.join(self.parameters)}), "
                                f"got shape {params.shape}")
        if not np.all(np.isfinite(params)):
            raise ArgumentError(f"the {self.what} takes finite numbers, got {params.tolist()}")
        if np.any(params < self.lower_bounds):
            raise ArgumentError(f"parameters below their lower bounds ({self.lower_bounds.tolist()}): "
                                f"{params.tolist()}")
        return float(self._objective(params))

    def __repr__(self) -> str:
        return f"<{self.what} of {', '.join(self.parameters)}>"


def theta_labels(terms) -> list[str]:
    """lme4's names of theta: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ``Subject.Days``."""
    return [label for term in terms for label in term.covariance.theta_labels(term.group_name)]


def lmm_deviance_function(problem, reml: bool) -> DevianceFunction:
    what = "REML criterion" if reml else "deviance"
    return DevianceFunction(lambda theta: problem.objective(theta, reml=reml), problem.lower_bounds(),
                            problem.initial_theta(), theta_labels(problem.terms), what)


def glmm_deviance_function(problem, nagq: int, fixed_names, start_beta=None) -> DevianceFunction:
    """``start_beta``: the fixed effects of the start (default: PIRLS's at the initial theta, as lme4)."""
    problem.set_nagq(nagq)
    if nagq == 0:
        return DevianceFunction(problem.theta_only_objective, problem.lower_bounds(), problem.initial_theta(),
                                theta_labels(problem.terms), "deviance (beta by PIRLS)")
    lower = np.concatenate([problem.lower_bounds(), np.full(problem.p, -np.inf)])
    if start_beta is None:
        start_beta = problem.pirls(problem.initial_theta(), None).beta
    return DevianceFunction(problem.objective, lower, np.concatenate([problem.initial_theta(), start_beta]),
                            theta_labels(problem.terms) + list(fixed_names),
                            "Laplace deviance" if nagq == 1 else f"AGQ deviance ({nagq} nodes)")
