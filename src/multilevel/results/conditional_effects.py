"""brms's ``conditional_effects``: predictions over one predictor or a two-way interaction, the other
predictors held at reference values, for brm, lmer, glmer, lm and glm fits.

The stages, each a function: the model's variables and their reference values
(:func:`model_variables`: numbers at their mean, factors at their first level, as brms), the effects
asked for (:func:`parse_effects`: every main effect and two-way interaction of the population-level
formula by default), a grid per effect and condition (:func:`effect_grid`: 100 points over a numeric
predictor, every level of a factor, mean - sd, mean, mean + sd of a numeric moderator), and the
fit's own predictions on that grid (:func:`summarize_predictions`), so factors and transformations
are encoded exactly as when fitting. Bayesian fits summarise draws (median, MAD, quantiles with
``robust=True``, brms's default); maximum-likelihood fits give a Wald interval on the link scale,
mapped through the inverse link.
"""
from __future__ import annotations

import html
import itertools
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import encode_fixed, terms_in_re_form
from ..design.newdata import columns_in
from ..errors import ArgumentError, DataError, ModelError
from ..formula import tokenize
from ..options import choice, flag, open_probability, whole_number
from .protocol import require

METHODS = ("posterior_epred", "posterior_linpred", "posterior_predict")
# the fit protocol's question for each of brms's prediction methods (Bayesian fits)
_DRAWS_QUESTION = {"posterior_epred": "epred_draws", "posterior_linpred": "linpred_draws",
                   "posterior_predict": "predicted_draws"}
SUMMARY_COLUMNS = ("estimate__", "se__", "lower__", "upper__")


@dataclass(frozen=True)
class Variable:
    """One data column the model reads: ``kind`` "numeric" or "factor"; a factor's ``levels`` in the
    fit's order; a number's ``values`` at the rows the fit used (None when the design does not hold
    them); ``showable`` when brms's conditional_effects may show it (a variable of a population-level
    term, or a grouping factor); ``grouping`` for the columns of a grouping factor."""

    name: str
    kind: str
    levels: tuple = ()
    values: np.ndarray | None = None
    showable: bool = False
    grouping: bool = False
    constant: object = None  # a value brms always uses (trials() variables: 1)

    def reference(self):
        """brms's value to hold the variable at: the mean of a number, the first level of a factor."""
        if self.constant is not None:
            return self.constant
        if self.kind == "factor":
            return self.levels[0]
        return float(np.nanmean(self._numbers()))

    def grid(self, resolution: int) -> list:
        """Values over which an effect of this variable is shown: every level, or an even grid from
        the smallest to the largest value."""
        if self.kind == "factor":
            return list(self.levels)
        values = self._numbers()
        return list(np.linspace(np.nanmin(values), np.nanmax(values), resolution))

    def moderator(self) -> list:
        """Values of the second variable of an interaction: every level, or mean - sd, mean, mean + sd."""
        if self.kind == "factor":
            return list(self.levels)
        values = self._numbers()
        mean, sd = np.nanmean(values), np.nanstd(values, ddof=1)
        return list(mean + np.array([-1.0, 0.0, 1.0]) * sd)

    def _numbers(self) -> np.ndarray:
        if self.values is None:
            raise DataError(f"conditional_effects needs the values of {self.name!r}, which the model uses only "
                            "inside an expression; pass data= (the data frame the model was fitted to)")
        return self.values


def _plain_factor_levels(design) -> dict[str, list]:
    """Levels of each column the model encodes as a factor by itself (``f`` or ``C(f, ...)``)."""
    from formulaic.parser.types import Factor

    out: dict[str, list] = {}
    variables = design.formula.variables
    for spec in [design.fixed.spec] + [term.spec for term in design.terms]:
        for key, (kind, state) in spec.encoder_state.items():
            if kind != Factor.Kind.CATEGORICAL:
                continue
            names = columns_in(key, variables)
            if len(names) == 1 and re.fullmatch(rf"`?{re.escape(names[0])}`?|C\(`?{re.escape(names[0])}`?(,.*)?\)", key):
                out.setdefault(names[0], list(state.get("categories", [])))
    return out


def _stored_numbers(design, name: str) -> np.ndarray | None:
    """A number's values at the rows used, where the design holds them as a column of their own."""
    if name in design.fixed.column_names:
        return design.fixed.matrix[:, list(design.fixed.column_names).index(name)]
    for term in design.terms:
        if name in term.column_names:
            return term.z[:, list(term.column_names).index(name)]
    for addition, text in design.formula.response_additions:
        if text.strip() == name and addition in design.additions:
            return np.asarray(design.additions[addition], dtype=float)
    return None


def _model_frame(design, data) -> pd.DataFrame | None:
    """The rows of ``data`` the fit used (brms's model.frame), or None without data."""
    if data is None:
        return None
    if not isinstance(data, pd.DataFrame):
        raise ArgumentError(f"data must be the pandas DataFrame the model was fitted to, not {type(data).__name__}")
    rows = design.row_index if design.row_index is not None else np.arange(design.nobs)
    if len(rows) and rows.max() >= len(data):
        raise DataError(f"data has {len(data)} rows, fewer than the fit read; pass the data the model was fitted to")
    return data.iloc[rows]


def response_variables(design) -> set[str]:
    return {t.text for t in tokenize(design.formula.response) if t.kind == "name"}


def fixed_term_variables(design) -> list[tuple[str, ...]]:
    """The variables of each population-level term, in the formula's order (brms's get_all_effects)."""
    predictors = [v for v in design.formula.variables if v not in response_variables(design)]
    out = []
    for term in design.fixed.spec.terms:
        # factor by factor: formulaic writes a backticked name bare ("my days"), which no tokenizer reads back
        names = tuple(dict.fromkeys(name for factor in term.factors for name in
                                    ([str(factor.expr)] if str(factor.expr) in predictors
                                     else columns_in(str(factor.expr), predictors))))
        if names and names not in out:
            out.append(names)
    return out


def model_variables(fit, data=None) -> dict[str, Variable]:
    """Every column the model reads besides the response, with what conditional_effects needs of it."""
    design = fit.design
    frame = _model_frame(design, data)
    response = response_variables(design)
    additions = dict(design.formula.response_additions)
    trials = set(columns_in(additions["trials"], design.formula.variables)) if "trials" in additions else set()
    in_fixed = {v for names in fixed_term_variables(design) for v in names}
    group_levels = {}
    for term in design.terms:
        if len(term.group_vars) == 1:
            values = term.level_values if term.level_values is not None else term.levels
            group_levels.setdefault(term.group_vars[0], tuple(values))
    factors = _plain_factor_levels(design)
    out = {}
    for name in design.formula.variables:
        if name in response:
            continue
        if name in trials:  # brms: "Setting all 'trials' variables to 1 by default"
            out[name] = Variable(name, "numeric", constant=1, showable=name in in_fixed)
        elif name in group_levels:
            out[name] = Variable(name, "factor", group_levels[name], showable=True, grouping=True)
        elif any(name in term.group_vars for term in design.terms):
            out[name] = Variable(name, "factor", grouping=True)  # part of a grouping a:b: levels not kept
        elif name in factors and (frame is None or not pd.api.types.is_numeric_dtype(frame[name])
                                  or _stored_numbers(design, name) is None):
            out[name] = Variable(name, "factor", tuple(factors[name]), showable=name in in_fixed)
        elif frame is not None and not pd.api.types.is_numeric_dtype(frame[name]):
            levels = pd.Categorical(frame[name].dropna()).categories
            out[name] = Variable(name, "factor", tuple(levels), showable=name in in_fixed)
        else:
            values = frame[name].to_numpy(dtype=float) if frame is not None else _stored_numbers(design, name)
            out[name] = Variable(name, "numeric", values=values, showable=name in in_fixed)
    return out


def parse_effects(effects, variables: dict[str, Variable], design) -> list[tuple[tuple[str, ...], bool]]:
    """The effects to show as (variables, reorder): brms's defaults (numeric variables first), or
    those asked for, each one variable or two joined by ':'."""
    valid = [v.name for v in variables.values() if v.showable]
    if effects is None:
        found = [names for names in fixed_term_variables(design) if len(names) <= 2]
        if not found:
            raise ModelError("the model has no population-level predictors to show conditional effects of")
        return [(names, True) for names in found]
    if isinstance(effects, str):
        effects = [effects]
    if not isinstance(effects, (list, tuple)) or not all(isinstance(e, str) for e in effects):
        raise ArgumentError(f"effects must be a string such as 'x' or 'x:f', or a list of them, not {effects!r}")
    out = []
    for effect in effects:
        names = tuple(part.strip() for part in effect.split(":"))
        if len(names) > 2:
            raise ArgumentError(f"effect {effect!r} has {len(names)} variables; conditional_effects shows one "
                                "variable or a two-way interaction (hold others fixed with conditions=)")
        unknown = [n for n in names if n not in valid]
        if unknown or len(set(names)) != len(names):
            what = f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not" if unknown \
                else "names one variable twice; it must name"
            raise ArgumentError(f"effect {effect!r}: {what} a predictor of the model; valid effects are "
                                f"(combinations of): {', '.join(valid) or 'none'}")
        if (names, False) not in out:
            out.append((names, False))
    return out


def _conditions(conditions, variables: dict[str, Variable]) -> tuple[pd.DataFrame, list[str]]:
    """The rows to condition on (one per panel) and their labels (brms's ``cond__``)."""
    if conditions is None:
        return pd.DataFrame(index=[0]), ["1"]
    if not isinstance(conditions, pd.DataFrame):
        raise ArgumentError(f"conditions must be a pandas DataFrame (one row per condition), not "
                            f"{type(conditions).__name__}")
    if len(conditions) == 0:
        raise ArgumentError("conditions must have at least one row")
    unused = [str(c) for c in conditions.columns if c not in variables and c != "cond__"]
    if unused:
        warnings.warn(f"conditions has columns that are not part of the model: {', '.join(unused)}", UserWarning,
                      stacklevel=3)
    if "cond__" in conditions.columns:
        labels = [str(v) for v in conditions["cond__"]]
    elif isinstance(conditions.index, pd.RangeIndex) and conditions.index.start == 0:
        labels = [str(i + 1) for i in range(len(conditions))]  # R's row names
    else:
        labels = [str(i) for i in conditions.index]
    if len(set(labels)) != len(labels):
        raise ArgumentError("the labels of the conditions (cond__, or the row index) must be unique")
    kept = [c for c in conditions.columns if c in variables]
    return conditions[kept].reset_index(drop=True), labels


def effect_grid(names: tuple[str, ...], variables: dict[str, Variable], conditions: pd.DataFrame,
                labels: list[str], resolution: int, new_levels: set[str]) -> pd.DataFrame:
    """brms's prepare_cond_data: the effect's values crossed (first variable slowest), repeated for
    each condition with the other variables at the condition's or the reference values."""
    first = variables[names[0]].grid(resolution)
    combos = [(a,) for a in first] if len(names) == 1 else \
        list(itertools.product(first, variables[names[1]].moderator()))
    grid = pd.DataFrame(combos, columns=list(names)).drop_duplicates().reset_index(drop=True)
    blocks = []
    for row, label in enumerate(labels):
        block = grid.copy()
        for var in variables.values():
            if var.name in names:
                continue
            if var.name in conditions.columns:
                value = conditions[var.name].iloc[row]
            elif var.grouping:
                if var.name not in new_levels:
                    continue  # group-level effects left out: the column is not needed
                value = None  # a level the fit never saw (brms: NA), predicted as allow_new_levels does
            else:
                value = var.reference()
            block[var.name] = [value] * len(block)
        block["cond__"] = label
        blocks.append(block)
    table = pd.concat(blocks, ignore_index=True)
    for name in table.columns:
        var = variables.get(name)
        if var is not None and var.kind == "factor" and table[name].notna().all() \
                and table[name].isin(var.levels).all():
            table[name] = pd.Categorical(table[name], categories=list(var.levels))
    table["cond__"] = pd.Categorical(table["cond__"], categories=labels)
    table["effect1__"] = table[names[0]]
    if len(names) == 2:
        second = table[names[1]]
        if variables[names[1]].kind == "numeric":  # brms: a factor of the rounded values, largest first
            rounded = np.round(second.to_numpy(dtype=float), 2)
            second = pd.Categorical(rounded, categories=sorted(set(rounded), reverse=True))
        table["effect2__"] = second
    return table


def _summarize_draws(draws: np.ndarray, prob: float, robust: bool) -> np.ndarray:
    """brms's posterior_summary per column: median and MAD (robust) or mean and sd, and quantiles."""
    if robust:
        center = np.median(draws, axis=0)
        spread = 1.4826 * np.median(np.abs(draws - center), axis=0)  # R's mad()
    else:
        center, spread = np.mean(draws, axis=0), np.std(draws, axis=0, ddof=1)
    tail = (1 - prob) / 2
    lower, upper = np.quantile(draws, [tail, 1 - tail], axis=0)  # R's type 7, numpy's default
    return np.column_stack([center, spread, lower, upper])


def _wald(fit, newdata: pd.DataFrame, method: str, re_formula, prob: float) -> np.ndarray:
    """Estimate, se, lower, upper of a maximum-likelihood fit: the fit's own prediction on the link
    scale, a Wald interval from vcov and the encoded fixed-effects rows, then the inverse link."""
    from scipy.stats import norm

    if method == "posterior_predict":
        raise ArgumentError(f"method='posterior_predict' needs posterior draws; {fit.engine} fits give "
                            "'posterior_epred' (the mean, Wald interval) or 'posterior_linpred' (the link scale)")
    require(fit, "vcov", "ml.conditional_effects")
    require(fit, "inverse_link", "ml.conditional_effects")
    design = fit.design
    if design.terms:  # mixed models: re_form picks the group-level terms, as lme4's predict
        eta = fit.predict(newdata, re_form=re_formula, allow_new_levels=True)
    else:  # lm and glm
        eta = fit.predict(newdata, type="link")
    eta = np.asarray(eta, dtype=float)
    names = list(design.fixed.column_names)
    x = encode_fixed(design, newdata)
    cov = np.asarray(fit.vcov().loc[names, names], dtype=float)
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))
    z = norm.ppf(0.5 + prob / 2)
    low, high = eta - z * se, eta + z * se
    if method == "posterior_linpred":
        return np.column_stack([eta, se, low, high])
    inverse = fit.inverse_link
    step = 1e-6 * (1 + np.abs(eta))
    slope = (np.asarray(inverse(eta + step)) - np.asarray(inverse(eta - step))) / (2 * step)  # delta method
    ends = np.column_stack([np.asarray(inverse(low)), np.asarray(inverse(high))])
    return np.column_stack([np.asarray(inverse(eta)), np.abs(slope) * se, ends.min(axis=1), ends.max(axis=1)])


def summarize_predictions(fit, newdata: pd.DataFrame, method: str, re_formula, prob: float, robust: bool,
                          ndraws=None, seed=None) -> np.ndarray:
    """(rows, 4): estimate, se, lower, upper of the fit's predictions at ``newdata``."""
    if fit.bayesian:
        question = _DRAWS_QUESTION[method]
        require(fit, question, "ml.conditional_effects")
        draws = getattr(fit, question)(newdata, ndraws=ndraws, seed=seed, re_formula=re_formula,
                                       allow_new_levels=True)
        return _summarize_draws(np.asarray(draws, dtype=float), prob, robust)
    if ndraws is not None:
        raise ArgumentError(f"ndraws is for fits with posterior draws; an {fit.engine} fit has none")
    return _wald(fit, newdata, method, re_formula, prob)


def conditional_effects(fit, effects=None, conditions=None, prob: float = 0.95, method: str = "posterior_epred",
                        re_formula="NA", resolution: int = 100, robust: bool = True, data=None, ndraws=None,
                        seed=None, points: int | None = None) -> ConditionalEffects:
    """brms's ``conditional_effects``: predictions over each effect, the other predictors held fixed.

    Parameters
    ----------
    fit : a brm, lmer, glmer, lm or glm fit.
    effects : str or list of str, optional
        ``"x"`` or a two-way interaction ``"x:f"`` (a grouping factor may be one of them). By
        default every main effect and two-way interaction of the population-level formula, numeric
        variables first (brms's default).
    conditions : pandas.DataFrame, optional
        Values to hold the other variables at, one row per condition (a panel each; a ``cond__``
        column labels them). Variables not given are held at brms's reference values: numbers at
        their mean, factors at their first level.
    prob : float
        Coverage of the intervals (0.95).
    method : str
        ``"posterior_epred"`` (expected response, default), ``"posterior_linpred"`` (linear
        predictor) or, for Bayesian fits, ``"posterior_predict"`` (predictive draws).
    re_formula : str or None
        Group-level effects to include, as in ``posterior_epred``/``predict``: ``"NA"`` (default,
        brms's ``NA``: none), ``None`` (all; grouping columns not given are a new level) or a formula
        such as ``"~(1 | g)"``.
    resolution : int
        Points in the grid over a numeric effect (100); ``points`` is the same option under the name
        :func:`multilevel.plots.conditional_effects` uses.
    robust : bool
        Bayesian fits: median and MAD (True, brms's default) or mean and sd of the draws.
    data : pandas.DataFrame, optional
        The data the model was fitted to; needed only when a variable enters the model only inside an
        expression (``log(x)``), since the fit keeps its columns, not the raw data.
    ndraws, seed
        Bayesian fits: use ``ndraws`` draws chosen with ``seed``.

    Returns
    -------
    ConditionalEffects
        A mapping from each effect's name (``"temp"``, ``"temp:contact"``) to a DataFrame as brms's:
        the effect's grid, the other variables, ``cond__``, ``effect1__`` (``effect2__``) and
        ``estimate__``, ``se__``, ``lower__``, ``upper__``. Bayesian fits summarise draws of the fit's
        own predictions; lmer/glmer/lm/glm fits give the prediction with a Wald interval on the link
        scale mapped through the inverse link (``se__`` by the delta method). ``.plot()`` draws them.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> ce = ml.conditional_effects(fit, "Days")
    >>> ce["Days"][["Days", "estimate__", "lower__", "upper__"]].shape
    (100, 4)
    """
    require(fit, "fixed_columns", "ml.conditional_effects")  # a formula model: the design to encode with
    prob = open_probability("prob", prob)
    method = choice("method", method, METHODS)
    robust = flag("robust", robust)
    if points is not None:
        resolution = points
    resolution = whole_number("resolution", resolution, 2)
    design = fit.design
    new_levels = {v for k in terms_in_re_form(design, re_formula) for v in design.terms[k].group_vars}
    variables = model_variables(fit, data)
    wanted = parse_effects(effects, variables, design)
    rows, labels = _conditions(conditions, variables)
    tables = {}
    for names, reorder in wanted:
        if reorder:  # brms's default effects: numeric variables first
            names = tuple(sorted(names, key=lambda n: variables[n].kind != "numeric"))
        table = effect_grid(names, variables, rows, labels, resolution, new_levels)
        model_columns = [c for c in table.columns if c in variables]
        summary = summarize_predictions(fit, table[model_columns], method, re_formula, prob, robust, ndraws, seed)
        for k, column in enumerate(SUMMARY_COLUMNS):
            table[column] = summary[:, k]
        table.attrs.update(effects=names, types=tuple(variables[n].kind for n in names))
        tables[":".join(names)] = table
    return ConditionalEffects(tables, fit.response_name, method, prob, robust, fit.bayesian, re_formula)


class ConditionalEffects(Mapping):
    """The tables of :func:`conditional_effects`, one per effect (a read-only mapping of DataFrames).

    ``print`` shows each table (the grid and the summary columns); in Jupyter an HTML version;
    :meth:`plot` draws each effect with matplotlib.
    """

    def __init__(self, tables: dict, response: str, method: str, prob: float, robust: bool, bayesian: bool,
                 re_formula):
        self._tables = dict(tables)
        self.response, self.method, self.prob, self.robust = response, method, prob, robust
        self.bayesian, self.re_formula = bayesian, re_formula

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            raise KeyError(f"no effect {name!r}; effects: {', '.join(self._tables)}")
        return self._tables[name]

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def effects(self, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The variables of an effect and their kinds ("numeric" or "factor"), in plotting order."""
        attrs = self[name].attrs
        return tuple(attrs["effects"]), tuple(attrs["types"])

    @property
    def description(self) -> str:
        what = {"posterior_epred": f"expected {self.response}", "posterior_linpred": "linear predictor",
                "posterior_predict": f"predicted {self.response}"}[self.method]
        if self.bayesian:
            how = f"posterior {'medians' if self.robust else 'means'}, {self.prob:.0%} quantile intervals"
        else:
            how = f"estimates with {self.prob:.0%} Wald intervals" + (
                "" if self.method == "posterior_linpred" else " on the link scale, through the inverse link")
        groups = "group-level effects left out" if self.re_formula in ("NA", "~0", False) else \
            f"group-level effects: re_formula={self.re_formula!r}"
        return f"Conditional effects: {what} ({how}; {groups})"

    def _held(self, name: str) -> str:
        """The other variables' values, when there is one condition."""
        table = self[name]
        effects, _ = self.effects(name)
        if table["cond__"].nunique() > 1:
            return "conditions: " + ", ".join(map(str, table["cond__"].cat.categories))
        held = [c for c in table.columns if c not in effects and c != "cond__" and not c.endswith("__")]
        return "held at: " + ", ".join(f"{c} = {_show(table[c].iloc[0])}" for c in held) if held else ""

    def _shown(self, name: str) -> pd.DataFrame:
        table = self[name]
        effects, _ = self.effects(name)
        columns = list(effects) + (["cond__"] if table["cond__"].nunique() > 1 else []) + list(SUMMARY_COLUMNS)
        return table[columns]

    def __str__(self) -> str:
        parts = [self.description]
        for name in self:
            held = self._held(name)
            parts += ["", f"${name}" + (f"  ({held})" if held else ""),
                      self._shown(name).to_string(max_rows=12, float_format=lambda v: f"{v:.6g}")]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(self.description)}</p>"]
        for name in self:
            held = self._held(name)
            parts.append(f"<h4>{html.escape(name)}</h4>" + (f"<p>{html.escape(held)}</p>" if held else ""))
            parts.append(self._shown(name).to_html(max_rows=12, escape=True, float_format=lambda v: f"{v:.6g}"))
        return "<div>" + "\n".join(parts) + "</div>"

    def plot(self, ax=None) -> dict:
        """One matplotlib Figure per effect (a panel per condition): a line with its band over a
        numeric variable, points with error bars for a factor, one line or point per level of the
        second variable of an interaction (levels side by side). ``ax`` draws the only effect of a
        result with one condition there. Returns {effect name: Figure}."""
        from ..plots.conditional import plot_effects

        return plot_effects(self, ax)


def _show(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return "NA" if value is None else str(value)
