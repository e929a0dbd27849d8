"""brms's ``hypothesis()``: tests of (non-)linear combinations of parameters from posterior draws.

``hypothesis(fit, "Days > 0")`` or ``"a + b = 2 * c"``: each hypothesis ``left op right`` (op one of
``=``, ``<``, ``>``) becomes the draws of ``(left) - (right)`` compared with 0, as brms does
(R/hypothesis.R, brms 2.18-2.22):

* ``Estimate`` and ``Est.Error``: mean and sd of those draws (``robust=True``: median and MAD);
* ``CI.Lower``, ``CI.Upper``: quantiles ``alpha/2, 1 - alpha/2`` for ``=`` and ``alpha, 1 - alpha``
  for ``<`` and ``>`` (a 90% interval for one-sided hypotheses at alpha = 0.05);
* ``Evid.Ratio``: for ``<``/``>`` the posterior odds of the hypothesis against its alternative
  (draws on its side / draws on the other); for ``=`` the Savage-Dickey density ratio, posterior
  density at 0 over prior density at 0, which needs draws from the priors (``brm(...,
  sample_prior="yes")``) and is NaN without them, as brms's NA. Densities are Gaussian kernel
  estimates with R's default bandwidth (``bw.nrd0``), evaluated at the point itself (R interpolates
  a 4096-point grid: 3.516252 here vs brms's 3.516240 on the test's draws);
* ``Post.Prob``: ``Evid.Ratio / (1 + Evid.Ratio)`` (1 where the ratio is infinite);
* ``Star``: ``*`` where a one-sided hypothesis has ``Post.Prob > 1 - alpha`` or a point hypothesis's
  interval excludes 0.

Names in a hypothesis are parameters without their class prefix (``class_="b"``: ``Days`` is
``b_Days``; ``class_="sd", group="Subject"``: ``Intercept`` is ``sd_Subject__Intercept``;
``class_=""``: full names such as ``r_Subject[308,Days]``). ``:`` of interactions may be written as is.
The text is parsed (the ulam expression grammar: numbers, names, ``+ - * / ^``, parentheses and a
few functions), never evaluated as code. A data frame of draws works too, with ``class_=""``.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..rethinking.parse import BinOp, Call, Index, Name, Neg, Num, UlamSyntaxError, parse_expression

FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "inv_logit": lambda x: 1 / (1 + np.exp(-x)),
             "plogis": lambda x: 1 / (1 + np.exp(-x)), "logit": lambda x: np.log(x / (1 - x)),
             "qlogis": lambda x: np.log(x / (1 - x)), "log1p": np.log1p, "expm1": np.expm1, "square": np.square}
_COLON = "___"  # brms's own rename of ':' in names before parsing


@dataclass
class HypothesisResult:
    """The table brms prints (``hypothesis``), the draws of each hypothesis (``samples``: H1, H2, ...)
    and, where drawn, of its prior (``prior_samples``)."""

    hypothesis: pd.DataFrame
    samples: pd.DataFrame
    prior_samples: pd.DataFrame
    class_: str
    alpha: float

    def __str__(self) -> str:
        table = self.hypothesis.copy()
        table["Hypothesis"] = [h if len(h) <= 20 else h[:17] + "..." for h in table["Hypothesis"]]
        one, two = (1 - 2 * self.alpha) * 100, (1 - self.alpha) * 100
        return (f"Hypothesis Tests for class {self.class_}:\n{table.round(2).to_string()}\n"
                f"---\n'CI': {one:g}%-CI for one-sided and {two:g}%-CI for two-sided hypotheses.\n"
                f"'*': For one-sided hypotheses, the posterior probability exceeds {two:g}%;\n"
                f"for two-sided hypotheses, the value tested against lies outside the {two:g}%-CI.\n"
                "Posterior probabilities of point hypotheses assume equal prior probabilities.\n")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (f"<p>Hypothesis Tests for class {html.escape(self.class_)}:</p>"
                + self.hypothesis.round(2).to_html(index=True, escape=True))


def hypothesis(fit, hypothesis, class_: str = "b", group: str = "", alpha: float = 0.05,
               robust: bool = False, seed=None) -> HypothesisResult:
    """brms's ``hypothesis(x, hypothesis, class, group, alpha, robust)`` (see the module).

    ``hypothesis``: one string or a list of strings (a dict names them, as brms's named vector).
    ``seed``: only for symmetry with brms (prior draws are used in their stored order).
    """
    hypotheses = _as_named_list(hypothesis)
    if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1):
        raise ArgumentError(f"alpha must be a single number in [0, 1], not {alpha!r}")
    if not isinstance(class_, str) or not isinstance(group, str):
        raise ArgumentError("class_ and group must be strings (class_='' for full parameter names)")
    prefix = f"{class_}_{group}__" if group else (f"{class_}_" if class_ else "")
    draws, prior = _draws_of(fit)
    rows, samples, prior_samples = [], {}, {}
    for i, (name, text) in enumerate(hypotheses):
        row, values, prior_values = _evaluate(text, name, draws, prior, prefix, alpha, robust)
        rows.append(row)
        samples[f"H{i + 1}"], prior_samples[f"H{i + 1}"] = values, prior_values
    table = pd.DataFrame(rows, columns=["Hypothesis", "Estimate", "Est.Error", "CI.Lower", "CI.Upper",
                                        "Evid.Ratio", "Post.Prob", "Star"])
    table.index = range(1, len(table) + 1)
    return HypothesisResult(table, pd.DataFrame(samples), pd.DataFrame(prior_samples), class_ or "", float(alpha))


def _as_named_list(hypothesis) -> list[tuple[str | None, str]]:
    if isinstance(hypothesis, str):
        return [(None, hypothesis)]
    if isinstance(hypothesis, dict):
        items = list(hypothesis.items())
    elif isinstance(hypothesis, (list, tuple)):
        items = [(None, h) for h in hypothesis]
    else:
        items = []
    if not items or not all(isinstance(h, str) for _, h in items):
        raise ArgumentError("hypothesis must be a string or a list of strings such as 'Days > 0'")
    return items


def _draws_of(fit) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Posterior draws (a column per parameter) and the prior draws where the fit has them."""
    if isinstance(fit, pd.DataFrame):
        return fit, None
    if not hasattr(fit, "draws"):
        raise ArgumentError(f"hypothesis needs a brm fit or a data frame of draws, not {type(fit).__name__}")
    prior = getattr(fit, "prior_draws", None)
    if prior is not None and getattr(getattr(fit, "layout", None), "intercept", False):
        # brms draws no prior for the intercept of centered predictors: not a prior of b_Intercept
        prior = prior.drop(columns=["b_Intercept"], errors="ignore")
    return fit.draws(), prior


def _split(text: str) -> tuple[str, str, str]:
    signs = re.findall(r"[=<>]", text)
    parts = re.split(r"[=<>]", text)
    if len(signs) != 1 or len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ArgumentError(f"every hypothesis must be of the form 'left (= or < or >) right', not {text!r}")
    return parts[0].strip(), signs[0], parts[1].strip()


def _evaluate(text, name, draws, prior, prefix, alpha, robust):
    left, sign, right = (re.sub(r"\s", "", part) for part in _split(text))  # brms drops all spaces
    written = f"({left})" + (f"-({right})" if right != "0" else "")
    protected = re.sub(r"(?<=[A-Za-z0-9_.\]]):(?=[A-Za-z_.])", _COLON, written)
    try:
        tree = parse_expression(protected)
    except UlamSyntaxError as error:
        raise ArgumentError(f"cannot read the hypothesis {text!r}: {str(error).splitlines()[0]}") from None
    columns = {}
    _collect(tree, columns, prefix)
    missing = [c for c in columns.values() if c not in draws.columns]
    if missing:
        raise ArgumentError(f"some parameters cannot be found in the model: {', '.join(missing)}"
                            + (f" (names are taken with the prefix {prefix!r}: class_='' takes full names)"
                               if prefix else ""))
    values = np.asarray(_value(tree, draws, columns), dtype=float) * np.ones(len(draws))
    prior_values = np.full(len(values), np.nan)
    if prior is not None and all(c in prior.columns for c in columns.values()):
        prior_values = np.asarray(_value(tree, prior, columns), dtype=float) * np.ones(len(prior))
    center, spread = ((np.median(values), 1.4826 * np.median(np.abs(values - np.median(values)))) if robust
                      else (values.mean(), values.std(ddof=1)))
    probs = (alpha / 2, 1 - alpha / 2) if sign == "=" else (alpha, 1 - alpha)
    lower, upper = np.quantile(values, probs)
    ratio = _evidence_ratio(values, sign, prior_values)
    post = 1.0 if np.isinf(ratio) else ratio / (1 + ratio)
    star = (not (lower <= 0 <= upper)) if sign == "=" else bool(post > 1 - alpha)
    label = name or f"{written} {sign} 0"
    return [label, center, spread, lower, upper, ratio, post, "*" if star else ""], values, prior_values


def _collect(node, columns: dict, prefix: str) -> None:
    """Map every name (and indexed name, r_g[level,coef]) to its draws column."""
    if isinstance(node, Name):
        columns[node] = prefix + node.id.replace(_COLON, ":")
    elif isinstance(node, Index) and isinstance(node.target, Name):
        inside = ",".join(_index_text(i) for i in node.indices)
        columns[node] = f"{prefix}{node.target.id}[{inside}]"
    elif isinstance(node, Call):
        if node.func not in FUNCTIONS:
            raise ArgumentError(f"unknown function {node.func!r} in a hypothesis; known: {', '.join(FUNCTIONS)}")
        for a in node.args:
            _collect(a, columns, prefix)
    elif isinstance(node, BinOp):
        _collect(node.left, columns, prefix)
        _collect(node.right, columns, prefix)
    elif isinstance(node, Neg):
        _collect(node.operand, columns, prefix)
    elif not isinstance(node, Num):
        raise ArgumentError("a hypothesis is built from numbers, parameter names, + - * / ^ and functions")


def _index_text(node) -> str:
    if isinstance(node, Num):
        return f"{node.value:g}"
    if isinstance(node, Name):
        return node.id.replace(_COLON, ":")
    if isinstance(node, Neg) and isinstance(node.operand, Num):
        return f"-{node.operand.value:g}"
    raise ArgumentError("inside [ ] a hypothesis names a level and a coefficient, e.g. r_Subject[308,Days]")


def _value(node, draws: pd.DataFrame, columns: dict):
    if isinstance(node, Num):
        return node.value
    if node in columns:
        return draws[columns[node]].to_numpy(dtype=float)
    if isinstance(node, Neg):
        return -_value(node.operand, draws, columns)
    if isinstance(node, Call):
        return FUNCTIONS[node.func](*[_value(a, draws, columns) for a in node.args])
    left, right = _value(node.left, draws, columns), _value(node.right, draws, columns)
    with np.errstate(all="ignore"):
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}[node.op](left, right)


def _evidence_ratio(values: np.ndarray, sign: str, prior_values: np.ndarray) -> float:
    if sign == "=":
        if np.all(np.isnan(prior_values)):
            return float("nan")
        return _density_at_zero(values) / _density_at_zero(prior_values[~np.isnan(prior_values)])
    hits = int(np.sum(values < 0)) if sign == "<" else int(np.sum(values > 0))
    others = len(values) - hits
    return float("inf") if others == 0 else hits / others


def _density_at_zero(x: np.ndarray) -> float:
    """Gaussian kernel density at 0 with R's bw.nrd0 bandwidth (see the module)."""
    n = len(x)
    sd = np.std(x, ddof=1)
    iqr = np.subtract(*np.quantile(x, [0.75, 0.25]))
    scale = min(sd, iqr / 1.34) if iqr > 0 else sd
    bandwidth = 0.9 * (scale if scale > 0 else (abs(x[0]) or 1.0)) * n ** -0.2
    return float(np.mean(np.exp(-0.5 * (x / bandwidth) ** 2)) / (bandwidth * np.sqrt(2 * np.pi)))
