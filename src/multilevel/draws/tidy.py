"""tidybayes's ``spread_draws``, ``gather_draws`` and ``get_variables`` on any Bayesian fit.

Fits are read only through the protocol: ``posterior_variables()`` (names, draws, labelled
dimensions) and, where answered, ``sampler_stats()`` (``lp__``, ``accept_stat__``, ...).

Output (long pandas DataFrames, as tidybayes's tibbles without the dplyr grouping):

- columns ``.chain .iteration .draw`` (1-based; ``.draw`` counts chain by chain), then the index
  columns the specs name, then one column per variable. tidybayes puts the index columns first;
  here the draw columns lead so that every frame starts alike;
- index columns carry the labels in the data's own dtype: a categorical grouping column stays
  categorical with the data's categories, an integer id stays int64, so ``.query("id == 6")``
  and merges with the data work;
- rows: for one indexed spec, index combinations in the variable's order (the data's level
  order, then the terms as the model lists them; the first index varies slowest) and, within
  each, the draws in order (draws vary fastest), as tidybayes groups by the indices. tidybayes
  sorts text labels alphabetically; here the model's order is kept (``Intercept`` before ``Days``);
- several specs are inner-joined on the columns they share (always the draw columns), keeping the
  first spec's row order, as tidybayes's ``inner_join``: ``spread_draws("b_Intercept",
  "r_Subject[Subject, term]")`` repeats ``b_Intercept`` on each (Subject, term) row of its draw.
"""
from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..results.protocol import answers, require
from .spec import Spec, SpecError, VariableNotFound, parse_spec
from .variables import SAMPLER_COLUMNS, Variable

DRAW_COLUMNS = [".chain", ".iteration", ".draw"]


def pick_draws(total: int, ndraws: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices (into the chain-by-chain flattened draws) of ``ndraws`` draws chosen without
    replacement with ``rng`` (all draws, in order, when ``ndraws`` is None).

    Every ``ndraws=``/``seed=`` in the package picks with ``np.random.default_rng(seed)`` through
    this function, so that ``add_epred_draws(..., ndraws=50, seed=1)`` and
    ``spread_draws(..., ndraws=50, seed=1)`` hold the same draws.
    """
    if ndraws is None:
        return np.arange(total)
    if isinstance(ndraws, bool) or not isinstance(ndraws, (int, np.integer)) or ndraws < 1:
        raise ArgumentError(f"ndraws must be a positive whole number or None, not {ndraws!r}")
    return rng.choice(total, size=min(int(ndraws), total), replace=False)


def in_draw_order(fit, values: np.ndarray, ndraws: int | None, seed) -> np.ndarray:
    """(draws, ...) in the order :func:`pick_draws` chose them -> in the draws' original order.

    The protocol's ``linpred_draws``/``epred_draws``/``predicted_draws`` return the chosen draws in
    their original order (the chain-by-chain order of ``draws_by_chain``); an engine that computes
    them in the chosen order puts them back with this.
    """
    if ndraws is None:
        return values
    chains, iterations = np.shape(next(iter(fit.draws_by_chain().values())))[:2]
    return values[np.argsort(pick_draws(chains * iterations, ndraws, np.random.default_rng(seed)), kind="stable")]


def tidy_variables(fit) -> dict[str, Variable]:
    """The fit's posterior variables, then its sampler columns (``lp__`` ...) as scalar variables."""
    require(fit, "posterior_variables", "each tidy-draws verb (spread_draws, gather_draws, get_variables)")
    out = dict(fit.posterior_variables())
    if answers(fit, "sampler_stats"):
        stats = fit.sampler_stats()
        for name in sorted(stats, key=lambda n: SAMPLER_COLUMNS.index(n) if n in SAMPLER_COLUMNS else len(SAMPLER_COLUMNS)):
            value = stats[name]
            out.setdefault(name, value if isinstance(value, Variable) else Variable(name, np.asarray(value)))
    return out


def get_variables(fit) -> list[str]:
    """Flat variable names as brms's ``variables(as_draws(fit))`` / tidybayes's ``get_variables``.

    Arrays are flattened with the first index fastest (R's order: ``r_Subject[308,Intercept]``,
    ``r_Subject[309,Intercept]``, ...); the sampler columns (``lp__``, ``accept_stat__``, ...)
    come last where the fit reports them. brms's ``lprior`` is not computed and not listed.
    """
    return [name for variable in tidy_variables(fit).values() for name in variable.column_names(order="F")]


def spread_draws(fit, *specs: str, regex: bool = False, ndraws: int | None = None, seed=None) -> pd.DataFrame:
    """Draws of the named variables, one column per variable, indices as columns (tidybayes).

    Parameters
    ----------
    fit : a brm or ulam fit
    *specs : str
        ``"b_Intercept"``, ``"sigma"``, ``"r_Subject[Subject, term]"`` (name every dimension; a blank
        ``"r_Subject[Subject, ]"`` drops one), ``"r_Subject[Subject, term] | term"`` or
        ``"r_Subject[Subject, ..]"`` (one dimension spread wide), ``"c(b_Intercept, b_Days)"``; a
        flat name from :func:`get_variables` (``"r_Subject[308,Intercept]"``) is one column.
    regex : bool
        Names are regular expressions, matched anywhere in the variable name (``re.search``:
        ``"^b_"``); with ``[...]`` only variables with that many dimensions match.
    ndraws, seed : optional
        A subset of ``ndraws`` draws chosen with ``seed`` (the same ones ``add_epred_draws`` takes).

    Examples
    --------
    >>> ml.spread_draws(fit, "b_Intercept", "r_Subject[Subject, term]")  # doctest: +SKIP
    """
    frames = [_spread_one(fit, spec, regex, ndraws, seed) for spec in _specs(specs)]
    out, index, values = frames[0]
    for frame, frame_index, frame_values in frames[1:]:
        on = [c for c in out.columns if c in frame.columns]
        clash = [c for c in on if c not in DRAW_COLUMNS and c not in index]
        if clash:
            raise SpecError(f"variable(s) {', '.join(clash)} appear in two specs; name each variable once")
        try:
            out = out.merge(frame, on=on, how="inner", sort=False)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"cannot join the specs on {', '.join(on)}: {exc}; give their indices "
                            "different names") from exc
        index += [c for c in frame_index if c not in index]
        values += [c for c in frame_values if c not in values]
    out = out[DRAW_COLUMNS + index + values].reset_index(drop=True)
    out.attrs["multilevel_values"] = values  # what mean_qi & co. summarize by default
    return out


def gather_draws(fit, *specs: str, regex: bool = False, ndraws: int | None = None, seed=None) -> pd.DataFrame:
    """Draws in long form: ``.chain .iteration .draw``, index columns, ``.variable``, ``.value`` (tidybayes).

    Each spec is spread as :func:`spread_draws` and its variables stacked one below the other; the
    specs are stacked in turn, index columns a spec lacks left missing.
    """
    pieces = []
    for spec in _specs(specs):
        frame, index, values = _spread_one(fit, spec, regex, ndraws, seed)
        for name in values:
            piece = frame[DRAW_COLUMNS + index].copy()
            piece[".variable"] = name
            piece[".value"] = frame[name].to_numpy()
            pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True, sort=False)
    index = [c for c in out.columns if c not in DRAW_COLUMNS + [".variable", ".value"]]
    return out[DRAW_COLUMNS + index + [".variable", ".value"]]


# ---- one spec ------------------------------------------------------------------------------------
def _specs(specs) -> list[Spec]:
    if not specs:
        raise SpecError("name at least one variable, e.g. spread_draws(fit, 'b_Intercept'); "
                        "ml.get_variables(fit) lists them")
    return [parse_spec(s) for s in specs]


def _spread_one(fit, spec: Spec, regex: bool, ndraws, seed) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One spec -> (frame, index columns, value columns)."""
    variables = tidy_variables(fit)
    if not regex and spec.dims is None:
        variables.update(_elements(variables, [n for n in spec.names if n not in variables]))
    matched = _match(variables, spec, regex)
    first = variables[matched[0]]
    # a subset keeps the draws in order: the same set as add_epred_draws(..., ndraws, seed) takes
    draws = np.sort(pick_draws(first.chains * first.iterations, ndraws, np.random.default_rng(seed)))
    # a bare name of an indexed variable takes the variable's own dimension names (tidybayes would
    # ask for them): "r_Subject" is read as "r_Subject[Subject, term]"
    frames = [_long(variables[name], spec if spec.dims is not None else
                    Spec(spec.text, spec.names, variables[name].dims), draws) for name in matched]
    frame = frames[0]
    for other in frames[1:]:
        frame = _side_by_side(frame, other, spec)
    dims = spec.dims if spec.dims is not None else tuple(d for name in matched for d in variables[name].dims)
    index = list(dict.fromkeys(d for d in dims if d and d != ".." and d != spec.wide))
    values = [c for c in frame.columns if c not in DRAW_COLUMNS and c not in index]
    return frame, index, values


def _elements(variables: dict[str, Variable], names: list[str]) -> dict[str, Variable]:
    """Flat names as ``get_variables`` lists them (``r_Subject[308,Intercept]``) -> that element alone."""
    out = {}
    for name in names:
        base = name.split("[", 1)[0]
        variable = variables.get(base)
        if variable is None or not variable.dims or not name.endswith("]"):
            continue
        flat = variable.column_names()
        if name in flat:
            position = np.unravel_index(flat.index(name), np.shape(variable.values)[2:])
            out[name] = Variable(name, np.asarray(variable.values)[(slice(None), slice(None), *position)])
    return out


def _match(variables: dict[str, Variable], spec: Spec, regex: bool) -> list[str]:
    wanted = None if spec.dims is None else len(spec.dims)
    if regex:
        try:
            patterns = [re.compile(n) for n in spec.names]
        except re.error as exc:
            raise SpecError(f"spec {spec.text!r} is not a regular expression: {exc}") from exc
        found = [name for name, v in variables.items()
                 if any(p.search(name) for p in patterns) and len(v.dims) == (wanted or 0)]
        if not found:
            shaped = "with no dimensions" if not wanted else f"with {wanted} dimension(s)"
            raise VariableNotFound(f"no variable {shaped} matches {spec.text!r}; "
                                   f"ml.get_variables(fit) lists them: {_preview(variables)}")
        return found
    for name in spec.names:
        if name not in variables:
            close = difflib.get_close_matches(name, list(variables), n=4, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise VariableNotFound(f"the fit has no variable {name!r}.{hint} ml.get_variables(fit) lists them: "
                                   f"{_preview(variables)}")
        variable = variables[name]
        if spec.dims is not None and len(spec.dims) != len(variable.dims):
            raise SpecError(_dims_message(spec, variable))
    return list(spec.names)


def _dims_message(spec: Spec, variable: Variable) -> str:
    have = len(variable.dims)
    if have == 0:
        return f"{variable.name!r} has no dimensions; write it as {variable.name!r}, without [...]"
    example = f"'{variable.name}[{', '.join(variable.dims)}]'"
    given = len(spec.dims)
    if given > have:
        extra = ", ".join(repr(d) for d in spec.dims[have:])
        return (f"spec {spec.text!r} names {given} dimensions but {variable.name!r} has {have} "
                f"({', '.join(variable.dims)}): {extra} {'has' if given - have == 1 else 'have'} nothing to index; "
                f"write {example}")
    return (f"spec {spec.text!r} names {given} dimension(s) but {variable.name!r} has {have} "
            f"({', '.join(variable.dims)}); name each one, e.g. {example}, or leave one blank to drop it")


def _preview(variables: dict[str, Variable]) -> str:
    names = [f"{n}[{', '.join(v.dims)}]" if v.dims else n for n, v in variables.items()]
    return ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")


def _long(variable: Variable, spec: Spec, draws: np.ndarray) -> pd.DataFrame:
    """One variable as a long frame: indices in C order (first slowest), draws fastest within each."""
    values = np.asarray(variable.values)
    chains, iterations = values.shape[:2]
    flat = values.reshape(chains * iterations, *values.shape[2:])[draws]
    dims = spec.dims or ()
    wide_axis = dims.index(spec.wide) if spec.wide else spec.dot_dot
    row_axes = [k for k in range(len(dims)) if k != wide_axis]
    # (draws, *shape) -> (*row shape, draws[, wide])
    order = [1 + k for k in row_axes] + [0] + ([1 + wide_axis] if wide_axis is not None else [])
    moved = np.transpose(flat, order)
    row_shape = [flat.shape[1 + k] for k in row_axes]
    n_rows = int(np.prod(row_shape, dtype=int)) * len(draws)
    columns: dict[str, object] = {
        ".chain": np.tile(draws // iterations + 1, n_rows // len(draws)),
        ".iteration": np.tile(draws % iterations + 1, n_rows // len(draws)),
        ".draw": np.tile(draws + 1, n_rows // len(draws)),
    }
    positions = np.indices(row_shape).reshape(len(row_axes), -1) if row_axes else np.zeros((0, 1), dtype=int)
    for j, k in enumerate(row_axes):
        if dims[k]:  # a blank dimension is dropped (its rows stay, as in tidybayes)
            columns[dims[k]] = variable.coords[k].take(np.repeat(positions[j], len(draws)))
    if wide_axis is None:
        columns[variable.name] = moved.reshape(-1)
    else:
        block = moved.reshape(n_rows, -1)
        for w, label in enumerate(variable.coords[wide_axis]):
            key = f"{variable.name}.{label}" if spec.wide is None else str(label)
            columns[key] = block[:, w]
    return pd.DataFrame(columns)


def _side_by_side(frame: pd.DataFrame, other: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Two variables of one spec: next to each other when their rows agree, else joined on the indices."""
    keys = [c for c in frame.columns if c in other.columns]
    if len(frame) == len(other) and all(frame[k].equals(other[k]) for k in keys):
        extra = [c for c in other.columns if c not in keys]
        return pd.concat([frame, other[extra]], axis=1)
    try:
        return frame.merge(other, on=keys, how="outer", sort=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"the variables of {spec.text!r} have index labels of different kinds ({exc}); "
                        "spread them in separate specs with their own index names") from exc
