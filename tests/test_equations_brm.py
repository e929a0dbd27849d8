"""fit.math() and fit.diagram() for brm's further models (issue 15 over issue 13's families): the family's
other parameters in the likelihood, an ordinal model's thresholds, bf()'s distributional and nonlinear
formulas. The equations are checked on structures built by hand (no sampler) and, in the slow run, on
real fits with their priors and diagrams. Before this, such models were written as if they were plain
(a cumulative model with an intercept, sigma ~ x dropped, a nonlinear mu = 0): wrong without a word."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.equations.latex import Equations
from multilevel.equations.structure import GroupTerm, ModelStructure, SubModel
from multilevel.equations.styles import levels, rethinking


def _structure(**changes) -> ModelStructure:
    base = dict(response="y", family="gaussian", link="identity", trials=None, fixed=("(Intercept)", "x"),
                terms=(GroupTerm("g", "j", ("(Intercept)",), False, 10),), variables=("x",))
    base.update(changes)
    return ModelStructure(**base)


def _renders(lines) -> None:
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")
    for line in Equations(lines, "test").mathtext_lines():
        parser.parse(line, dpi=72)


def test_family_parameters_in_the_likelihood():
    s = _structure(family="zero_inflated_negbinomial", link="log", family_params=("shape", "zi"))
    lines = dict(rethinking(s))
    assert lines[r"\text{y}_{i}"] == r"\sim \operatorname{ZINegBinomial}(\lambda_{i}, \text{shape}, \text{zi})"
    assert lines[r"\log(\lambda_{i})"] == r"= \alpha_{\text{g}[i]} + \beta_{\text{x}} \text{x}_{i}"
    s = _structure(family="student", family_params=("sigma", "nu"))
    assert dict(rethinking(s))[r"\text{y}_{i}"] == r"\sim \operatorname{StudentT}(\mu_{i}, \sigma, \nu)"
    for family in ("hurdle_lognormal", "shifted_lognormal", "exgaussian", "skew_normal", "beta", "weibull"):
        lines = rethinking(_structure(family=family, link="log", family_params=("sigma",)))
        assert "_" not in lines[0][1].split("{")[1].split("}")[0]  # a name LaTeX can set, not zero_inflated...
        _renders(lines)


def test_ordinal_thresholds_take_the_intercepts_place():
    s = _structure(response="rating", family="cumulative", link="logit", fixed=("tempwarm",), thresholds=4,
                   terms=(GroupTerm("judge", "j", ("(Intercept)",), False, 9),), variables=("temp",))
    lines = rethinking(s)
    assert lines[0] == (r"\text{rating}_{i}", r"\sim \operatorname{OrderedLogit}(\phi_{i}, \kappa)")
    assert lines[1] == (r"\phi_{i}", r"= \beta_{\text{tempwarm}} \text{tempwarm}_{i} + \alpha_{\text{judge}[i]}")
    assert lines[2] == (r"\alpha_{j}", r"\sim \operatorname{Normal}(0, \sigma_{\alpha})")  # around 0: no intercept
    lines = dict(levels(s))
    assert lines[r"\text{Level 2:}\quad \beta_{0j}"] == "= U_{0j}" and r"\phi_{ij}" in lines
    probit = rethinking(_structure(family="sratio", link="probit", fixed=("x",), thresholds=3))
    assert probit[0][1] == r"\sim \operatorname{SRatioProbit}(\phi_{i}, \kappa)"


def test_distributional_formula_is_written():
    sigma = SubModel("sigma", "dpar", "log", ("Intercept", "x"), ("x",),
                     (GroupTerm("g", "j", ("(Intercept)",), False, 10),))
    s = _structure(family_params=("sigma",), submodels=(sigma,))
    lines = dict(rethinking(s))
    assert lines[r"\text{y}_{i}"] == r"\sim \operatorname{Normal}(\mu_{i}, \sigma_{i})"
    assert lines[r"\log(\sigma_{i})"] == r"= \beta^{\sigma}_{0} + \beta^{\sigma}_{\text{x}} \text{x}_{i} + u^{\sigma}_{\text{g}[i]}"
    assert lines[r"u^{\sigma}_{j}"] == r"\sim \operatorname{Normal}(0, \sigma^{\sigma}_{\text{g}})"
    lines = dict(levels(s))
    assert lines[r"e_{ij}"] == r"\sim \mathcal{N}(0, \sigma_{ij}^2)" and r"\log(\sigma_{ij})" in lines
    _renders(rethinking(s))


def test_nonlinear_formula_is_written_and_never_evaluated():
    a = SubModel("a", "nlpar", "identity", tuple(f"id{k}" for k in range(1, 6)), ("id",), ())
    b = SubModel("b", "nlpar", "identity", ("Intercept", "x"), ("x",), ())
    s = _structure(fixed=(), terms=(), submodels=(a, b), expression="a * exp(-b * week) + __import__('os')",
                   family_params=("sigma",))
    lines = dict(rethinking(s))
    mu = lines[r"\mu_{i}"]
    assert mu.startswith(r"= \text{a}_{i} \cdot \operatorname{exp}(") and r"\text{week}_{i}" in mu
    assert r"\text{\_\_import\_\_}" in mu  # user text escaped as a name, never run
    assert lines[r"\text{a}_{i}"] == r"= \beta^{\text{a}}_{\text{id}[i]}"  # a factor's coefficients as one indexed
    assert lines[r"\text{b}_{i}"] == r"= \beta^{\text{b}}_{0} + \beta^{\text{b}}_{\text{x}} \text{x}_{i}"
    assert levels(s) == rethinking(s)
    _renders(rethinking(s))


@pytest.mark.slow  # four small brm fits (~25 s)
def test_brm_models_written_with_their_priors_and_drawn():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=n)
    data = pd.DataFrame({"y": rng.poisson(np.exp(0.3 + 0.2 * x)), "x": x, "g": rng.integers(0, 10, n).astype(str),
                         "yc": rng.normal(size=n)})
    options = dict(chains=1, draws=60, warmup=60, seed=1, refresh=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zip_fit = ml.brm("y ~ x + (1 | g)", data, family="zero_inflated_poisson", **options)
        ordinal = ml.brm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), family="cumulative",
                         **options)
        scale = ml.brm(ml.bf("yc ~ x + (1 | g)", "sigma ~ x"), data, **options)
        nonlinear = ml.brm(ml.bf("yc ~ 0 + a", "a ~ 0 + g", nl=True), data,
                           priors=[ml.prior("normal(0, 1.5)", "b", nlpar="a")], **options)
        choice = ml.brm("k ~ x", data.assign(k=np.where(data["x"] > 0.5, "b", np.where(data["x"] < -0.5, "c", "a"))),
                        family="categorical", **options)
    with pytest.raises(ml.MultilevelError, match="categorical"):  # refused, not written as one predictor
        choice.math()
    with pytest.raises(ml.MultilevelError, match="categorical"):
        choice.diagram()
    latex = zip_fit.math("rethinking").latex
    assert r"\operatorname{ZIPoisson}(\lambda_{i}, \text{zi})" in latex and r"\text{zi} &\sim \operatorname{Beta}(1, 1)" in latex
    latex = ordinal.math("rethinking").latex
    assert r"\kappa_{k} &\sim \operatorname{StudentT}(3, 0, 2.5)" in latex and r"\bar{\alpha}" not in latex
    latex = scale.math("rethinking").latex
    assert r"\beta^{\sigma}_{\text{x}} &\sim \text{flat}" in latex and r"\beta^{\sigma}_{0} &\sim" in latex
    assert latex.count(r"\beta_{\text{x}} &\sim") == 1  # sigma's prior rows are sigma's, not the mean's again
    latex = nonlinear.math("rethinking").latex
    assert r"\mu_{i} &= 0 + \text{a}_{i}" in latex
    assert r"\beta^{\text{a}}_{\text{g0}}, \ldots, \beta^{\text{a}}_{\text{g9}} &\sim \operatorname{Normal}(0, 1.5)" in latex
    for fit in (zip_fit, ordinal, scale, nonlinear):
        for style in ("rethinking", "levels", "matrix"):
            for numbers in (False, True):
                fit.math(style, numbers=numbers).figure().canvas.draw()
        fig = fit.diagram()
        names = {p.get_gid() for p in fig.axes[0].patches if p.get_gid()}
        assert "node:y" in names and "edge:mu->y" in names
        plt.close("all")
    names = {p.get_gid() for p in scale.diagram().axes[0].patches}
    assert {"node:dpar:sigma", "edge:dpar:sigma->y", "edge:x->dpar:sigma", "edge:dpar:sigma:beta->dpar:sigma"} <= names
    assert "node:sigma" not in names  # sigma is per observation now, no constant sigma
    names = {p.get_gid() for p in nonlinear.diagram().axes[0].patches}
    assert {"edge:nlpar:a->mu", "node:family:kappa"} & names == {"edge:nlpar:a->mu"}
    assert "node:family:kappa" in {p.get_gid() for p in ordinal.diagram().axes[0].patches}
    plt.close("all")


@pytest.mark.slow  # three small brm fits (~15 s)
def test_levels_dialect_priors_with_several_grouping_factors():
    """The priors on the levels dialect's own symbols when a model has two grouping factors: crossed
    (gamma_0, tau_U0, tau_V0), nested (gamma_000, tau_pi, tau_beta) and correlated slopes beside a crossed
    intercept (sqrt(tau_U11), corr(U_j)); they were written in the rethinking dialect's symbols before."""
    options = dict(chains=1, draws=60, warmup=60, seed=1, refresh=0)
    sleep = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crossed = ml.brm("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"), **options)
        nested = ml.brm("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes"), **options)
        slopes = ml.brm("Reaction ~ Days + (Days | Subject) + (1 | week)",
                        sleep.assign(week=(sleep["Days"] // 3).astype(str)), **options)
    latex = crossed.math("levels").latex
    for line in (r"\gamma_{0} &\sim \operatorname{StudentT}(3, 23, 2.5)", r"\tau_{U0} &\sim \operatorname{HalfStudentT}",
                 r"\tau_{V0} &\sim \operatorname{HalfStudentT}"):
        assert line in latex
    latex = nested.math("levels").latex
    assert r"\gamma_{000} &\sim" in latex and r"\tau_{\pi} &\sim" in latex and r"\tau_{\beta} &\sim" in latex
    latex = slopes.math("levels").latex
    for line in (r"\gamma_{1} &\sim \text{flat}", r"\operatorname{corr}(\mathbf{U}_j) &\sim \operatorname{LKJcorr}(1)",
                 r"\sqrt{\tau_{U11}} &\sim", r"\tau_{V0} &\sim"):
        assert line in latex
    assert r"\sigma_{\text{" not in latex  # no rethinking-dialect symbol left
