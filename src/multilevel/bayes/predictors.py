"""The extra linear predictors of a ``bf()`` model: nonlinear parameters and distributional parameters.

Each further formula of :func:`.brmsformula.bf` is one :class:`Predictor` with its own population-level
design (built by the shared design layer on the model's rows, encoded on new data as the main fixed
effects are). As in brms's Stan code:

* a distributional parameter (``sigma ~ g``) samples ``Intercept_sigma`` on centered columns and
  ``b_sigma``; its value per row is the inverse of brms's link (log for sigma) of
  ``Intercept_sigma + Xc_sigma b_sigma``; draws are reported as ``b_sigma_Intercept`` (uncentered)
  and ``b_sigma_<coef>``. The parameter's scalar draw and prior go away.
* a nonlinear parameter (``a ~ 0 + id.f``) samples ``b_a`` on uncentered columns (brms does not center
  them; an intercept is the coefficient ``b_a_Intercept``); mu is the main formula's expression
  evaluated (:func:`multilevel.rethinking.logdensity.evaluate`, never ``eval``) on the parameters' per-row
  vectors and the data columns it names.

Priors are ``ml.prior(..., nlpar="a")`` / ``ml.prior(..., dpar="sigma")``, class b (and Intercept for
distributional parameters); defaults as brms: b flat, ``Intercept_sigma ~ student_t(3, 0, 2.5)``
(``logistic(0, 1)`` for zi and hu).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError
from .brmsformula import DPAR_LINKS, BrmsFormula
from .priors import Prior, PriorError, check_prior_fits_class, parse_prior_text

DPAR_INTERCEPT_PRIOR = {"zi": "logistic(0, 1)", "hu": "logistic(0, 1)"}  # others: student_t(3, 0, 2.5)


@dataclass(frozen=True)
class Predictor:
    """One further formula's linear predictor."""

    name: str  # "a" (nonlinear) or "sigma" (distributional)
    kind: str  # "nlpar" or "dpar"
    rhs: str
    design: object  # the shared design of ``<response> ~ <rhs>`` on the model's rows
    columns: tuple[int, ...]  # columns of design.fixed.matrix that are coefficients b_<name>
    coef_names: tuple[str, ...]  # brms's names of those coefficients
    intercept: bool  # a centered intercept Intercept_<name> (distributional parameters with an intercept)
    x_means: np.ndarray  # means of those columns (centering; zeros when not centered)
    link: str = "identity"
    sd_default: str = "student_t(3, 0, 2.5)"  # group-level sds' default prior

    @property
    def terms(self):
        """The formula's group-level terms (codes + small per-level block, as the main formula's)."""
        return self.design.terms

    def term_columns(self, k: int) -> tuple[str, ...]:
        from .model import _brms_coef

        return tuple(_brms_coef(c) for c in self.terms[k].column_names)

    @property
    def b_block(self) -> str:
        return f"b_{self.name}"

    @property
    def intercept_block(self) -> str:
        return f"Intercept_{self.name}"

    def matrix(self, newdata=None) -> np.ndarray:
        """The coefficient columns (centered as sampled) of the model's rows or of new data."""
        from ..design import encode_fixed

        x = self.design.fixed.matrix if newdata is None else encode_fixed(self.design, newdata)
        return x[:, list(self.columns)] - self.x_means


@dataclass
class Predictors:
    """Every extra predictor of a bf() model, the nonlinear expression and their priors."""

    formula: BrmsFormula
    items: tuple[Predictor, ...]
    expression: object = None  # the nonlinear formula's tree (nl=True)
    data_columns: tuple[str, ...] = ()  # data columns the expression names
    data: pd.DataFrame | None = None  # the model's rows (for the expression's data columns)
    priors: dict = field(default_factory=dict)  # (name, class, coef) -> Prior

    @property
    def dpars(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.items if p.kind == "dpar")

    @property
    def nonlinear(self) -> bool:
        return self.expression is not None

    # ---- the sampler's blocks and priors ---------------------------------------------------------
    def blocks(self) -> list[tuple[str, tuple, str]]:
        out = []
        for p in self.items:
            if p.intercept:
                out.append((p.intercept_block, (), "real"))
            if p.coef_names:
                out.append((p.b_block, (len(p.coef_names),), "real"))
            for k, t in enumerate(p.terms):  # brms's non-centered form: r = diag(sd) L u, u ~ N(0, I)
                q = len(t.column_names)
                out.append((f"sd_{p.name}_{k}", (q,), "positive"))
                out.append((f"u_{p.name}_{k}", (q, t.n_levels), "real"))
                if q > 1:
                    out.append((f"L_{p.name}_{k}", (q * (q - 1) // 2,), f"corr{q}"))
        return out

    def log_prior(self, values):
        import jax.numpy as jnp

        from .lkj import lkj_cholesky_log_density
        from .model import prior_log_density

        total = 0.0
        for p in self.items:
            if p.intercept:
                total = total + prior_log_density(self.priors[p.name, "Intercept", "", ""], values[p.intercept_block])
            for i, c in enumerate(p.coef_names):
                total = total + prior_log_density(self.priors[p.name, "b", c, ""], values[p.b_block][i])
            for k, t in enumerate(p.terms):
                sd = values[f"sd_{p.name}_{k}"]
                for i, c in enumerate(p.term_columns(k)):
                    total = total + prior_log_density(self.priors[p.name, "sd", c, t.group_name], sd[i])
                total = total - 0.5 * jnp.sum(values[f"u_{p.name}_{k}"] ** 2)
                if len(t.column_names) > 1:
                    eta = parse_prior_text(self.priors[p.name, "cor", "", t.group_name].text)[1][0]
                    total = total + lkj_cholesky_log_density(values[f"L_{p.name}_{k}"], eta)
        return total

    def code_parameters(self) -> list[str]:
        """model_code()'s parameter lines for the extra predictors."""
        lines = []
        for p in self.items:
            if p.intercept:
                lines.append(f"  real Intercept_{p.name};  // {p.name}'s intercept at its predictors' means")
            if p.coef_names:
                lines.append(f"  vector[{len(p.coef_names)}] b_{p.name};  // {', '.join(p.coef_names)}"
                             f"{' (centered columns)' if p.intercept else ''}")
            for k, t in enumerate(p.terms):
                q, label = len(t.column_names), f"{t.group_name}__{p.name}"
                lines.append(f"  vector<lower=0>[{q}] sd_{label};  // sd of {', '.join(p.term_columns(k))} by "
                             f"{t.group_name}")
                if q > 1:
                    lines.append(f"  cholesky_factor_corr[{q}] L_{label};")
                lines.append(f"  matrix[{q}, {t.n_levels}] u_{label};  // non-centered: r = diag(sd) L u, u ~ N(0, 1)")
        return lines

    def code_model(self) -> list[str]:
        """model_code()'s priors and per-row values of the extra predictors (mu from the expression)."""
        lines = []
        for (name, class_, coef, group), prior in self.priors.items():
            target = {"Intercept": f"Intercept_{name}", "b": f"b_{name}[{coef}]", "sd": f"sd_{group}__{name}[{coef}]",
                      "cor": f"L_{group}__{name}"}[class_]
            lines.append(f"  {target} ~ {prior.text or 'flat (improper): adds nothing'};")
        for p in self.items:
            terms = ([f"Intercept_{p.name}"] if p.intercept else []) + ([f"X_{p.name} * b_{p.name}"] if p.coef_names
                                                                          else [])
            terms += [f"Z_{t.group_name}__{p.name} .* r_{t.group_name}__{p.name}[{t.group_name}] "
                      "(r = diag(sd) L u, u ~ N(0, 1))" for t in p.terms]
            value = " + ".join(terms) or "0"
            if p.kind == "dpar":
                inverse = {"log": "exp", "logm1": "1 + exp", "logit": "inv_logit"}.get(p.link, "")
                lines.append(f"  vector[N] {p.name} = {inverse}({value});  // link: {p.link}")
            else:
                lines.append(f"  vector[N] nlp_{p.name} = {value};")
        if self.expression is not None:
            lines.append(f"  eta = eta + ({self.formula.rhs});  // nonlinear: parameters as their nlp_ vectors, "
                         "per row")
        return lines

    def improper(self) -> list[str]:
        return [f"{c} {coef} ({name})".replace("  ", " ") for (name, c, coef, _), pr in self.priors.items()
                if not pr.text]

    # ---- evaluation --------------------------------------------------------------------------------
    def inputs(self, newdata=None) -> dict:
        """The matrices of every predictor and the expression's data columns, for the model's rows or new data."""
        frame = self.data if newdata is None else newdata
        if newdata is not None:
            needed = {v for p in self.items for v in p.design.formula.variables
                      if v != p.design.formula.response} | set(self.data_columns)
            missing = sorted(v for v in needed if v not in newdata.columns)
            if missing:
                raise DataError(f"newdata lacks column(s) the model's formulas use: {', '.join(missing)}")
        columns = {}
        for c in self.data_columns:
            values = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
            if np.any(~np.isfinite(values)):
                raise DataError(f"column {c!r} of the nonlinear formula {self.formula.formula!r} must be numeric "
                                "and finite")
            columns[c] = values
        groups = {}
        for p in self.items:
            groups[p.name] = []
            for t in p.terms:
                if newdata is None:
                    groups[p.name].append((t.codes, t.z))
                    continue
                from ..design import encode_term

                codes, z = encode_term(t, newdata, allow_new_levels=True)
                if np.any(codes < 0):
                    raise DataError(f"newdata has levels of {t.group_name!r} the fit did not see; predictions for new "
                                    f"levels of the formula '{p.name} ~ {p.rhs}' are not available yet")
                groups[p.name].append((codes, z))
        return {"X": {p.name: p.matrix(newdata) for p in self.items}, "columns": columns, "groups": groups}

    def apply(self, values: dict, eta, inputs: dict, xp):
        """(mu, per-row distributional parameters) from one draw (JAX) or a block of draws (numpy:
        values (draws, ...), eta (draws, rows)): mu is ``eta`` plus the nonlinear expression."""
        etas = {}
        for p in self.items:
            x = inputs["X"][p.name]
            value = 0.0
            if p.intercept:
                value = values[p.intercept_block][..., None] if xp is np else values[p.intercept_block]
            if p.coef_names:
                b = values[p.b_block]
                value = value + (b @ x.T if xp is np else x @ b)
            for k, (codes, z) in enumerate(inputs["groups"][p.name]):
                r = self.group_effects(p, k, values, xp)  # (levels, q), numpy: (draws, levels, q)
                if xp is np:
                    value = value + np.einsum("dnq,nq->dn", r[:, codes], z)
                else:
                    value = value + xp.sum(z * r[codes], axis=1)
            if xp is np:
                value = value + np.zeros(eta.shape)
            etas[p.name] = value
        if self.expression is not None:
            from ..rethinking.logdensity import evaluate

            env = dict(inputs["columns"])
            env.update({p.name: etas[p.name] for p in self.items if p.kind == "nlpar"})
            mu = evaluate(self.expression, env)
            eta = eta + (np.asarray(mu) if xp is np else mu)
        extra = {p.name: inverse_link(p.link, etas[p.name], xp) for p in self.items if p.kind == "dpar"}
        return eta, extra

    @staticmethod
    def group_effects(p: Predictor, k: int, values: dict, xp):
        """r = (diag(sd) L u)' of term k of predictor p: (levels, q), or (draws, levels, q) in numpy."""
        sd, u = values[f"sd_{p.name}_{k}"], values[f"u_{p.name}_{k}"]
        if f"L_{p.name}_{k}" in values:
            scale = sd[..., :, None] * values[f"L_{p.name}_{k}"]
            return xp.swapaxes(scale @ u, -1, -2)
        return xp.swapaxes(sd[..., :, None] * u, -1, -2)

    def level_effects(self, samples: dict):
        """Per group-level term of the extra formulas: (group, brms's column names such as
        ``a_Intercept``, levels, r as (chains * draws, levels, q)), from the sampled sd, L and u."""
        out = []
        for p in self.items:
            for k, t in enumerate(p.terms):
                blocks = [f"{kind}_{p.name}_{k}" for kind in ("sd", "u", "L")]
                values = {n: samples[n].reshape(-1, *samples[n].shape[2:]) for n in blocks if n in samples}
                r = self.group_effects(p, k, values, np)
                out.append((t.group_name, [f"{p.name}_{c}" for c in p.term_columns(k)], list(t.levels), r))
        return out

    def group_draws(self, samples: dict) -> dict:
        """brms-named sds and correlations: ``sd_id__a_Intercept``, ``cor_id__a_Intercept__a_x``."""
        out = {}
        for p in self.items:
            for k, t in enumerate(p.terms):
                columns = p.term_columns(k)
                sd = samples[f"sd_{p.name}_{k}"]
                for i, c in enumerate(columns):
                    out[f"sd_{t.group_name}__{p.name}_{c}"] = sd[..., i]
                if len(columns) > 1:
                    chol = samples[f"L_{p.name}_{k}"]
                    corr = chol @ np.swapaxes(chol, -1, -2)
                    for i in range(len(columns)):
                        for j in range(i + 1, len(columns)):
                            out[f"cor_{t.group_name}__{p.name}_{columns[i]}__{p.name}_{columns[j]}"] = corr[..., i, j]
        return out

    def draws(self, samples: dict) -> tuple[dict, dict]:
        """brms-named draws: (intercepts, coefficients), e.g. ``b_sigma_Intercept`` (uncentered) and
        ``b_sigma_gb``, ``b_a_id.f6``."""
        intercepts, coefs = {}, {}
        for p in self.items:
            if p.intercept:
                value = samples[p.intercept_block]
                if p.coef_names:
                    value = value - np.tensordot(samples[p.b_block], p.x_means, axes=([-1], [0]))
                intercepts[f"b_{p.name}_Intercept"] = value
            for i, c in enumerate(p.coef_names):
                coefs[f"b_{p.name}_{c}"] = samples[p.b_block][..., i]
        return intercepts, coefs

    def targets(self) -> dict:
        """(name, class) -> (coef, group) a prior can address ("" the class-wide row)."""
        out = {}
        for p in self.items:
            out[p.name, "b"] = [("", "")] + [(c, "") for c in p.coef_names]
            if p.intercept:
                out[p.name, "Intercept"] = [("", "")]
            if p.terms:
                out[p.name, "sd"] = [("", "")]
                for k, t in enumerate(p.terms):
                    out[p.name, "sd"] += [("", t.group_name)] + [(c, t.group_name) for c in p.term_columns(k)]
                if any(len(t.column_names) > 1 for t in p.terms):
                    out[p.name, "cor"] = [("", "")] + [("", t.group_name) for t in p.terms
                                                       if len(t.column_names) > 1]
        return out


def inverse_link(link: str, eta, xp):
    if link == "log":
        return xp.exp(eta)
    if link == "logm1":  # brms's nu: 1 + exp(eta)
        return 1.0 + xp.exp(eta)
    if link == "logit":
        return 1.0 / (1.0 + xp.exp(-eta))
    return eta


def model_rows(formula: BrmsFormula, data: pd.DataFrame, na_action: str) -> pd.DataFrame:
    """The rows every formula can use: rows missing any variable of any formula are dropped first
    (brms drops them for the whole model), so each part's design has the same rows."""
    from ..formula import parse_formula

    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    variables = set(parse_formula(main_formula(formula)).variables)
    for name, rhs in formula.parts.items():
        variables |= set(parse_formula(f"{formula.response} ~ {rhs}").variables)
    variables |= expression_columns(formula, set(data.columns))
    used = [v for v in variables if v in data.columns]
    if na_action == "omit":
        data = data.loc[data[used].notna().all(axis=1)]
    return data.reset_index(drop=True)


def main_formula(formula: BrmsFormula) -> str:
    """The main design's formula: the formula itself, or for nonlinear models the response alone
    (mu comes from the expression)."""
    return f"{formula.response} ~ 0" if formula.nl else formula.formula


def expression_columns(formula: BrmsFormula, data_columns: set) -> set:
    from ..rethinking.parse import names_in, parse_expression

    if not formula.nl:
        return set()
    return {n for n in names_in(parse_expression(formula.rhs)) if n not in formula.parts and n in data_columns}


def _check_expression(formula: BrmsFormula, data: pd.DataFrame):
    from ..rethinking.logdensity import _functions
    from ..rethinking.parse import BinOp, Call, Index, Neg, names_in, parse_expression

    tree = parse_expression(formula.rhs)

    def walk(node):
        if isinstance(node, Call):
            if node.func not in _functions() or node.func in ("softmax", "cumulative_sum", "sum", "mean"):
                raise FormulaError(f"the nonlinear formula {formula.formula!r} calls {node.func}(), which is not "
                                   "available; use exp, log, inv_logit, logit, sqrt, abs, log1p, expm1, inv, "
                                   "square or pow")
            for a in node.args:
                walk(a)
        elif isinstance(node, Index):
            raise FormulaError(f"the nonlinear formula {formula.formula!r} indexes a name with [...]; "
                               "use a nonlinear parameter with a formula instead")
        elif isinstance(node, BinOp):
            if node.op == "%*%":
                raise FormulaError(f"the nonlinear formula {formula.formula!r}: %*% is not available")
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Neg):
            walk(node.operand)

    walk(tree)
    names = names_in(tree)
    unknown = sorted(n for n in names if n not in formula.parts and n not in data.columns)
    if unknown:
        raise FormulaError(f"the nonlinear formula {formula.formula!r} names {', '.join(map(repr, unknown))}: "
                           "neither a nonlinear parameter with its own formula (e.g. "
                           f"bf(..., '{unknown[0]} ~ 1', nl=True)) nor a column of the data")
    unused = [n for n in formula.parts if n not in names and n not in DPAR_LINKS]
    if unused:
        raise FormulaError(f"the nonlinear parameter(s) {', '.join(map(repr, unused))} have a formula but "
                           f"do not appear in {formula.formula!r}")
    clash = sorted(n for n in names if n in formula.parts and n in data.columns and n not in DPAR_LINKS)
    if clash:
        warnings.warn(f"{', '.join(clash)}: both a nonlinear parameter and a data column; the parameter is used",
                      stacklevel=4)
    return tree


def build_predictors(formula: BrmsFormula, data: pd.DataFrame, design, likelihood, user_priors) -> Predictors:
    """The extra predictors of a bf() model on the rows of ``data`` (those of :func:`model_rows`),
    checked against the family, with their priors resolved."""
    expression = _check_expression(formula, data) if formula.nl else None
    from .model import default_priors

    sd_default = default_priors(design, likelihood)["sd"]  # brms's sd prior of nonlinear parameters: the response's
    items = []
    for name, rhs in formula.parts.items():
        is_dpar = name in DPAR_LINKS and (not formula.nl or name in likelihood.parameters)
        if name in DPAR_LINKS and name not in likelihood.parameters:
            raise FormulaError(f"the {likelihood.name} family has no parameter {name!r} for the formula "
                               f"'{name} ~ {rhs}'; its distributional parameters: "
                               f"{', '.join(likelihood.parameters) or 'none'}")
        items.append(build_predictor(name, rhs, formula.response, data, "dpar" if is_dpar else "nlpar",
                                     DPAR_LINKS[name] if is_dpar else "identity",
                                     "student_t(3, 0, 2.5)" if is_dpar else sd_default))
    if expression is not None:
        from ..rethinking.parse import names_in

        used = sorted(names_in(expression) & {x.name for x in items if x.kind == "dpar"})
        if used:
            raise FormulaError(f"the nonlinear formula {formula.formula!r} names the distributional parameter(s) "
                               f"{', '.join(map(repr, used))}; name nonlinear parameters otherwise")
    preds = Predictors(formula, tuple(items), expression,
                       tuple(sorted(expression_columns(formula, set(data.columns)) if formula.nl else ())), data)
    preds.priors = resolve_predictor_priors(preds, user_priors)
    return preds


def build_predictor(name: str, rhs: str, response: str, data: pd.DataFrame, kind: str, link: str,
                    sd_default: str) -> Predictor:
    """One further formula ``name ~ rhs`` on the model's rows: its own design (a distributional
    parameter's intercept centered, as brms's ``Intercept_<name>``)."""
    from ..design import build_design
    from ..formula import parse_formula
    from .fit import refuse_structured
    from .model import _brms_coef

    parsed = refuse_structured(parse_formula(f"{response} ~ {rhs}"))
    if parsed.offsets:
        raise FormulaError(f"offset() in the formula '{name} ~ {rhs}' is not available yet")
    part = build_design(parsed, data, na_action="omit", observation_level_ok=True)
    if part.nobs != len(data):
        raise DataError(f"the formula '{name} ~ {rhs}' uses {part.nobs} of the model's {len(data)} rows")
    names = list(part.fixed.column_names)
    centered = kind == "dpar" and "(Intercept)" in names
    columns = tuple(i for i, n in enumerate(names) if not (centered and n == "(Intercept)"))
    x = part.fixed.matrix[:, list(columns)]
    means = x.mean(axis=0) if centered and columns else np.zeros(len(columns))
    return Predictor(name, kind, rhs, part, columns, tuple(_brms_coef(names[i]) for i in columns), centered, means,
                     link, sd_default)


def resolve_predictor_priors(preds: Predictors, user_priors) -> dict:
    targets = preds.targets()
    names = [p.name for p in preds.items]
    for p in user_priors:
        target = p.nlpar or p.dpar
        where = f"nlpar={p.nlpar!r}" if p.nlpar else f"dpar={p.dpar!r}"
        if target not in names:
            raise PriorError(f"prior {p.text or '(flat)'!r} for {where}: the model has no formula for {target!r}; "
                             f"its parameters with formulas: {', '.join(names) or 'none'}")
        kind = next(x.kind for x in preds.items if x.name == target)
        if (kind == "nlpar" and p.dpar) or (kind == "dpar" and p.nlpar):
            raise PriorError(f"{target!r} is a {'nonlinear' if kind == 'nlpar' else 'distributional'} parameter: "
                             f"write {'nlpar' if kind == 'nlpar' else 'dpar'}={target!r}")
        if (target, p.class_) not in targets:
            raise PriorError(f"no parameters of class {p.class_!r} for {where}; classes: "
                             f"{', '.join(c for n, c in targets if n == target)}")
        if (p.coef, p.group) not in targets[target, p.class_]:
            valid = sorted({c for c, _ in targets[target, p.class_] if c}
                           | {f"group={g}" for _, g in targets[target, p.class_] if g})
            raise PriorError(f"no {p.class_!r} parameter with coef={p.coef!r} group={p.group!r} for {where}; "
                             f"valid: {', '.join(valid) or '(class-wide only)'}")
        if p.text:
            check_prior_fits_class(p.text, *parse_prior_text(p.text), p.class_)
    resolved = {}
    for x in preds.items:
        tag = {"nlpar": x.name} if x.kind == "nlpar" else {"dpar": x.name}
        if x.intercept:
            resolved[x.name, "Intercept", "", ""] = _pick(user_priors, x.name, "Intercept", "") or Prior(
                DPAR_INTERCEPT_PRIOR.get(x.name, "student_t(3, 0, 2.5)"), "Intercept", source="default", **tag)
        for c in x.coef_names:
            resolved[x.name, "b", c, ""] = _pick(user_priors, x.name, "b", c) or Prior(
                "", "b", c, source="default", **tag)
        for k, t in enumerate(x.terms):
            for c in x.term_columns(k):
                resolved[x.name, "sd", c, t.group_name] = _pick(user_priors, x.name, "sd", c, t.group_name) or Prior(
                    x.sd_default, "sd", c, t.group_name, source="default", **tag)
            if len(t.column_names) > 1:
                resolved[x.name, "cor", "", t.group_name] = _pick(user_priors, x.name, "cor", "", t.group_name) or \
                    Prior("lkj_corr_cholesky(1)", "cor", "", t.group_name, source="default", **tag)
        if x.kind == "nlpar" and x.coef_names and not any(resolved[x.name, "b", c, ""].text for c in x.coef_names):
            warnings.warn(f"the coefficients of the nonlinear parameter {x.name!r} have flat priors; brms "
                          f"advises proper ones, e.g. ml.prior('normal(0, 5)', class_='b', nlpar='{x.name}')",
                          stacklevel=5)
    return resolved


def _pick(user_priors, name: str, class_: str, coef: str, group: str = ""):
    matching = [p for p in user_priors if (p.nlpar or p.dpar) == name and p.class_ == class_ and p.coef in ("", coef)
                and p.group in ("", group)]
    return max(matching, key=lambda p: p.specificity()) if matching else None


def split_priors(priors) -> tuple[list, list]:
    """(main priors, priors with nlpar= or dpar=)."""
    main = [p for p in priors if not (isinstance(p, Prior) and (p.nlpar or p.dpar))]
    return main, [p for p in priors if isinstance(p, Prior) and (p.nlpar or p.dpar)]


def prior_rows(preds: Predictors, user_priors) -> list[dict]:
    """brms's prior_summary rows of the extra predictors (class b / Intercept with dpar or nlpar)."""
    rows = []
    targets = preds.targets()
    defaults = {"Intercept": lambda x: preds.priors[x.name, "Intercept", "", ""].text, "b": lambda x: "",
                "sd": lambda x: x.sd_default, "cor": lambda x: "lkj_corr_cholesky(1)"}
    for x in preds.items:
        for class_ in ("b", "Intercept", "sd", "cor"):
            if (x.name, class_) not in targets or (class_ == "b" and not x.coef_names):
                continue
            for coef, group in sorted(targets[x.name, class_], key=lambda cg: (cg[1] != "", cg[1], cg[0] != "", cg[0])):
                exact = [p for p in user_priors if (p.nlpar or p.dpar) == x.name and p.class_ == class_
                         and p.coef == coef and p.group == group]
                chosen = _pick(user_priors, x.name, class_, coef, group)
                if exact:
                    text, source = exact[-1].text, "user"
                elif chosen is not None:
                    text, source = chosen.text, "(vectorized)"
                else:
                    text, source = defaults[class_](x), "default" if coef == "" and group == "" else "(vectorized)"
                rows.append({"prior": text or "(flat)", "class": "L" if class_ == "cor" else class_, "coef": coef,
                             "group": group, "resp": "",
                             "dpar": x.name if x.kind == "dpar" else "",
                             "nlpar": x.name if x.kind == "nlpar" else "", "lb": "0" if class_ == "sd" else "",
                             "ub": "", "source": source})
    return rows
