"""Maximum-likelihood engine: objectives, optimizer, fitting glue and likelihood inference."""
from .anova import anova
from .lmer import fit_design, lmer
from .lmm import LMMProblem
from .optimize import OptimizerRecord, bobyqa

__all__ = ["anova", "fit_design", "lmer", "LMMProblem", "OptimizerRecord", "bobyqa"]
