"""Covariance structures of a random-effects term, one contract for all.

A structure maps its parameter vector ``theta`` to the lower-triangular relative covariance factor
``Lambda`` (p x p) with ``Sigma = sigma**2 * Lambda @ Lambda.T`` for a linear mixed model. It declares
bounds, a starting value and parameter names. lme4 stores ``theta`` as the lower triangle of
``Lambda`` column by column; :class:`Unstructured` keeps that order so fits compare one to one.

Structured covariances (glmmTMB's ``cs()``, ``ar1()``, ``diag()`` and ``homdiag()``) write
``Lambda = D chol(R(rho))`` with ``D`` the relative standard deviations. The optimizer has lower
bounds only, so a correlation is a smooth function of an unbounded parameter ``phi`` (AR(1):
``rho = tanh(phi)``; compound symmetry: ``rho = (exp(phi) - 1) / (exp(phi) + p - 1)``, which spans
the positive-definite range ``(-1/(p - 1), 1)``); ``phi = 0`` is ``rho = 0``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Covariance:
    """Contract: ``n_theta``, ``lower_bounds()``, ``initial_theta()``, ``factor(theta)``,
    ``theta_from_factor()``, ``theta_pairs()``, ``theta_labels()``."""

    column_names: tuple[str, ...]

    # glmmTMB's name of the structure ("us" unstructured), printed next to a structured term's group
    structure = "us"
    # whether theta_pairs() and theta_from_factor() describe every covariance with the same pattern of
    # free entries (sds and correlations set one by one): lme4's profile and the standardizing
    # transforms of the optimizer's coordinates need it; structured covariances tie entries together
    free_entries = True
    # whether the effects can be correlated (VarCorr lists correlations only then, as glmmTMB)
    correlated = True

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
        """(row, column) of the covariance that each theta entry stands for: its standard deviation
        (i == j) or correlation (i != j); for :class:`Unstructured` also the entry of Lambda it fills."""
        raise NotImplementedError  # pragma: no cover - abstract

    def on_boundary(self, theta: np.ndarray, tol: float) -> bool:
        """A singular covariance: a theta entry within ``tol`` of its (finite) lower bound, as lme4."""
        lower = self.lower_bounds()
        return bool(np.any(np.isfinite(lower) & (np.asarray(theta) < lower + tol)))

    def theta_labels(self, group: str) -> list[str]:
        """Names of theta's entries, lme4's for free entries: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``."""
        names = self.column_names
        return [f"{group}.{names[i]}" if i == j else f"{group}.{names[i]}.{names[j]}" for i, j in self.theta_pairs()]

    def theta_from_sdcor(self, values: np.ndarray) -> np.ndarray:
        """theta from the relative standard deviations and the correlations at ``theta_pairs()``, in
        that order (lme4's ``.sig01, ...`` scale, used by profiles); ``np.linalg.LinAlgError`` where
        they make no covariance matrix of this structure."""
        p = self.dim
        sd, corr = np.zeros(p), np.eye(p)
        for (i, j), value in zip(self.theta_pairs(), values):
            if i == j:
                sd[i] = value
            else:
                corr[i, j] = corr[j, i] = value
        return self.theta_from_factor(sd[:, None] * np.linalg.cholesky(corr))

    def sdcor(self, theta: np.ndarray) -> np.ndarray:
        """The relative standard deviations and correlations at ``theta_pairs()`` (the inverse of
        :meth:`theta_from_sdcor`)."""
        cov = (lam := self.factor(theta)) @ lam.T
        sd = np.sqrt(np.diag(cov))
        corr = self.correlation(theta) if not self.free_entries else None
        return np.array([sd[i] if i == j else (corr[i, j] if corr is not None else
                                                 cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else 0.0)
                         for i, j in self.theta_pairs()])

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        """The correlation matrix of the effects (the structure's, also where a standard deviation is 0)."""
        return covariance_from_factor(self.factor(theta))[2]


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
    """Independent effects (lme4's ``||`` within one term, glmmTMB's ``diag()``): theta holds
    Lambda's diagonal."""

    structure = "diag"
    free_entries = False  # a linear recoding of the columns makes them correlated
    correlated = False

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


def _scaled_factor(sd: np.ndarray, chol_corr: np.ndarray) -> np.ndarray:
    return np.asarray(sd, dtype=float)[:, None] * chol_corr


def _sd_corr(factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cov, sd, corr = covariance_from_factor(np.asarray(factor, dtype=float))
    return sd, corr


@dataclass(frozen=True)
class HomogeneousDiagonal(Covariance):
    """Independent effects with one shared variance (glmmTMB's ``homdiag()``): theta = (d,),
    Lambda = d I."""

    structure = "homdiag"
    free_entries = False
    correlated = False

    @property
    def n_theta(self) -> int:
        return 1

    def theta_pairs(self) -> list[tuple[int, int]]:
        return [(0, 0)]

    def lower_bounds(self) -> np.ndarray:
        return np.zeros(1)

    def initial_theta(self) -> np.ndarray:
        return np.ones(1)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        return float(np.asarray(theta, dtype=float)[0]) * np.eye(self.dim)

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:
        sd, _ = _sd_corr(factor)
        return np.array([float(np.sqrt(np.mean(sd**2)))])

    def theta_from_sdcor(self, values: np.ndarray) -> np.ndarray:
        return np.array([float(values[0])])

    def theta_labels(self, group: str) -> list[str]:
        return [f"{group}.homdiag.sd"]

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        return np.eye(self.dim)


@dataclass(frozen=True)
class AR1(Covariance):
    """First-order autoregressive (glmmTMB's ``ar1()``): one relative sd ``d`` and correlation
    ``rho**|i - j|`` between columns i and j; theta = (d, phi), rho = tanh(phi).

    chol(R) is known in closed form: ``L[i, j] = rho**(i - j)`` times 1 in column 0 and
    ``sqrt(1 - rho**2)`` after, so it stays exact as |rho| -> 1.
    """

    structure = "ar1"
    free_entries = False

    @property
    def n_theta(self) -> int:
        return 2

    def theta_pairs(self) -> list[tuple[int, int]]:
        return [(0, 0), (1, 0)]

    def lower_bounds(self) -> np.ndarray:
        return np.array([0.0, -np.inf])

    def initial_theta(self) -> np.ndarray:
        return np.array([1.0, 0.0])

    @staticmethod
    def rho(theta: np.ndarray) -> float:
        return float(np.tanh(np.asarray(theta, dtype=float)[1]))

    def factor(self, theta: np.ndarray) -> np.ndarray:
        d, rho = float(np.asarray(theta, dtype=float)[0]), self.rho(theta)
        p = self.dim
        lag = np.subtract.outer(np.arange(p), np.arange(p))
        chol = np.where(lag >= 0, rho ** np.clip(lag, 0, None), 0.0)
        chol[:, 1:] *= np.sqrt(max(0.0, 1.0 - rho * rho))
        return d * chol

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:
        sd, corr = _sd_corr(factor)
        rho = float(np.mean(np.diagonal(corr, -1))) if self.dim > 1 else 0.0
        return np.array([float(np.sqrt(np.mean(sd**2))), float(np.arctanh(np.clip(rho, -1 + 1e-15, 1 - 1e-15)))])

    def theta_labels(self, group: str) -> list[str]:
        return [f"{group}.ar1.sd", f"{group}.ar1.phi"]

    def on_boundary(self, theta: np.ndarray, tol: float) -> bool:
        return super().on_boundary(theta, tol) or 1.0 - abs(self.rho(theta)) < tol

    def theta_from_sdcor(self, values: np.ndarray) -> np.ndarray:
        sd, rho = float(values[0]), float(values[1])
        if not abs(rho) < 1:
            raise np.linalg.LinAlgError(f"an AR(1) correlation must lie in (-1, 1), not {rho}")
        return np.array([sd, float(np.arctanh(rho))])

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        lag = np.abs(np.subtract.outer(np.arange(self.dim), np.arange(self.dim)))
        return self.rho(theta) ** lag


@dataclass(frozen=True)
class CompoundSymmetry(Covariance):
    """Compound symmetry with heterogeneous variances (glmmTMB's ``cs()``): relative sds
    ``d_1..d_p`` and one correlation between every pair of columns; theta = (d_1, ..., d_p, phi),
    ``rho = (exp(phi) - 1) / (exp(phi) + p - 1)`` in ``(-1/(p - 1), 1)``."""

    structure = "cs"
    free_entries = False

    @property
    def n_theta(self) -> int:
        return self.dim + 1

    def theta_pairs(self) -> list[tuple[int, int]]:
        return [(i, i) for i in range(self.dim)] + [(1, 0)]

    def lower_bounds(self) -> np.ndarray:
        return np.concatenate([np.zeros(self.dim), [-np.inf]])

    def initial_theta(self) -> np.ndarray:
        return np.concatenate([np.ones(self.dim), [0.0]])

    def rho(self, theta: np.ndarray) -> float:
        phi = float(np.asarray(theta, dtype=float)[-1])
        p = self.dim
        if phi > 0:  # the same value written without overflow for large phi
            return (1.0 - np.exp(-phi)) / (1.0 + (p - 1) * np.exp(-phi))
        return float(np.expm1(phi) / (np.exp(phi) + p - 1))

    def factor(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        p, rho = self.dim, self.rho(theta)
        corr = np.full((p, p), rho)
        np.fill_diagonal(corr, 1.0)
        try:
            chol = np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:  # rho rounded onto -1/(p - 1): R is singular, factor it anyway
            values, vectors = np.linalg.eigh(corr)
            root = vectors * np.sqrt(np.clip(values, 0.0, None))
            r = np.linalg.qr(root.T, mode="r")
            chol = r.T * np.where(np.diagonal(r) < 0, -1.0, 1.0)[None, :]
        return _scaled_factor(theta[: p], chol)

    def theta_from_factor(self, factor: np.ndarray) -> np.ndarray:
        sd, corr = _sd_corr(factor)
        p = self.dim
        seen = sd > 0
        off = corr[np.ix_(seen, seen)][np.tril_indices(int(seen.sum()), -1)]
        rho = float(np.mean(off)) if len(off) else 0.0
        low = -1.0 / (p - 1)
        rho = float(np.clip(rho, low + 1e-15, 1 - 1e-15))
        return np.concatenate([sd, [np.log((1 + (p - 1) * rho) / (1 - rho))]])

    def theta_labels(self, group: str) -> list[str]:
        return [f"{group}.{name}" for name in self.column_names] + [f"{group}.cs.phi"]

    def on_boundary(self, theta: np.ndarray, tol: float) -> bool:
        rho = self.rho(theta)
        return super().on_boundary(theta, tol) or 1.0 - rho < tol or rho + 1.0 / (self.dim - 1) < tol

    def theta_from_sdcor(self, values: np.ndarray) -> np.ndarray:
        p, rho = self.dim, float(values[-1])
        if not -1.0 / (p - 1) < rho < 1:
            raise np.linalg.LinAlgError(f"a compound-symmetry correlation of {p} effects must lie in "
                                        f"({-1.0 / (p - 1):.4g}, 1), not {rho}")
        return np.concatenate([np.asarray(values[:p], dtype=float), [np.log((1 + (p - 1) * rho) / (1 - rho))]])

    def correlation(self, theta: np.ndarray) -> np.ndarray:
        corr = np.full((self.dim, self.dim), self.rho(theta))
        np.fill_diagonal(corr, 1.0)
        return corr


STRUCTURES = {"us": Unstructured, "diag": Diagonal, "homdiag": HomogeneousDiagonal, "ar1": AR1,
              "cs": CompoundSymmetry}


def covariance_from_factor(factor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative covariance Lambda Lambda' -> (covariance, standard deviations, correlations)."""
    cov = factor @ factor.T
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return cov, sd, corr
