"""``lmer`` on data that stay out of core: a Dask DataFrame or a parquet path.

The profiled objective reads the data only through the cross-products of ``[Z X y]``
(:func:`multilevel.linalg.system_blocks`), which are sums over rows. Here every partition computes
its own blocks and the blocks are summed in a tree (:class:`~multilevel.design.dask_source.PartitionReducer`);
the optimizer then runs on the summed blocks through the same code as an in-memory fit
(:meth:`LMMProblem.from_blocks <multilevel.ml.lmm.LMMProblem.from_blocks>` and
:func:`multilevel.ml.lmer.fit_problems`). To reproduce the in-memory fit to rounding, the passes
rebuild each in-memory step on reduced quantities:

1. scan: rows dropped for missing values, global levels and categories
   (:func:`multilevel.design.partition_scan.plan_partitions`);
2. columns: which columns are intercepts or indicators, their sizes, the R factor of X (its rank)
   (:mod:`multilevel.ml.out_of_core_columns`);
3. exact medians and MADs of the columns to standardize (:mod:`multilevel.ml.out_of_core_columns`, through
   :func:`multilevel.design.exact_statistics.order_statistics`, a few passes);
4. the cross-products of ``[X y]`` of both designs: ``y_shift``, the least-squares fit that centers y
   (as ``LMMProblem._centered``; :mod:`multilevel.ml.out_of_core_blocks`);
5. the blocks of the standardized and of the original design, with y centered (the same module);
6. exact quantiles of the scaled residuals at the optimum, for the summary (:mod:`multilevel.ml.out_of_core_fit`).

Every sum over rows is exact (:func:`multilevel.linalg.crossprod.exact_bincount`), in memory as here, so
the optimizer sees the same objective, bit for bit, and an unweighted fit equals the in-memory fit.

This module is the glue: :func:`lmer_out_of_core` runs the passes in order and hands the summed
blocks to the optimizer. The result answers everything that needs no rows
(:class:`~multilevel.ml.out_of_core_fit.OutOfCoreLmerFit`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..design import Design, FixedDesign
from ..design.dask_source import PartitionReducer, dask_frame
from ..design.exact_statistics import numpy_mean
from ..design.partition_scan import plan_partitions
from ..errors import DataError
from ..linalg.crossprod import blocks_from_digits, digits_value, gram_scale
from .lmm import LMMProblem, centering_shift
from .out_of_core_blocks import _blocks_partition, _centering_partition, _merge_blocks, _merge_centering, _variant, _with_terms
from .out_of_core_columns import (PositiveWeights, _check_magnitudes, _check_weights, _columns_partition, _in_order,
                                  _kept_columns, _merge_columns, _transforms, warn_dropped)
from .out_of_core_fit import OutOfCoreLmerFit, OutOfCoreServices, RowValues, _quantiles
from .standardize import Standardization


@dataclass(frozen=True)
class OutOfCoreDesign(Design):
    """A :class:`Design` without rows: the encoding state, levels and counts of data read by partition."""

    n_rows: int = 0
    n_partitions: int = 0

    @property
    def nobs(self) -> int:
        return self.n_rows


# ---- the fit ---------------------------------------------------------------------------------------
def lmer_out_of_core(parsed, data, *, reml: bool, weights, na_action: str, start, data_name, progress, client):
    """:func:`multilevel.lmer` on a Dask DataFrame or a parquet path (see the module's docstring)."""
    from .lmer import fit_problems

    frame = dask_frame(data)
    label = data_name or (str(data) if isinstance(data, (str, Path)) else "data")
    reducer = PartitionReducer(frame, client=client)
    try:
        planned = plan_partitions(parsed, frame, reducer, weights=weights, na_action=na_action)
        plan = planned.plan
        cols = reducer.run(_columns_partition, plan, _merge_columns, indexed=True)
        if cols is None:
            raise DataError("no rows are left after dropping rows with missing values")
        _check_weights(cols)
        keep, dropped = _kept_columns(cols["r"], planned.fixed_names)
        warn_dropped(dropped)
        if dropped:
            plan = dataclasses.replace(plan, fixed_keep=tuple(keep))
        names = tuple(planned.fixed_names[j] for j in keep)
        x_facts = {k: v[keep] for k, v in cols["x"].items()}
        _check_magnitudes(planned, cols, x_facts, names)
        n = cols["n"]
        counts = _in_order(cols["counts"], reducer.n_partitions)
        weight_scale = 1.0  # standardize.py: the mean of the positive weights, numpy's bits
        if "w" in cols:
            weight_scale = numpy_mean(reducer, plan, PositiveWeights(),
                                      _in_order(cols["positive_counts"], reducer.n_partitions))
        transforms = _transforms(reducer, plan, [x_facts] + cols["z"], counts)
        standardization = Standardization(transforms[0][0], tuple(t for t, _ in transforms[1:]),
                                          tuple(t.covariance for t in planned.terms), weight_scale)
        standardize = not standardization.is_identity
        w_facts = cols.get("w")
        variants = {"original": _variant(x_facts, cols["z"], [], [[] for _ in planned.terms], 1.0, cols["y_size"], w_facts)}
        if standardize:
            variants["standardized"] = _variant(x_facts, cols["z"], transforms[0][1], [c for _, c in transforms[1:]],
                                                weight_scale, cols["y_size"], w_facts)
        centering = reducer.run(_centering_partition, (plan, variants), _merge_centering)
        for name, variant in variants.items():
            gram = digits_value(centering[name]["gram"]) * gram_scale(variant.gram_bounds(), variant.weight_bound)
            variants[name] = dataclasses.replace(variant, shift=centering_shift(gram))
        levels = [t.n_levels for t in planned.terms]
        digits = reducer.run(_blocks_partition, (plan, variants, levels), _merge_blocks)
        p = len(names)
        design = OutOfCoreDesign(
            parsed, np.zeros(0), parsed.response,
            FixedDesign(np.zeros((0, p)), names, plan.fixed_spec, planned.fixed_text, dropped),
            planned.terms, None if weights is None else np.zeros(0), planned.n_dropped, planned.dropped_by_column,
            n_rows=n, n_partitions=reducer.n_partitions)

        def problem_of(name, terms, like=None):
            reduced = centering[name]
            log_w = 0.0 if "log_w" not in reduced else float(digits_value(reduced["log_w"])[0] * variants[name].log_bound)
            summed = _with_terms(digits[name], digits["original"])
            return LMMProblem.from_blocks(terms, blocks_from_digits(summed, levels), n=reduced["n"],
                                          y_shift=variants[name].shift, log_weight_sum=log_w, reml=reml,
                                          response_norm=float(np.sqrt(reduced["y_norm2"])),
                                          design=design if name == "original" else None, like=like)

        if standardize:  # as fit_design: the original problem shares the standardized one's symbolic stage
            search = problem_of("standardized", [dataclasses.replace(t, z=np.zeros((0, t.dim))) for t in planned.terms])
            problem = problem_of("original", planned.terms, like=search)
        else:
            search = problem = problem_of("original", planned.terms)
        passes = reducer.passes
        settings = {"out_of_core": {"partitions": reducer.n_partitions, "passes": passes, "rows": n,
                                    "scheduler": reducer.description,
                                    "note": f"cross-product blocks map-reduced over {reducer.n_partitions} partitions"}}
        fit = fit_problems(design, search, problem, standardization, reml=reml, start=start, data_name=label,
                           progress=progress, constant_response=cols["y_min"] == cols["y_max"],
                           fit_class=OutOfCoreLmerFit, services=OutOfCoreServices, settings=settings)
        fit._search = search
        fit._residual_quantiles = _quantiles(reducer, plan, RowValues(fit._beta, tuple(fit._b), fit.sigma), n)
        fit._source = (frame, plan)
        fit.optimizer.settings["out_of_core"]["passes"] = reducer.passes
        return fit
    finally:
        reducer.close()
