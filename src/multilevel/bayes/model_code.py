"""``fit.model_code()``: the log density the sampler runs, written out to be read (brms's ``stancode``).

Not Stan code and not run: a description generated from the same layout, priors and likelihood the
NumPyro model is built from (:func:`multilevel.bayes.model.make_model`), in Stan's block order --
data, parameters (with their constraints), the model (priors, group-level effects in the form they
are sampled, the linear predictor, the likelihood) and the quantities computed after sampling.
"""
from __future__ import annotations

import numpy as np


def model_code(fit) -> str:
    lay, design, lik = fit.layout, fit.design, fit.likelihood
    response = design.response_name
    preds = lay.predictors  # a bf() model: its extra predictors (.predictors)
    lines = [f"// {preds.formula.display.replace(chr(10) + '         ', '; ') if preds is not None else design.formula.display}", f"// family: {lik.name}({lik.link_name}); "
             f"{fit.run.settings.get('parameterization', lay.parameterization)}", "data {",
             f"  N = {design.nobs}  rows" + _likelihood_note(fit, design),
             f"  {response}[N]  response"]
    if lay.b_names:
        centered = " (centered: column means subtracted)" if lay.intercept or lay.thresholds else ""
        lines.append(f"  X[N, {len(lay.b_names)}]  population-level columns {', '.join(lay.b_names)}{centered}")
    for g in lay.groups:
        lines.append(f"  {g.group}: {g.n_levels} levels; Z_{g.index + 1}[N, {len(g.columns)}] columns "
                     f"{', '.join(g.columns)}")
    for name in design.additions:
        lines.append(f"  {name}[N]  {ADDITION_DATA.get(name, f'from the response' + chr(39) + f's {name}()')}")
    lines += ["}", "parameters {"]
    if lay.intercept:
        lines.append("  real Intercept;  // the intercept at the predictors' means")
    if lay.thresholds:
        kind = "ordered" if lay.ordered_thresholds else "vector"  # brms: ordered for cumulative only
        lines.append(f"  {kind}[{lay.thresholds}] Intercept;  // thresholds for centered predictors (no intercept in eta)")
    if lay.b_names:
        lines.append(f"  vector[{len(lay.b_names)}] b;  // {', '.join(lay.b_names)}")
    for g in lay.groups:
        k = len(g.columns)
        lines.append(f"  vector<lower=0>[{k}] sd_{g.index + 1};  // sd of {', '.join(g.columns)} by {g.group}")
        if g.correlated:
            lines.append(f"  cholesky_factor_corr[{k}] L_{g.index + 1};")
        if not lay.integrate_out_effects:
            lines.append(f"  matrix[{k}, {g.n_levels}] u_{g.index + 1};  // {_form(g)}")
    for param in lay.family_params:
        bounds = _support(param)
        lines.append(f"  real{f'<{bounds}>' if bounds else ''} {param};")
    if preds is not None:
        lines += preds.code_parameters()
    lines += ["}", "model {"]
    for (klass, coef, group), prior in lay.priors.items():
        target = _prior_target(klass, coef, group, lay)
        if target:
            lines.append(f"  {target} ~ {prior.text or 'flat (improper): adds nothing'};")
    for g in lay.groups:
        lines.append(f"  // {g.group}: r_{g.index + 1} = {_effects(g, lay)}")
    eta = " + ".join((["Intercept"] if lay.intercept else []) + (["X * b"] if lay.b_names else [])
                     + [f"rows of Z_{g.index + 1} .* r_{g.index + 1}[{g.group}]" for g in lay.groups]
                     + (["offset"] if design.offset is not None else [])) or "0"
    if not (lik.categorical and eta == "0"):  # categorical: the predictors mu<k> below are the model
        lines.append(f"  eta = {eta};")
    if preds is not None:
        lines += preds.code_model()
    if lay.integrate_out_effects:
        lines.append(f"  target += log p({response} | Intercept, b, sd, sigma): the effects integrated out "
                     "exactly (a Gaussian marginal likelihood)")
    elif any(k in design.additions for k in ("cens", "trunc_lb", "trunc_ub")):
        lines += _censored_likelihood(lik, design, response)
    else:
        weights = " * weights" if "weights" in design.additions else ""
        lines.append(f"  target += {_likelihood_call(lik, design, response)}{weights};")
    lines += ["}", "generated quantities {"]
    if lay.intercept:
        lines.append("  b_Intercept = Intercept - dot(column means of X, b);" if lay.b_names else
                     "  b_Intercept = Intercept;")
    if lay.thresholds:  # the thresholds for uncentered predictors (mu = X b)
        lines.append(f"  vector[{lay.thresholds}] b_Intercept = Intercept + dot(column means of X, b);"
                     if lay.b_names else f"  vector[{lay.thresholds}] b_Intercept = Intercept;")
    if lay.integrate_out_effects:
        lines.append("  r drawn from its exact conditional given each draw of the parameters;")
    if preds is not None:
        lines += [f"  b_{p.name}_Intercept = Intercept_{p.name} - dot(column means of X_{p.name}, b_{p.name});"
                  for p in preds.items if p.intercept]
    lines.append("}")
    return "\n".join(lines)


def _form(g) -> str:
    if not g.any_centered:
        return "non-centered: r = diag(sd) L u, u ~ N(0, 1)" if g.correlated else "non-centered: r = sd u, u ~ N(0, 1)"
    if g.correlated:
        return "centered: u = the levels' coefficients, u ~ N(mean, diag(sd) L L' diag(sd))"
    return f"partially centered (mean weight {np.mean(g.centering):.2f}): r = sd^(1 - c) (u - c mean)"


def _effects(g, lay) -> str:
    if lay.integrate_out_effects:
        return "integrated out"
    return _form(g).split(": ", 1)[1]


def _prior_target(klass: str, coef: str, group: str, lay) -> str:
    if klass == "Intercept":
        if lay.thresholds:
            return f"Intercept[{coef}]" if coef else ""
        return "Intercept" if lay.intercept and not coef else ""
    if klass == "b":
        return f"b[{coef}]" if coef else ""
    if klass == "sd":
        g = next((g for g in lay.groups if g.group == group), None)
        return f"sd_{g.index + 1}[{coef}]  (lower=0)" if g is not None and coef else ""
    if klass == "cor":
        g = next((g for g in lay.groups if g.group == group and g.correlated), None)
        return f"L_{g.index + 1}" if g is not None else ""
    return klass if klass in lay.family_params and not coef else ""


def _support(param: str) -> str:
    """Bounds of a family parameter as the sampler constrains it (``ParameterVector``)."""
    return {"sigma": "lower=0", "shape": "lower=0", "nu": "lower=0", "phi": "lower=0", "beta": "lower=0",
            "zi": "lower=0, upper=1", "hu": "lower=0, upper=1", "ndt": "lower=0, upper=min(response)"}.get(param, "")


def _likelihood_note(fit, design) -> str:
    ran = fit.run.settings.get("likelihood", "")
    return f"  ({ran})" if ran and ran != f"{design.nobs:,} rows" else ""


def _likelihood_call(lik, design, response: str) -> str:
    if lik.categorical:  # brms: categorical_logit with the reference category's predictor fixed at 0
        logits = ", ".join(["0"] + [f"{mu}[n]" for mu in lik.category_predictors])
        offset = " + offset[n]" if design.offset is not None else ""
        return f"categorical_logit_lpmf({response}[n] | [{logits}]'{offset})  // summed over rows n"
    if lik.ordinal and lik.name in ("sratio", "acat"):  # brms's own functions, disc = 1
        how = ("q_k = log1m_inv_logit(Intercept[k] - eta); log P(y = k) = log1m_exp(q_k) + sum(q[1:(k-1)])"
               if lik.name == "sratio" else "p = append_row(0, cumulative_sum(eta - Intercept)); log P(y) = p[y] - "
               "log_sum_exp(p)")
        return f"{lik.name}_logit_lpmf({response} | eta, disc = 1, Intercept)  // {how}"
    if lik.ordinal:  # brms: ordered_logistic for the logit link, its cumulative_probit_lpmf otherwise
        if lik.link_name == "logit":
            return f"ordered_logistic_lpmf({response} | eta, Intercept)"
        return (f"cumulative_{lik.link_name}_lpmf({response} | eta, disc = 1, Intercept)  "
                "// log(Phi(Intercept[y] - eta) - Phi(Intercept[y-1] - eta))")
    return f"{lik.name}_lpdf({response} | {_arguments(lik, design)})"


ADDITION_DATA = {
    "cens": "censoring from the response's cens(): -1 left, 0 none, 1 right, 2 interval",
    "cens_y2": "right ends of the interval-censored rows, from cens(..., y2)",
    "trunc_lb": "lower truncation bounds, from trunc(lb = ...)",
    "trunc_ub": "upper truncation bounds, from trunc(ub = ...)",
    "rate": "rate denominators, from rate(): mu * rate",
}


def _censored_likelihood(lik, design, response: str) -> list[str]:
    """brms's censored/truncated likelihood (``stan_log_lik_cens``), one line per kind of row."""
    from .censoring import DISCRETE

    name, args = lik.name, _arguments(lik, design)
    weights = "weights * " if "weights" in design.additions else ""
    lb = "trunc_lb - 1" if name in DISCRETE else "trunc_lb"
    trunc = ""
    if "trunc_lb" in design.additions and "trunc_ub" in design.additions:
        trunc = f"log_diff_exp({name}_lcdf(trunc_ub | {args}), {name}_lcdf({lb} | {args}))"
    elif "trunc_lb" in design.additions:
        trunc = f"{name}_lccdf({lb} | {args})"
    elif "trunc_ub" in design.additions:
        trunc = f"{name}_lcdf(trunc_ub | {args})"
    if "cens" not in design.additions:
        body = f"{name}_lpdf({response} | {args})" + (f" - {trunc}" if trunc else "")
        return [f"  target += {weights}({body});" if weights else f"  target += {body};"]
    lines = ["  // censored rows (brms's cens()), row by row:",
             f"  target += {weights}{name}_lpdf({response} | {args})   if cens == 0",
             f"            {weights}{name}_lccdf({response} | {args})  if cens == 1 (right)",
             f"            {weights}{name}_lcdf({response} | {args})   if cens == -1 (left)"]
    if "cens_y2" in design.additions:
        lines.append(f"            {weights}log_diff_exp({name}_lcdf(cens_y2 | {args}), {name}_lcdf({response} | {args}))"
                     "  if cens == 2 (interval)")
    if trunc:
        lines.append(f"            - {trunc}  (truncation{', not weighted: as brms' if weights else ''})")
    lines[-1] += ";"
    return lines


def _arguments(lik, design) -> str:
    mean = {"identity": "eta", "log": "exp(eta)", "logit": "inv_logit(eta)", "probit": "Phi(eta)",
            "cloglog": "inv_cloglog(eta)"}.get(lik.link_name, f"{lik.link_name}^-1(eta)")
    scale = [p for p in lik.parameters]
    if "se" in design.additions:
        scale = ["sqrt(sigma^2 + se^2)" if p == "sigma" else p for p in scale] if "sigma" in scale else ["se"] + scale
    if "rate" in design.additions:  # brms: mu * denom, negbinomial's shape * denom
        mean = f"{mean} * rate"
        scale = ["shape * rate" if p == "shape" else p for p in scale]
    trials = ["trials"] if lik.name == "binomial" else []
    return ", ".join(trials + [mean] + scale)
