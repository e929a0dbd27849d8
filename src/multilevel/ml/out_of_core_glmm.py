"""``glmer`` on data that stay out of core: a Dask DataFrame or a parquet path.

PIRLS reads the rows only through sums: at a point (beta, u) the weighted cross-products
``Z'WZ, Z'WX, X'WX``, the scores ``Z'r, X'r`` and the deviance. :class:`ReducedGLMMProblem` is a
:class:`~multilevel.ml.glmm.GLMMProblem` whose row work is delegated to :class:`ReducedRows`, which
gets those sums from one map-reduce over the partitions per PIRLS step
(:func:`~multilevel.ml.out_of_core_glmm_rows.point_partition`). Everything on the driver is the
in-memory code: parameters and Lambda, the blocked Cholesky factor and its solve, the Laplace
deviance, the two optimizer stages, the Hessian, the standardization and the fit object
(:func:`multilevel.ml.glmer.fit_glmm_problems`).

PIRLS here takes a full Newton (Fisher-scoring) step at every iteration, as the in-memory one-term
path does, because the blocks come with the scores in the same pass: one pass evaluates a candidate
point's deviance (for lme4's step-halving check) and, in the same sums, the factor and scores for the
next step, so an iteration costs one pass and each halving one more. The passes before PIRLS are those
of out-of-core lmer: the scan (missing values, levels), encoding once (kept on the workers or spilled
to disk), column facts and the rank check, exact medians and MADs for the standardization, and one pass
for the level-pair patterns and constants.

Agreement with the in-memory fit: the in-memory PIRLS sums rows in its own order (bincount, BLAS)
and, for one term, runs its own sorted system; here each partition sums its rows and the partitions
are added in a fixed tree. The deviance therefore agrees to rounding (~1e-13 relative), and the
optimizer, which resolves theta only to its tolerance (xtol 1e-6 in stage 2), can end at points that
differ by about that much: measured differences are in tests/test_out_of_core_glmer.py. A fit does not
depend on the scheduler (same tree on a cluster as on the local scheduler).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..design import FixedDesign
from ..design.dask_source import PartitionReducer, dask_frame
from ..design.partition_scan import plan_partitions
from ..errors import ArgumentError, DataError
from ..linalg import BlockedCholesky, logdet_lower
from ..linalg.blocks import BlockDiagonal, BlockSparse
from ..linalg.cholesky import solve_blocked
from ..results.protocol import MissingCapability
from .glmm import CANONICAL, PIRLS_MAX_ITER, PIRLS_STEP_TOL, GLMMProblem, PirlsFailure, PirlsState, gauss_hermite
from .out_of_core import OutOfCoreDesign
from .out_of_core_columns import (_check_magnitudes, _check_weights, _columns_partition, _in_order, _kept_columns,
                                  _merge_columns, _transforms, warn_dropped)
from .out_of_core_fit import _quantiles
from .out_of_core_glmm_rows import (EncodedPlan, GlmmPartitionPlan, PearsonResiduals, PointRequest, QuadratureRequest,
                                    add, cache_encoded, merge_structure, merge_sums, point_partition,
                                    quadrature_partition, structure_partition)
from .standardize import Standardization


class ReducedRows:
    """The row work of a GLMM problem as map-reduces over encoded partitions: ``at(beta, b)`` gives
    the sums of one point (see :func:`~multilevel.ml.out_of_core_glmm_rows.point_partition`)."""

    def __init__(self, reducer: PartitionReducer, template: PointRequest):
        self.reducer = reducer
        self.template = template

    def at(self, beta, b, joint: bool, mode: str = "point") -> dict:
        return self._run(point_partition, replace(self.template, beta=beta, b=tuple(b), joint=joint, mode=mode),
                         merge_sums)

    def quadrature(self, beta, lam: float, u0, sd, shifts) -> np.ndarray:
        request = QuadratureRequest(replace(self.template, beta=beta), lam, u0, sd, tuple(shifts))
        return self._run(quadrature_partition, request, add)

    def _run(self, task, request, combine):
        if self.reducer is None:
            raise MissingCapability("the partitions of this out-of-core glmer fit were released at the end of the "
                                    "fit; refit with ml.glmer on the data to evaluate at other parameters")
        return self.reducer.run(task, request, combine)

    def release(self) -> None:
        self.reducer = None


@dataclass
class ReducedPirlsState(PirlsState):
    """:class:`PirlsState` without per-row vectors (eta, mu are None): the mode's reduced sums instead."""

    sums: dict | None = None


class ReducedGLMMProblem(GLMMProblem):
    """A :class:`GLMMProblem` whose rows are out of core: every PIRLS step is one map-reduce.

    What GLMMProblem computes on rows is overridden (:meth:`pirls`, :meth:`laplace`, :meth:`agq`,
    :meth:`fixed_effects_factor`); parameters, Lambda, the blocked factor and the objectives are its own.
    """

    def __init__(self, rows: ReducedRows, terms, family, n: int, p: int, nagq: int, loglik_constant: float):
        self.design = None
        self.rows = rows
        self.n, self.p = n, p
        self._set_up(terms, family, nagq)
        self.one_term = None
        self.loglik_constant = loglik_constant
        self.layouts = {}
        for (i, j), keys in rows.template.patterns:
            block_rows = keys // terms[j].n_levels
            indptr = np.concatenate([[0], np.cumsum(np.bincount(block_rows, minlength=terms[i].n_levels))])
            self.layouts[i, j] = (indptr.astype(np.int64), (keys % terms[j].n_levels).astype(np.int64))
        unit = rows.at(None, (), True, mode="unit")  # values for the factor's symbolic stage
        self.cholesky = BlockedCholesky(self._blocks(unit["blocks"]), [(t.n_levels, t.dim) for t in terms])

    def _blocks(self, arrays: dict) -> dict:
        K, out = len(self.terms), {}
        for (i, j), data in arrays.items():
            if i == j and j < K:
                out[i, j] = BlockDiagonal(data)
            elif i < K:
                indptr, indices = self.layouts[i, j]
                out[i, j] = BlockSparse(indptr, indices, data, self.terms[i].n_levels, self.terms[j].n_levels)
            else:
                out[i, j] = data
        return out

    def _b(self, u: list, lambdas: list) -> list:
        return [uk.reshape(t.n_levels, t.dim) @ lam.T for t, uk, lam in zip(self.terms, u, lambdas)]

    def _at(self, beta, u, lambdas, joint: bool, mode: str = "point") -> dict:
        sums = self.rows.at(beta, self._b(u, lambdas), joint, mode)
        if sums is None:
            raise DataError("no partition has rows left")
        return sums

    def _factor(self, sums: dict, lambdas, joint: bool) -> dict:
        if "factor" not in sums:
            if not sums["finite"]:
                raise PirlsFailure("non-finite working weights")
            self.cholesky.update_blocks(self._blocks(sums["blocks"]))
            sums["factor"] = self.cholesky.factor(lambdas, with_fixed=joint)
        return sums["factor"]

    def _newton(self, sums: dict, u: list, lambdas, joint: bool):
        """The Fisher-scoring step in (u, beta) from the point the sums were taken at (beta's None when fixed)."""
        factor = self._factor(sums, lambdas, joint)
        rhs = [(zr @ lam).reshape(-1) - uk for zr, uk, lam in zip(sums["zr"], u, lambdas)]
        delta = solve_blocked(factor, rhs + ([sums["xr"]] if joint else []))
        return (delta[-1] if joint else None), delta[: len(u)]

    def pirls(self, theta: np.ndarray, beta: np.ndarray | None) -> ReducedPirlsState:
        """Conditional modes at theta (and beta with ``beta=None``) by Newton steps with lme4's step
        halving, from the previous call's modes; one pass per step tried (see the module docstring)."""
        self.n_pirls_runs += 1
        theta = np.asarray(theta, dtype=float)
        joint = beta is None
        lambdas = self.lambdas(theta)
        u = [uk.copy() for uk in self.u_start]
        first = 1
        if joint and self.beta_start is None:  # first joint call: a weighted least-squares step from glm's start
            u = [np.zeros_like(uk) for uk in u]
            beta, u = self._newton(self._at(np.zeros(self.p), u, lambdas, True, mode="start"), u, lambdas, True)
            first = 2
        elif joint:
            beta = self.beta_start.copy()
        else:
            beta = np.asarray(beta, dtype=float)
        at = self._at(beta, u, lambdas, joint)
        old = at["dev"] + sum(float(uk @ uk) for uk in u)
        if not (at["finite"] and np.isfinite(old)):
            raise PirlsFailure("the penalized deviance is not finite")
        tol = self.step_tol if joint else PIRLS_STEP_TOL["other"]
        previous_move, iterations = np.inf, first - 1
        for iterations in range(first, 4 * PIRLS_MAX_ITER):
            d_beta, d_u = self._newton(at, u, lambdas, joint)
            move = max([float(np.max(np.abs(d), initial=0.0)) for d in d_u]
                       + ([float(np.max(np.abs(d_beta), initial=0.0))] if joint else []))
            scale = 1.0 + max(float(np.max(np.abs(uk), initial=0.0)) for uk in u)
            tiny = move < 1e-4 * scale  # as in memory: a step this small cannot overshoot
            for halving in range(12):
                step = 0.5**halving
                cand_beta = beta + step * d_beta if joint else beta
                cand_u = [uk + step * dk for uk, dk in zip(u, d_u)]
                cand = self._at(cand_beta, cand_u, lambdas, joint)
                pdev = cand["dev"] + sum(float(uk @ uk) for uk in cand_u)
                if cand["finite"] and np.isfinite(pdev) and (tiny or pdev <= old * (1 + 1e-15) + 1e-12):
                    break
            else:
                break  # no decrease possible: at the mode within rounding
            beta, u, at, old = cand_beta, cand_u, cand, pdev
            if move < tol * scale or (step == 1 and np.isfinite(previous_move) and move < 0.01 * previous_move
                                      and move * move < tol * scale * previous_move):
                break
            previous_move = move if step == 1 else np.inf
        factor = self._factor(at, lambdas, joint)
        self.n_pirls_iterations += iterations
        self.u_start = [uk.copy() for uk in u]
        if joint:
            self.beta_start = beta.copy()
        return ReducedPirlsState(theta, beta, u, None, None, factor, iterations, at)

    def laplace(self, state: ReducedPirlsState) -> float:
        logdet = 2.0 * sum(logdet_lower(state.factor[j, j]) for j in range(len(self.terms)))
        cond = state.sums["kernel"] + self.loglik_constant
        return float(cond + sum(float(uk @ uk) for uk in state.u) + logdet)

    def agq(self, state: ReducedPirlsState) -> float:
        diag = state.factor[0, 0].data[:, 0, 0]
        sd = 1.0 / diag
        lam = float(self.lambdas(state.theta)[0][0, 0])
        u0 = state.u[0]
        nodes, weights = gauss_hermite(self.nagq)
        shifts = [0.0] + [float(node) for node in nodes if node != 0]
        deviances = iter(self.rows.quadrature(state.beta, lam, u0, sd, shifts))
        base = next(deviances) + u0**2
        total = np.zeros(len(u0))
        for node, weight in zip(nodes, weights):
            if node == 0:
                total += weight
            else:
                total += weight * np.exp(node**2 / 2 - 0.5 * (next(deviances) + (u0 + node * sd) ** 2 - base))
        return float(base.sum() + 2 * np.log(diag).sum() - 2 * np.log(total).sum())

    def fixed_effects_factor(self, state: ReducedPirlsState) -> np.ndarray:
        lambdas = self.lambdas(state.theta)
        sums = self._at(state.beta, state.u, lambdas, True)
        return self._factor(sums, lambdas, True)[len(self.terms), len(self.terms)]


# ---- the fit ---------------------------------------------------------------------------------------
def glmer_out_of_core(parsed, data, *, family, nagq: int, weights, offset, na_action: str, start, data_name,
                      progress, client):
    """:func:`multilevel.glmer` on a Dask DataFrame or a parquet path (see the module's docstring)."""
    from .glmer import fit_glmm_problems
    from .out_of_core_glmer_fit import OutOfCoreGlmerFit, OutOfCoreGlmmServices, count_extreme

    if offset is not None:
        raise ArgumentError("out of core, offsets are written in the formula (offset(column) or "
                            "offset(np.log(column))): offset= values cannot travel with the partitions")
    frame = dask_frame(data)
    _check_response_column(parsed, frame._meta)
    label = data_name or (str(data) if isinstance(data, (str, Path)) else "data")
    reducer = PartitionReducer(frame, client=client)
    encoded = None
    try:
        planned = plan_partitions(parsed, frame, reducer, weights=weights, na_action=na_action, family=family)
        encoded = cache_encoded(reducer, GlmmPartitionPlan.of(planned.plan, family))
        cols = encoded.run(_columns_partition, EncodedPlan(), _merge_columns, indexed=True)
        if cols is None:
            raise DataError("no rows are left after dropping rows with missing values")
        _check_weights(cols)
        keep, dropped = _kept_columns(cols["r"], planned.fixed_names)
        warn_dropped(dropped)
        names = tuple(planned.fixed_names[j] for j in keep)
        x_facts = {k: v[keep] for k, v in cols["x"].items()}
        _check_magnitudes(planned, cols, x_facts, names)
        counts = _in_order(cols["counts"], encoded.n_partitions)
        kept = tuple(keep) if dropped else None
        transforms = _transforms(encoded, EncodedPlan(kept), [x_facts] + cols["z"], counts)
        standardization = Standardization(transforms[0][0], tuple(t for t, _ in transforms[1:]),
                                          tuple(t.covariance for t in planned.terms), 1.0)
        terms, n, p = planned.terms, cols["n"], len(names)
        levels = tuple(t.n_levels for t in terms)
        original = PointRequest(family, (family.name, family.link.name) in CANONICAL, kept, [],
                                tuple([] for _ in terms), (), levels)
        structure = encoded.run(structure_partition, original, merge_structure)
        _check_response_varies(parsed.response, family, structure)
        original = replace(original, patterns=tuple(sorted(structure["pairs"].items())))
        design = OutOfCoreDesign(
            parsed, np.zeros(0), parsed.response,
            FixedDesign(np.zeros((0, p)), names, planned.plan.fixed_spec, planned.fixed_text, dropped),
            terms, np.zeros(0), planned.n_dropped, planned.dropped_by_column, family=family,
            n_rows=n, n_partitions=encoded.n_partitions)

        def problem_of(request):
            return ReducedGLMMProblem(ReducedRows(encoded, request), terms, family, n, p, nagq, structure["constant"])

        problem = problem_of(original)
        search = problem
        if not standardization.is_identity:
            search = problem_of(replace(original, fixed=transforms[0][1], terms=tuple(c for _, c in transforms[1:])))
        fit = fit_glmm_problems(design, search, problem, standardization, nagq=nagq, start=start, data_name=label,
                                progress=progress, fit_class=OutOfCoreGlmerFit, services=OutOfCoreGlmmServices,
                                count_extreme=count_extreme)
        state = fit._state
        point = replace(original, beta=state.beta, b=tuple(fit._b))
        fit._pearson_quantiles = _quantiles(encoded, EncodedPlan(), PearsonResiduals(point), n)
        fit.optimizer.settings["out_of_core"] = {
            "partitions": encoded.n_partitions, "passes": reducer.passes + encoded.passes, "rows": n,
            "scheduler": reducer.description,
            "encoded": "persisted on the workers" if reducer.client is not None else "spilled to a temporary directory",
            "note": f"PIRLS sums map-reduced over {encoded.n_partitions} partitions, one pass per step"}
        for item in {id(search): search, id(problem): problem}.values():
            item.rows.release()
        return fit
    finally:
        if encoded is not None:
            encoded.close()
        reducer.close()


def _check_response_column(parsed, meta) -> None:
    """A factor or boolean response is coded by its levels in memory; a partition may hold only one of
    them, so out of core the response must be numbers (0/1, proportions with trials, counts)."""
    import pandas as pd

    name = parsed.response
    if name in meta.columns and (not pd.api.types.is_numeric_dtype(meta[name].dtype)
                                 or pd.api.types.is_bool_dtype(meta[name].dtype)):
        raise DataError(f"response {name!r} has dtype {meta[name].dtype}: out of core a binomial response must be "
                        "numeric (0/1, or cbind(successes, failures)), as each partition may hold only one of its "
                        "levels; convert it, e.g. frame[name] = (frame[name] == 'yes').astype(float)")


def _check_response_varies(name: str, family, structure: dict) -> None:
    """glmer's _check_response_varies on the reduced range of the response (rows with positive weight)."""
    low, high = structure["y_min"], structure["y_max"]
    if family.name == "binomial" and (high == 0 or low == 1):
        outcome = "0 (no successes)" if high == 0 else "1 (only successes)"
        raise DataError(f"the response {name!r} is {outcome} in every row: the probability is "
                        "estimated on the boundary and the intercept runs to infinity; there is nothing to fit")
    if family.name in ("poisson", "negative.binomial") and high == 0:
        raise DataError(f"the response {name!r} is 0 in every row: the mean is estimated at 0 and "
                        "the intercept runs to -infinity; there is nothing to fit")
