"""Covariance structures of a random-effects term, one contract for all.

A structure maps its parameter vector ``theta`` to the lower-triangular relative covariance factor
``Lambda`` (p x p) with ``Sigma = sigma**2 * Lambda @ Lambda.T`` for a linear mixed model. It declares
bounds, a starting value and parameter names. lme4 stores ``theta`` as the lower triangle of
``Lambda`` column by column; :class:`Unstructured` keeps that order so fits compare one to one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Covariance:
    """Contract: ``n_theta``, ``lower_bounds()``, ``initial_theta()``, ``factor(theta)``, ``theta_names``."""

    column_names: tuple[str, ...]

    @property
    def dim(self) -> int:
        return len(self.column_names)

    @property
    def n_theta(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def lower_bounds(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_theta(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def factor(self, theta: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Lambda (p x p lower triangular) from this term's theta."""
        raise NotImplementedError

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def theta_pairs(self) -> list[tuple[int, int]]:
        """(row, column) of Lambda that each theta entry fills."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class Unstructured(Covariance):
    """A full p x p covariance: theta is Lambda's lower triangle by column (lme4's order)."""

    def theta_pairs(self) -> list[tuple[int, int]]:
        p = self.dim
        return [(i, j) for j in range(p) for i in range(j, p)]

    @property
    def n_theta(self) -> int:
        return self.dim * (self.dim + 1) // 2

    def lower_bounds(self) -> np.ndarray:
        return np.array([0.0 if i == j else -np.inf for i, j in self.theta_pairs()])

    def initial_theta(self) -> np.ndarray:
        return np.array([1.0 if i == j else 0.0 for i, j in self.theta_pairs()])

    def factor(self, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros((self.dim, self.dim))
        rows, cols = zip(*self.theta_pairs())
        lam[rows, cols] = theta
        return lam

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:
        rows, cols = zip(*self.theta_pairs())
        return np.asarray(factor)[rows, cols].copy()


@dataclass(frozen=True)
class Diagonal(Covariance):
    """Independent effects (lme4's ``||`` within one term): theta holds Lambda's diagonal."""

    def theta_pairs(self) -> list[tuple[int, int]]:
        return [(i, i) for i in range(self.dim)]

    @property
    def n_theta(self) -> int:
        return self.dim

    def lower_bounds(self) -> np.ndarray:
        return np.zeros(self.dim)

    def initial_theta(self) -> np.ndarray:
        return np.ones(self.dim)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        return np.diag(np.asarray(theta, dtype=float))

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:
        return np.diag(factor).copy()


def covariance_from_factor(factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative covariance Lambda Lambda' -> (covariance, standard deviations, correlations)."""
    cov = factor @ factor.T
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return cov, sd, corr
