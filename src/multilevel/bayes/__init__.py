"""Bayesian engine: brms-style models from the shared design, sampled with NumPyro's NUTS."""
from .brm import brm
from .posterior import BrmFit, loo_compare
from .priors import Prior, PriorError, prior
from .sampler import SamplingWarning

__all__ = ["brm", "BrmFit", "loo_compare", "Prior", "PriorError", "prior", "SamplingWarning"]
