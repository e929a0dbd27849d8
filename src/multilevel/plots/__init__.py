"""Pictures of multilevel models, one call each, for lmer, glmer, brm and ulam fits (matplotlib).

Each function returns the matplotlib Axes or Figure it drew, so it can be styled or saved.
"""
from .bayes import compare, posterior, pp_check, prior_posterior, rank, trace
from .groups import caterpillar, coefficients, conditional_effects, group_lines, shrinkage, shrinkage_2d
from .intervals import gradient_interval, halfeye, pointinterval

__all__ = ["shrinkage", "shrinkage_2d", "conditional_effects", "prior_posterior", "caterpillar", "coefficients", "group_lines", "trace", "rank", "posterior",
           "pp_check", "compare", "halfeye", "gradient_interval", "pointinterval"]
