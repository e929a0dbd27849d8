"""The equations of a formula model in three dialects, from a :class:`~.structure.ModelStructure`.

- ``"rethinking"``: McElreath's line-by-line form: the likelihood, the linear model with indexed
  parameters (``alpha_{Subject[i]}``), the varying effects' (multivariate) normal.
- ``"levels"``: the Level 1 / Level 2 form of the multilevel literature (Raudenbush and Bryk; Snijders
  and Bosker): ``y_ij = beta_0j + beta_1j x_ij + e_ij``, ``beta_0j = gamma_00 + gamma_01 W_j + U_0j``,
  with predictors that are constant within groups placed at level 2 and their interactions with
  level-1 predictors as cross-level effects. Two or more grouping factors: nested intercepts as a
  three-level model; otherwise one equation with each factor's index (cross-classified models).
- ``"matrix"``: ``y = X beta + Z b + e`` with the dimensions.

``numbers=True`` puts the estimates in place of the parameters.
"""
from __future__ import annotations

from .latex import column_vector, matrix, name, number
from .structure import GroupTerm, ModelStructure

DISTRIBUTIONS = {"gaussian": ("Normal", r"\mu"), "binomial": ("Binomial", "p"), "bernoulli": ("Bernoulli", "p"),
                 "poisson": ("Poisson", r"\lambda"), "negative.binomial": ("NegBinomial", r"\lambda"),
                 "negbinomial": ("NegBinomial", r"\lambda"), "Gamma": ("Gamma", r"\mu"), "gamma": ("Gamma", r"\mu"),
                 "lognormal": ("LogNormal", r"\mu"), "student": ("StudentT", r"\mu"),
                 "inverse.gaussian": ("InvGaussian", r"\mu"), "beta": ("Beta", r"\mu"),
                 "zero_inflated_poisson": ("ZIPoisson", r"\lambda"),
                 "zero_inflated_negbinomial": ("ZINegBinomial", r"\lambda"),
                 "hurdle_poisson": ("HurdlePoisson", r"\lambda"), "hurdle_negbinomial": ("HurdleNegBinomial", r"\lambda"),
                 "hurdle_lognormal": ("HurdleLogNormal", r"\mu"), "weibull": ("Weibull", r"\mu"),
                 "exponential": ("Exponential", r"\mu"), "skew_normal": ("SkewNormal", r"\mu"),
                 "shifted_lognormal": ("ShiftedLogNormal", r"\mu"), "exgaussian": ("ExGaussian", r"\mu")}
LINKS = {"identity": "{}", "logit": r"\operatorname{{logit}}({})", "log": r"\log({})", "probit": r"\Phi^{{-1}}({})",
         "cloglog": r"\operatorname{{cloglog}}({})", "inverse": "1/{}", "sqrt": r"\sqrt{{{}}}",
         "logm1": r"\log({} - 1)", "1/mu^2": "1/{}^2", "cauchit": r"\tan(\pi ({} - 1/2))"}
ORDINAL = {"cumulative": "Ordered", "sratio": "SRatio", "acat": "ACat"}  # + the link: OrderedLogit, as rethinking
PARAMETER_SYMBOLS = {"sigma": r"\sigma", "nu": r"\nu", "phi": r"\phi"}  # the others by their brms name


def parameter_symbol(parameter: str) -> str:
    """A family parameter's symbol: sigma, nu and phi as Greek letters, the others (shape, zi, hu, ndt,
    beta, alpha) by brms's names, so that they do not clash with the coefficients' alpha and beta."""
    return PARAMETER_SYMBOLS.get(parameter, name(parameter))


GAMMA_000, TAU_PI, TAU_BETA = r"\gamma_{000}", r"\tau_{\pi}", r"\tau_{\beta}"


class Parameters:
    """Symbols of the parameters, or their estimates when ``numbers``."""

    def __init__(self, structure: ModelStructure, numbers: bool):
        self.estimates = structure.estimates if numbers else None

    @property
    def sigma(self) -> str:
        return self.value("sigma", None, r"\sigma")

    def value(self, kind: str, key, symbol: str) -> str:
        if self.estimates is None:
            return symbol
        table = self.estimates.get(kind)
        value = table if kind == "sigma" else (table or {}).get(key)
        return symbol if value is None else number(value)


def plus(pieces: list[str]) -> str:
    """Terms joined by ``+``, a negative number written as a subtraction (``a - 0.99 x``, not ``a + -0.99 x``)."""
    out = ""
    for piece in pieces:
        if not out:
            out = piece
        elif piece.startswith("-"):
            out += f" - {piece[1:]}"
        else:
            out += f" + {piece}"
    return out or "0"


def _data(column: str, index: str) -> str:
    """A predictor at observation ``index``: ``\\text{Days}_{i}``; interactions as products."""
    return r" \times ".join(rf"{name(piece)}_{{{index}}}" for piece in column.split(":"))


def _offset(text: str, index: str) -> str:
    for prefix in ("np.log(", "log("):
        if text.startswith(prefix) and text.endswith(")"):
            return rf"\log({name(text[len(prefix):-1])}_{{{index}}})"
    return rf"{name(text)}_{{{index}}}"


def _likelihood(s: ModelStructure, index: str, p: Parameters) -> tuple[str, str]:
    y = rf"{name(s.response)}_{{{index}}}"
    if s.thresholds:  # the linear predictor phi against the thresholds kappa (rethinking's OrderedLogit)
        distribution = ORDINAL.get(s.family, "Ordered") + {"logit": "Logit", "probit": "Probit", "cloglog": "Cloglog",
                                                            "cauchit": "Cauchit"}.get(s.link, s.link.capitalize())
        return y, rf"\sim \operatorname{{{distribution}}}(\phi_{{{index}}}, \kappa)"
    distribution, mean = DISTRIBUTIONS.get(s.family, (escape_group(s.family), r"\mu"))
    if s.family == "binomial":
        trials = rf"{name(s.trials)}_{{{index}}}" if s.trials else "n"
        return y, rf"\sim \operatorname{{{distribution}}}({trials}, {mean}_{{{index}}})"
    parameters = s.family_params or (("sigma",) if s.family == "gaussian" else ())
    args = [rf"{mean}_{{{index}}}"] + [_family_parameter(q, s, index, p) for q in parameters]
    return y, rf"\sim \operatorname{{{distribution}}}({', '.join(args)})"


def _family_parameter(q: str, s: ModelStructure, index: str, p: Parameters) -> str:
    if any(m.name == q and m.kind == "dpar" for m in s.submodels):  # predicted per observation
        return rf"{parameter_symbol(q)}_{{{index}}}"
    if q == "sigma":
        return p.sigma
    return p.value("family", q, parameter_symbol(q))


def _link_left(s: ModelStructure, index: str) -> str:
    if s.thresholds:
        return rf"\phi_{{{index}}}"
    mean = DISTRIBUTIONS.get(s.family, (s.family, r"\mu"))[1]
    return LINKS.get(s.link, r"g({})").format(f"{mean}_{{{index}}}")


def submodel_lines(s: ModelStructure, index: str, p: Parameters) -> list[tuple[str, str]]:
    """The lines of bf()'s further formulas: each distributional parameter's regression on its link
    scale (``log(sigma_i) = beta^sigma_0 + ...``), each nonlinear parameter's (``a_i = beta^a_{id[i]}``),
    and their group effects around 0."""
    lines = []
    for m in s.submodels:
        symbol = parameter_symbol(m.name) if m.kind == "dpar" else name(m.name)
        left = LINKS.get(m.link, r"g({})").format(f"{symbol}_{{{index}}}")
        pieces = _submodel_fixed(m, symbol, index)
        for term in m.terms:
            owner = symbol if len(m.terms) == 1 else f"{symbol}, {name(term.group)}"
            for column in term.columns:
                effect = rf"u^{{{owner}}}_{{{_column_label(column)}{name(term.group)}[{index}]}}"
                pieces.append(effect if column == "(Intercept)" else rf"{effect} {_data(column, index)}")
        lines.append((left, "= " + plus(pieces)))
        for term in m.terms:
            lines += _rethinking_varying(term, p, set(), single=False,
                                         owner=symbol if len(m.terms) == 1 else f"{symbol}, {name(term.group)}")
    return lines


def _submodel_fixed(m, symbol: str, index: str) -> list[str]:
    """A sub-model's coefficients: one indexed coefficient for a factor's dummy columns without an
    intercept (``a ~ 0 + id``: ``beta^a_{id[i]}``), else a coefficient per column."""
    coefficients = [c for c in m.fixed if c != "Intercept"]
    if "Intercept" not in m.fixed and len(m.variables) == 1 and len(coefficients) > 2 and \
            all(c.startswith(m.variables[0]) for c in coefficients):
        return [rf"\beta^{{{symbol}}}_{{{name(m.variables[0])}[{index}]}}"]
    pieces = [rf"\beta^{{{symbol}}}_{{0}}"] if "Intercept" in m.fixed else []
    return pieces + [rf"\beta^{{{symbol}}}_{{{name(c)}}} {_data(c, index)}" for c in coefficients]


def nonlinear_expression(s: ModelStructure, index: str) -> str:
    """The nonlinear formula's right side as LaTeX: its parameters and data columns indexed by
    observation, functions upright, ``*`` as a dot. Tokenized, each name escaped: never evaluated."""
    import re

    out = []
    for literal, word, other in re.findall(r"(\d+\.?\d*(?:[eE][-+]?\d+)?)|([A-Za-z_.][A-Za-z0-9_.]*)|(\S)",
                                           s.expression or ""):
        if literal:
            out.append(literal)
        elif word:  # a function, else a parameter or a data column: both per observation
            out.append(rf"\operatorname{{{escape_group(word)}}}" if word in _FUNCTIONS else rf"{name(word)}_{{{index}}}")
        else:
            out.append({"*": r" \cdot ", "(": "(", ")": ")", "^": "^"}.get(other, f" {escape_group(other)} "))
    return "".join(out).strip()


_FUNCTIONS = {"exp", "log", "inv_logit", "logit", "sqrt", "inv", "log1p", "expm1", "Phi", "sin", "cos", "tanh"}


# ---- rethinking ------------------------------------------------------------------------------------
def _greek(column: str) -> str:
    return r"\alpha" if column == "(Intercept)" else rf"\beta_{{{name(column)}}}"


def _times(coefficient: str, column: str) -> str:
    """A coefficient times its column at observation i (the intercept stands alone)."""
    return coefficient if column == "(Intercept)" else rf"{coefficient} {_data(column, 'i')}"


def _indexed(column: str, group: str) -> str:
    """A coefficient varying by ``group``: ``alpha_{Subject[i]}``, ``beta_{Days, Subject[i]}``."""
    if column == "(Intercept)":
        return rf"\alpha_{{{name(group)}[i]}}"
    return rf"\beta_{{{name(column)}, {name(group)}[i]}}"


def rethinking(s: ModelStructure, numbers: bool = False) -> list[tuple[str, str]]:
    p = Parameters(s, numbers)
    lines = [_likelihood(s, "i", p)]
    single = len(s.terms) == 1
    varying = set(s.terms[0].columns) if single else set()
    pieces = [_times(_indexed(column, s.terms[0].group) if column in varying
                     else p.value("beta", column, _greek(column)), column) for column in s.fixed]
    if single:  # varying columns without a fixed effect (0 + f | g): they vary around 0
        pieces += [_times(_indexed(column, s.terms[0].group), column)
                   for column in s.terms[0].columns if column not in s.fixed]
    else:
        for term in s.terms:
            for column in term.columns:
                pieces.append(_times(rf"u^{{{name(term.group)}}}_{{{_column_label(column)}{name(term.group)}[i]}}",
                                     column))
    pieces += [_offset(o, "i") for o in s.offsets]
    lines.append((_link_left(s, "i"), "= " + (nonlinear_expression(s, "i") if s.expression else plus(pieces))))
    for term in s.terms:
        lines += _rethinking_varying(term, p, set(s.fixed), single)
    return lines + submodel_lines(s, "i", p)


def _column_label(column: str) -> str:
    return "" if column == "(Intercept)" else f"{name(column)}, "


def _column_comma(column: str) -> str:
    return "" if column == "(Intercept)" else f", {name(column)}"


def varying_symbols(term: GroupTerm, fixed, single: bool, owner: str | None = None):
    """The rethinking dialect's symbols of one grouping factor's effects, shared by the equations and the
    diagrams: (effects, their means, their scales, S, R). With one grouping factor ``alpha_j``,
    ``beta_{x,j}`` around ``alpha-bar``, ``beta-bar_x`` (None: a column without a fixed effect varies
    around 0) with ``sigma_alpha``, ``sigma_x``; with several ``u^{g}_j`` around 0 with ``sigma_g``; a
    bf() sub-model's (``owner``) ``u^{sigma}_j`` with ``sigma^{sigma}_g``. homdiag and ar1 share one scale."""
    j, g = term.index, name(term.group)
    if single:
        effects = [rf"\alpha_{{{j}}}" if c == "(Intercept)" else rf"\beta_{{{name(c)}, {j}}}" for c in term.columns]
        means = [(r"\bar{\alpha}" if c == "(Intercept)" else rf"\bar{{\beta}}_{{{name(c)}}}") if c in fixed else None
                 for c in term.columns]
        scales = [r"\sigma_{\alpha}" if c == "(Intercept)" else rf"\sigma_{{{name(c)}}}" for c in term.columns]
        s_matrix, r_matrix = r"\mathbf{S}", r"\mathbf{R}"
    else:
        top = g if owner is None else owner
        effects = [rf"u^{{{top}}}_{{{_column_label(c)}{j}}}" for c in term.columns]
        means = [None] * len(term.columns)
        scales = [rf"\sigma_{{{g}{_column_comma(c)}}}" if owner is None else
                  rf"\sigma^{{{owner}}}_{{{g}{_column_comma(c)}}}" for c in term.columns]
        s_matrix = rf"\mathbf{{S}}_{{{g}}}" if owner is None else rf"\mathbf{{S}}^{{{owner}}}_{{{g}}}"
        r_matrix = rf"\mathbf{{R}}_{{{g}}}" if owner is None else rf"\mathbf{{R}}^{{{owner}}}_{{{g}}}"
    if term.structure in ("homdiag", "ar1") and len(term.columns) > 1:  # one variance shared by all the columns
        scales = [rf"\sigma_{{{g}}}"] * len(term.columns)
    return effects, means, scales, s_matrix, r_matrix


def _rethinking_varying(term: GroupTerm, p: Parameters, fixed: set, single: bool,
                        owner: str | None = None) -> list[tuple[str, str]]:
    """The varying effects' distribution (symbols from :func:`varying_symbols`); correlated effects as one
    MVNormal with ``S = diag(sigma) R diag(sigma)``; estimates in place of symbols when asked."""
    symbols, mean_symbols, scales, s_matrix, r_matrix = varying_symbols(term, fixed, single, owner)
    means = ["0" if m is None else p.value("beta", c, m) for c, m in zip(term.columns, mean_symbols)]
    sds = scales if owner is not None else [p.value("sd", (term.group, c), scale)
                                            for c, scale in zip(term.columns, scales)]
    if term.structure in ("homdiag", "ar1") and len(term.columns) > 1 and owner is None:
        sds = [p.value("sd", (term.group, term.columns[0]), scales[0])] * len(term.columns)
    if len(term.columns) == 1 or not term.correlated:
        return [(symbol, rf"\sim \operatorname{{Normal}}({mean}, {sd})") for symbol, mean, sd in zip(symbols, means, sds)]
    k = len(term.columns)
    mean = column_vector(means) if single else r"\mathbf{0}"
    lines = [(column_vector(symbols), rf"\sim \operatorname{{MVNormal}}\left({mean}, {s_matrix}\right)")]
    diagonal = matrix([[sds[a] if a == b else "0" for b in range(k)] for a in range(k)])
    lines.append((s_matrix, rf"= {diagonal} {r_matrix} {diagonal}"))
    if p.estimates is not None and owner is None:
        rows = [["1" if a == b else p.value("cor", (term.group, term.columns[min(a, b)], term.columns[max(a, b)]), "")
                 for b in range(k)] for a in range(k)]
        lines.append((r_matrix, f"= {matrix(rows)}"))
    elif term.structure in ("ar1", "cs"):  # the structure the correlations follow
        lines.append((rf"{r_matrix}_{{kl}}" if not single else r"R_{kl}",
                      r"= \rho^{|k - l|}" if term.structure == "ar1" else r"= \rho \quad (k \neq l)"))
    return lines


# ---- levels ----------------------------------------------------------------------------------------
def levels(s: ModelStructure, numbers: bool = False) -> list[tuple[str, str]]:
    if s.expression or not s.terms:  # nonlinear (or no grouping factor): line by line, as the rethinking dialect
        return rethinking(s, numbers)
    p = Parameters(s, numbers)
    if len(s.terms) == 1:
        lines = _two_levels(s, s.terms[0], p)
    elif _three_level(s):
        lines = _three_levels(s, p)
    else:
        lines = _cross_classified(s, p)
    return lines + submodel_lines(s, "i" if len(s.terms) != 1 else f"i{s.terms[0].index}", p)


def _slopes(s: ModelStructure, term: GroupTerm) -> dict[str, int]:
    """The level-1 columns and their k in beta_kj (k = 0 for the intercept)."""
    level1 = ["(Intercept)"] if "(Intercept)" in s.fixed or "(Intercept)" in term.columns else []
    level1 += [c for c in s.fixed if c != "(Intercept)" and ((":" not in c and not s.level2.get(c))
               or (":" in c and _cross_level(c, s) is None))]
    level1 += [c for c in term.columns if c not in level1]
    return {c: k for k, c in enumerate(level1)}


def level_symbols(s: ModelStructure) -> dict:
    """The levels dialect's symbols of one grouping factor's model: ("b", column) -> its gamma,
    ("sd", column) -> the sd of its U (what a prior on it is written on)."""
    term = s.terms[0]
    slopes = _slopes(s, term)
    out = {}
    for column, k in slopes.items():
        if column in s.fixed:
            out["b", column] = rf"\gamma_{{{k}0}}"
        w = 1
        for other in s.fixed:
            if _level2_partner(other, column, s) is not None:
                out["b", other] = rf"\gamma_{{{k}{w}}}"
                w += 1
    for column in term.columns:
        k = slopes[column]
        out["sd", column] = rf"\tau_{{{k}}}" if len(term.columns) == 1 else rf"\sqrt{{\tau_{{{k}{k}}}}}"
    return out


def _three_level(s: ModelStructure) -> bool:
    """Nested intercepts only (``y ~ 1 + (1 | a/b)``, gaussian): written as a three-level model."""
    return len(s.terms) == 2 and all(t.columns == ("(Intercept)",) for t in s.terms) and \
        any(t.nested_in for t in s.terms) and s.fixed == ("(Intercept)",) and s.family == "gaussian"


def level_symbols_many(s: ModelStructure) -> dict:
    """The levels dialect's symbols where the model has several grouping factors, as :func:`levels`
    writes them: nested intercepts (gamma_000, tau_pi, tau_beta) or cross-classified (gamma_k, one
    letter U, V, ... per factor with tau_{U0}); ("sd", group, column) and ("L", group) keys."""
    if _three_level(s):
        inner = next(t for t in s.terms if t.nested_in)
        outer = next(t for t in s.terms if t is not inner)
        return {("b", "(Intercept)"): GAMMA_000, ("sd", inner.group, "(Intercept)"): TAU_PI,
                ("sd", outer.group, "(Intercept)"): TAU_BETA}
    out = {("b", column): rf"\gamma_{{{k}}}" for k, column in enumerate(s.fixed)}
    letters = "UVWXYZ"
    for t, term in enumerate(s.terms):
        letter = letters[t % len(letters)]
        for c, column in enumerate(term.columns):
            out["sd", term.group, column] = rf"\tau_{{{letter}{c}}}" if not (term.correlated and len(term.columns) > 1) \
                else rf"\sqrt{{\tau_{{{letter}{c}{c}}}}}"
        out["L", term.group] = rf"\operatorname{{corr}}(\mathbf{{{letter}}}_{term.index})"
    return out


def _two_levels(s: ModelStructure, term: GroupTerm, p: Parameters) -> list[tuple[str, str]]:
    j = term.index
    sub = f"i{j}"
    slopes = _slopes(s, term)
    symbols = level_symbols(s)
    lines = []
    if s.family == "gaussian":
        rhs = " + ".join(rf"\beta_{{{k}{j}}}" + ("" if c == "(Intercept)" else f" {_data(c, sub)}")
                         for c, k in slopes.items())
        lines.append((rf"\text{{Level 1:}}\quad {name(s.response)}_{{{sub}}}", f"= {rhs} + e_{{{sub}}}"))
    else:
        y, dist = _likelihood(s, sub, p)
        lines.append((rf"\text{{Level 1:}}\quad {y}", dist))
        rhs = " + ".join(rf"\beta_{{{k}{j}}}" + ("" if c == "(Intercept)" else f" {_data(c, sub)}")
                         for c, k in slopes.items())
        lines.append((_link_left(s, sub), f"= {rhs}" + "".join(f" + {_offset(o, sub)}" for o in s.offsets)))
    for column, k in slopes.items():
        gammas = [p.value("beta", column, symbols["b", column])] if column in s.fixed else []
        for other in s.fixed:
            level2_name = _level2_partner(other, column, s)
            if level2_name is not None:
                gamma = p.value("beta", other, symbols["b", other])
                gammas.append(rf"{gamma} {name(level2_name)}_{{{j}}}")
        random = [rf"U_{{{k}{j}}}"] if column in term.columns else []
        label = r"\text{Level 2:}\quad " if k == 0 else ""
        lines.append((rf"{label}\beta_{{{k}{j}}}", "= " + plus(gammas + random)))
    if s.family == "gaussian":
        lines.append((rf"e_{{{sub}}}", rf"\sim \mathcal{{N}}(0, {_family_parameter('sigma', s, sub, p)}^2)"))
    random = [rf"U_{{{slopes[c]}{j}}}" for c in term.columns]
    if len(random) == 1:
        sd = p.value("sd", (term.group, term.columns[0]), symbols["sd", term.columns[0]])
        lines.append((random[0], rf"\sim \mathcal{{N}}(0, {sd}^2)"))
    else:
        taus = [[_tau(term, a, b, p, slopes) for b in range(len(random))] for a in range(len(random))]
        lines.append((column_vector(random), rf"\sim \mathcal{{N}}\left(\mathbf{{0}}, {matrix(taus)}\right)"))
    return lines


def _tau(term: GroupTerm, a: int, b: int, p: Parameters, slopes: dict) -> str:
    ka, kb = slopes[term.columns[a]], slopes[term.columns[b]]
    if a != b and not term.correlated:
        return "0"
    if p.estimates is None and term.structure == "homdiag":
        return r"\tau^2"
    if p.estimates is None and term.structure == "ar1":
        return r"\tau^2" if a == b else rf"\tau^2 \rho^{{{abs(a - b)}}}"
    if p.estimates is None and term.structure == "cs":
        return rf"\tau_{{{ka}}}^2" if a == b else rf"\rho\,\tau_{{{ka}}}\tau_{{{kb}}}"
    if p.estimates is None:
        return rf"\tau_{{{ka}{kb}}}" if a != b else rf"\tau_{{{ka}{ka}}}"
    sds = p.estimates["sd"]
    sa, sb = sds[(term.group, term.columns[a])], sds[(term.group, term.columns[b])]
    if a == b:
        return number(sa ** 2)
    first, second = sorted((a, b))
    rho = p.estimates["cor"].get((term.group, term.columns[first], term.columns[second]), 0.0)
    return number(rho * sa * sb)


def _level2_partner(column: str, slope: str, s: ModelStructure) -> str | None:
    """The level-2 predictor W of ``column`` in the equation of ``slope``: W itself for the intercept,
    W for a cross-level interaction ``slope:W`` (or ``W:slope``)."""
    if slope == "(Intercept)":
        return column if s.level2.get(column) else None
    pieces = column.split(":")
    if len(pieces) == 2 and slope in pieces:
        other = pieces[1] if pieces[0] == slope else pieces[0]
        return other if s.level2.get(other) else None
    return None


def _cross_level(column: str, s: ModelStructure) -> str | None:
    pieces = column.split(":")
    if len(pieces) != 2:
        return None
    first, second = pieces
    if s.level2.get(second) and not s.level2.get(first):
        return first
    if s.level2.get(first) and not s.level2.get(second):
        return second
    return None


def _three_levels(s: ModelStructure, p: Parameters) -> list[tuple[str, str]]:
    inner = next(t for t in s.terms if t.nested_in)
    outer = next(t for t in s.terms if t is not inner)
    j, k = inner.index, outer.index
    sub = f"i{j}{k}"
    return [
        (rf"\text{{Level 1:}}\quad {name(s.response)}_{{{sub}}}", rf"= \pi_{{0{j}{k}}} + e_{{{sub}}}"),
        (rf"\text{{Level 2 ({escape_group(inner.group)}):}}\quad \pi_{{0{j}{k}}}", rf"= \beta_{{00{k}}} + r_{{0{j}{k}}}"),
        (rf"\text{{Level 3 ({escape_group(outer.group)}):}}\quad \beta_{{00{k}}}",
         rf"= {p.value('beta', '(Intercept)', GAMMA_000)} + u_{{00{k}}}"),
        (rf"e_{{{sub}}}", rf"\sim \mathcal{{N}}(0, {_family_parameter('sigma', s, sub, p)}^2)"),
        (rf"r_{{0{j}{k}}}", rf"\sim \mathcal{{N}}(0, {p.value('sd', (inner.group, '(Intercept)'), TAU_PI)}^2)"),
        (rf"u_{{00{k}}}", rf"\sim \mathcal{{N}}(0, {p.value('sd', (outer.group, '(Intercept)'), TAU_BETA)}^2)"),
    ]


def escape_group(group: str) -> str:
    from .latex import escape

    return escape(group)


def _cross_classified(s: ModelStructure, p: Parameters) -> list[tuple[str, str]]:
    pieces = []
    for k, column in enumerate(s.fixed):
        gamma = p.value("beta", column, rf"\gamma_{{{k}}}")
        pieces.append(gamma if column == "(Intercept)" else rf"{gamma} {_data(column, 'i')}")
    letters = "UVWXYZ"
    lines_random = []
    for t, term in enumerate(s.terms):
        letter = letters[t % len(letters)]
        for c, column in enumerate(term.columns):
            u = rf"{letter}_{{{c}{name(term.group)}[i]}}"
            pieces.append(u if column == "(Intercept)" else rf"{u} {_data(column, 'i')}")
        lines_random += _crossed_random(term, letter, p)
    pieces += [_offset(o, "i") for o in s.offsets]
    if s.family == "gaussian":
        lines = [(rf"{name(s.response)}_{{i}}", "= " + plus(pieces + ["e_{i}"])),
                 (r"e_{i}", rf"\sim \mathcal{{N}}(0, {_family_parameter('sigma', s, 'i', p)}^2)")]
    else:
        lines = [_likelihood(s, "i", p), (_link_left(s, "i"), "= " + plus(pieces))]
    return lines + lines_random


def _crossed_random(term: GroupTerm, letter: str, p: Parameters) -> list[tuple[str, str]]:
    """One grouping factor's effects in a cross-classified model: ``U_{0j} ~ N(0, tau_{U0}^2)`` each, or,
    correlated, one normal of the vector with the covariances ``tau_{U01}``."""
    effects = [rf"{letter}_{{{c}{term.index}}}" for c in range(len(term.columns))]
    if not (term.correlated and len(term.columns) > 1):
        sds = [p.value("sd", (term.group, column), rf"\tau_{{{letter}{c}}}") for c, column in enumerate(term.columns)]
        return [(u, rf"\sim \mathcal{{N}}(0, {sd}^2)") for u, sd in zip(effects, sds)]
    k = len(term.columns)
    if p.estimates is None:
        cells = [[rf"\tau_{{{letter}{a}{b}}}" for b in range(k)] for a in range(k)]
    else:
        sds = [p.estimates["sd"][(term.group, c)] for c in term.columns]
        cells = [[number(sds[a] ** 2) if a == b else number(sds[a] * sds[b] * p.estimates["cor"].get(
            (term.group, term.columns[min(a, b)], term.columns[max(a, b)]), 0.0)) for b in range(k)] for a in range(k)]
    return [(column_vector(effects), rf"\sim \mathcal{{N}}\left(\mathbf{{0}}, {matrix(cells)}\right)")]


# ---- matrix ----------------------------------------------------------------------------------------
def matrix_form(s: ModelStructure, numbers: bool = False) -> list[tuple[str, str]]:
    p = Parameters(s, numbers)
    q = sum(t.n_levels * len(t.columns) for t in s.terms)
    if s.family == "gaussian":
        lines = [(r"\mathbf{y}", r"= \mathbf{X}\boldsymbol{\beta} + \mathbf{Z}\mathbf{b} + \boldsymbol{\varepsilon}"),
                 (r"\boldsymbol{\varepsilon}", rf"\sim \mathcal{{N}}(\mathbf{{0}}, {p.sigma}^2 \mathbf{{I}}_n)")]
    else:
        lines = [(r"y_i \mid \mathbf{b}", _likelihood(s, "i", p)[1]),
                 (_link_left(s, "i"), r"= \mathbf{x}_i^\top \boldsymbol{\beta} + \mathbf{z}_i^\top \mathbf{b}")]
    lines.append((r"\mathbf{b}", r"\sim \mathcal{N}(\mathbf{0}, \boldsymbol{\Sigma}_\theta)"))
    lines.append((r"\mathbf{X}", rf": n \times {len(s.fixed)}, \quad \mathbf{{Z}}: n \times {q}"))
    return lines + submodel_lines(s, "i", p)
