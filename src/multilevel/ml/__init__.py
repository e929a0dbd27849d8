"""Maximum-likelihood engine: objectives, optimizer, fitting glue and likelihood inference."""
from .anova import anova
from .glm import fit_glm_design, glm
from .glmer import SeparationWarning, fit_glmm_design, glmer, glmer_nb
from .lm import fit_lm_design, lm
from .lmer import fit_design, lmer
from .lmm import LMMProblem
from .optimize import OptimizerRecord, bobyqa
from .power import power

__all__ = ["anova", "lm", "glm", "fit_lm_design", "fit_glm_design", "glmer", "glmer_nb", "fit_glmm_design", "SeparationWarning", "fit_design", "lmer", "LMMProblem", "OptimizerRecord", "bobyqa", "power"]
