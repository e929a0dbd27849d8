"""The partition side of an out-of-core glmer fit: rows encoded once and kept where they are, and
the one map-reduce that each PIRLS step needs.

- :class:`GlmmPartitionPlan` encodes a raw partition as ``build_design`` does with a family: the GLM
  response (a proportion with trials as prior weights for ``cbind``/``trials()``), the ``offset()``
  terms, X, and (codes, z) per term (:class:`GlmmRows`).
- :func:`cache_encoded` encodes every partition once: on a ``dask.distributed`` cluster the encoded
  partitions are persisted in the workers' memory (spread over them); on Dask's local scheduler they
  are spilled to a temporary directory and memory-mapped by each pass, so the client process never
  holds all rows. It returns a :class:`~multilevel.design.dask_source.PartitionReducer` over them;
  :class:`EncodedPlan` is the plan of such partitions (encoding is done: it only drops the columns
  that the rank check dropped), so the lmer passes over columns and exact medians run on them as is.
- :func:`point_partition` is the PIRLS pass: from (beta, b) broadcast to it a partition computes
  its rows' eta, mu, working weights w and working residual r = prior (y - mu) mu_eta / V(mu), and
  returns the weighted blocks (Z'WZ per term and between terms on the global level-pair patterns,
  X'WZ and X'WX in the joint stage), the scores Z'r and X'r, the deviance, the log-likelihood
  kernel and a count of extreme fitted probabilities: everything one Newton step and its
  step-halving check need. The sums are added in the reducer's fixed tree (by partition index), so
  a fit does not depend on the scheduler; they are plain floating-point sums, like the in-memory
  PIRLS's (see :mod:`multilevel.ml.out_of_core_glmm` for what that means for agreement).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..design.build import _expression, _glm_response
from ..design.checks import check_finite
from ..design.partition_plan import PartitionPlan, _apply, _names
from ..linalg.crossprod import dense_cross
from .out_of_core_columns import _standardized

EXTREME = 1e-6  # fitted probabilities this close to 0 or 1 count for the separation check


# ---- encoding, once ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlmmRows:
    """One partition's rows as a GLMM design holds them (``weights``: prior weights, always set)."""

    y: np.ndarray
    x: np.ndarray
    codes: list
    z: list
    weights: np.ndarray
    offset: np.ndarray | None


@dataclass(frozen=True)
class GlmmPartitionPlan(PartitionPlan):
    """:class:`PartitionPlan` with a family: the response as ``_glm_response`` reads it, and offsets."""

    family: object = None

    @classmethod
    def of(cls, plan: PartitionPlan, family) -> "GlmmPartitionPlan":
        return cls(**{f.name: getattr(plan, f.name) for f in fields(plan)}, family=family)

    def encode(self, part) -> GlmmRows | None:
        # PartitionPlan.encode with build_design's family branch (same checks, same order)
        used, rows, part, w = self.complete_rows(part)
        if len(used) == 0:
            return None

        def finite(values, names, what):
            check_finite(values, names, what, part, rows)

        y, prior = _glm_response(self.parsed, used, self.family, w, finite)
        offset = None
        for text in self.parsed.offsets:
            piece = _expression(text, used, "offset")
            finite(piece, f"offset({text})", "the offset")
            offset = piece if offset is None else offset + piece
        x = _apply(self.fixed_spec, used, "fixed-effects")
        finite(x, self.fixed_names, "the fixed-effects column")
        codes, zs = [], []
        for group, spec, label in zip(self.groups, self.z_specs, self.term_labels):
            z = _apply(spec, used, f"random-effects {label}")
            finite(z, _names(spec), f"random-effects term {label}, column")
            codes.append(group.codes(used))
            zs.append(z)
        return GlmmRows(y, x, codes, zs, prior, offset)


@dataclass(frozen=True)
class EncodedPlan:
    """The plan of partitions that are already :class:`GlmmRows`: keeps the columns of X in ``keep``."""

    keep: tuple | None = None

    def encode(self, rows: GlmmRows | None) -> GlmmRows | None:
        if rows is None or self.keep is None:
            return rows
        return replace(rows, x=rows.x[:, list(self.keep)])


def _encode(part, plan):
    return plan.encode(part)


_ARRAYS = ("y", "x", "weights", "offset")


def _spill(part, plan, directory: str, index: int) -> bool:
    rows = plan.encode(part)
    if rows is None:
        return False
    base = Path(directory) / f"p{index}"
    for name in _ARRAYS:
        if getattr(rows, name) is not None:
            np.save(f"{base}-{name}.npy", getattr(rows, name))
    for k, (codes, z) in enumerate(zip(rows.codes, rows.z)):
        np.save(f"{base}-codes{k}.npy", codes)
        np.save(f"{base}-z{k}.npy", z)
    return True


def _load(directory: str, index: int, n_terms: int) -> GlmmRows:
    base = Path(directory) / f"p{index}"

    def read(name):
        path = Path(f"{base}-{name}.npy")
        return np.load(path, mmap_mode="r") if path.exists() else None

    return GlmmRows(read("y"), read("x"), [read(f"codes{k}") for k in range(n_terms)],
                    [read(f"z{k}") for k in range(n_terms)], read("weights"), read("offset"))


def cache_encoded(reducer, plan: GlmmPartitionPlan):
    """Every partition encoded once (one pass, counted on ``reducer``): a reducer over the encodings,
    persisted on the cluster's workers, or spilled to a temporary directory on the local scheduler."""
    import dask

    reducer.passes += 1
    if reducer.client is not None:
        encoded = [dask.delayed(_encode, pure=False)(part, plan) for part in reducer.parts]
        parts = reducer.client.persist(encoded)
        return reducer.with_parts(parts)
    directory = tempfile.mkdtemp(prefix="multilevel-glmer-")
    try:
        tasks = [dask.delayed(_spill, pure=False)(part, plan, directory, i) for i, part in enumerate(reducer.parts)]
        present = dask.compute(*tasks, scheduler=reducer.scheduler)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    n_terms = len(plan.groups)
    parts = [dask.delayed(_load, pure=False)(directory, i, n_terms) if flag else None for i, flag in enumerate(present)]
    return reducer.with_parts(parts, on_close=lambda: shutil.rmtree(directory, ignore_errors=True))


# ---- the PIRLS pass --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointRequest:
    """What every partition needs for one pass: the design variant (kept and standardized columns),
    the point (beta, b per term as (levels, dim)), and what to return. ``mode``: "point" (at beta, b),
    "start" (at the family's initial means, the score moved so that a step from beta = 0, u = 0 lands on
    the weighted least-squares fit, as the first PIRLS step in memory) or "unit" (unit weights: the
    blocks' values for the factor's symbolic set-up)."""

    family: object
    canonical: bool
    keep: tuple | None
    fixed: list  # (column, center, scale) of standardized fixed columns
    terms: tuple  # the same per term's z
    patterns: tuple  # ((i, j), sorted level-pair keys) for every pair of terms i > j
    levels: tuple
    beta: np.ndarray | None = None
    b: tuple = ()
    joint: bool = True
    mode: str = "point"

    def columns(self, rows: GlmmRows):
        x = rows.x if self.keep is None else rows.x[:, list(self.keep)]
        return _standardized(np.asarray(x), self.fixed), [_standardized(np.asarray(z), c) for z, c in zip(rows.z, self.terms)]


def linear_predictor(rows: GlmmRows, x, zs, beta, b) -> np.ndarray:
    """offset + X beta + sum_k z_k . b_k[codes_k], as GLMMProblem.random_part sums it."""
    eta = x @ beta if rows.offset is None else rows.offset + x @ beta
    for codes, z, bk in zip(rows.codes, zs, b):
        eta = eta + (z[:, 0] * bk[:, 0][codes] if z.shape[1] == 1 else np.einsum("np,np->n", z, bk[codes]))
    return eta


def point_partition(rows: GlmmRows | None, request: PointRequest):
    if rows is None:
        return None
    family, link = request.family, request.family.link
    x, zs = request.columns(rows)
    y, prior = np.asarray(rows.y), np.asarray(rows.weights)
    out = {}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if request.mode == "unit":
            w, r = np.ones(len(y)), np.zeros(len(y))
        else:
            if request.mode == "start":
                eta = link.link(family.initial_mu(y, prior))
                mu = link.inverse(eta)
            else:
                eta = linear_predictor(rows, x, zs, request.beta, request.b)
                mu = link.inverse(eta)
            var = family.variance(mu)
            if request.canonical:  # mu_eta = V(mu)
                w, r = prior * var, prior * (y - mu)
            else:
                mu_eta = link.mu_eta(eta)
                w, r = prior * mu_eta**2 / var, prior * (y - mu) * mu_eta / var
            if request.mode == "start":
                r = r + w * (eta if rows.offset is None else eta - rows.offset)
            out["dev"] = float(np.sum(family.deviance_residuals(y, mu, prior)))
            out["kernel"] = family.minus_twice_loglik_kernel(y, mu, prior)
            out["extreme"] = int((np.minimum(mu, 1 - mu) < EXTREME).sum())
        out["finite"] = bool(np.all(np.isfinite(w)) and np.all(np.isfinite(r)))
        out["blocks"] = _weighted_blocks(rows.codes, zs, x if request.joint else None, w, request)
        out["zr"] = [_level_sums(codes, z, r, n) for codes, z, n in zip(rows.codes, zs, request.levels)]
        if request.joint:
            out["xr"] = x.T @ r
    return out


def _level_sums(codes, z, values, levels: int) -> np.ndarray:
    return np.column_stack([np.bincount(codes, weights=z[:, a] * values, minlength=levels) for a in range(z.shape[1])])


def _weighted_blocks(codes_list, zs, x, w, request: PointRequest) -> dict:
    """The arrays of CrossProducts.compute(w, x) (same sums), between-term blocks on the global patterns."""
    K, out = len(zs), {}
    patterns = dict(request.patterns)
    for j, (codes_j, z_j, levels_j) in enumerate(zip(codes_list, zs, request.levels)):
        p = z_j.shape[1]
        diag = np.empty((levels_j, p, p))
        for a in range(p):
            for c in range(a, p):
                diag[:, a, c] = diag[:, c, a] = np.bincount(codes_j, weights=z_j[:, a] * z_j[:, c] * w, minlength=levels_j)
        out[j, j] = diag
        for i in range(j + 1, K):
            keys = patterns[i, j]
            pos = np.searchsorted(keys, np.asarray(codes_list[i], dtype=np.int64) * levels_j + codes_j)
            data = np.empty((len(keys), zs[i].shape[1], p))
            for a in range(zs[i].shape[1]):
                for c in range(p):
                    data[:, a, c] = np.bincount(pos, weights=zs[i][:, a] * z_j[:, c] * w, minlength=len(keys))
            out[i, j] = data
        if x is not None:
            out[K, j] = dense_cross(codes_j, z_j, levels_j, x * w[:, None])
    if x is not None:
        out[K, K] = (x * w[:, None]).T @ x
    return out


def merge_sums(a: dict, b: dict) -> dict:
    out = {}
    for key, value in a.items():
        other = b[key]
        if key == "finite":
            out[key] = value and other
        elif key == "blocks":
            out[key] = {k: v + other[k] for k, v in value.items()}
        elif key == "zr":
            out[key] = [u + v for u, v in zip(value, other)]
        else:
            out[key] = value + other
    return out


# ---- once per fit: level-pair patterns, constants, response range; AGQ's per-group deviances ----------
def structure_partition(rows: GlmmRows | None, request: PointRequest):
    if rows is None:
        return None
    y, prior = np.asarray(rows.y), np.asarray(rows.weights)
    used = y[prior > 0]
    levels = request.levels
    pairs = {(i, j): np.unique(np.asarray(rows.codes[i], dtype=np.int64) * levels[j] + rows.codes[j])
             for j in range(len(levels)) for i in range(j + 1, len(levels))}
    return {"pairs": pairs, "constant": request.family.minus_twice_loglik_constant(y, prior),
            "used": len(used), "y_min": float(used.min(initial=np.inf)), "y_max": float(used.max(initial=-np.inf))}


def merge_structure(a: dict, b: dict) -> dict:
    return {"pairs": {k: np.union1d(v, b["pairs"][k]) for k, v in a["pairs"].items()},
            "constant": a["constant"] + b["constant"], "used": a["used"] + b["used"],
            "y_min": min(a["y_min"], b["y_min"]), "y_max": max(a["y_max"], b["y_max"])}


@dataclass(frozen=True)
class QuadratureRequest:
    """AGQ (one scalar term): per-group deviances at u0 + shift * sd for each shift (0 first)."""

    point: PointRequest
    lam: float
    u0: np.ndarray
    sd: np.ndarray
    shifts: tuple


def quadrature_partition(rows: GlmmRows | None, request: QuadratureRequest):
    if rows is None:
        return None
    point = request.point
    family = point.family
    x, zs = point.columns(rows)
    fixed_eta = x @ point.beta if rows.offset is None else rows.offset + x @ point.beta
    codes, z = rows.codes[0], zs[0][:, 0]
    y, prior = np.asarray(rows.y), np.asarray(rows.weights)
    out = np.empty((len(request.shifts), point.levels[0]))
    for k, shift in enumerate(request.shifts):
        u = request.u0 + shift * request.sd if shift else request.u0
        mu = family.link.inverse(fixed_eta + z * request.lam * u[codes])
        out[k] = np.bincount(codes, weights=family.deviance_residuals(y, mu, prior), minlength=point.levels[0])
    return out


def add(a, b):
    return a + b


@dataclass(frozen=True)
class PearsonResiduals:
    """Pearson residuals at (beta, b) per row of an encoded partition (the summary's quantiles)."""

    point: PointRequest

    def __call__(self, rows: GlmmRows) -> np.ndarray:
        x, zs = self.point.columns(rows)
        mu = self.point.family.link.inverse(linear_predictor(rows, x, zs, self.point.beta, self.point.b))
        y, prior = np.asarray(rows.y), np.asarray(rows.weights)
        return (y - mu) * np.sqrt(prior) / np.sqrt(self.point.family.variance(mu))
