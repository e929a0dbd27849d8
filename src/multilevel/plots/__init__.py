"""Pictures of multilevel models, one call each, for lmer, glmer, brm and ulam fits (matplotlib).

Each function returns the matplotlib Axes or Figure it drew, so it can be styled or saved.
"""
from .bayes import compare, posterior, pp_check, rank, trace
from .groups import caterpillar, coefficients, group_lines, shrinkage

__all__ = ["shrinkage", "caterpillar", "coefficients", "group_lines", "trace", "rank", "posterior",
           "pp_check", "compare"]
