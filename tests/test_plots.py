"""Each plot drawn for a real fit, its content checked (points, lines, panels, labels)."""
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import multilevel as ml  # noqa: E402
from conftest import fitted  # noqa: E402


@pytest.fixture(scope="module")
def frogs_glmm():
    data = ml.datasets.load("reedfrogs")
    data["tank"] = np.arange(1, 49)
    return ml.glmer("surv | trials(density) ~ 1 + (1 | tank)", data)


@pytest.fixture(scope="module")
def sleep_brm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), seed=1,
                      chains=2, draws=300, warmup=300)


def test_shrinkage_tadpoles(frogs_glmm):
    ax = ml.plots.shrinkage(frogs_glmm, group="tank")
    observed, pooled = ax.collections[0], ax.collections[1]
    assert len(observed.get_offsets()) == 48 and len(pooled.get_offsets()) == 48
    # partial pooling pulls the group means toward the grand mean
    grand = ax.lines[0].get_ydata()[0]
    assert np.abs(pooled.get_offsets()[:, 1] - grand).sum() < np.abs(observed.get_offsets()[:, 1] - grand).sum()
    assert ax.get_xlabel().startswith("tank") and "surv" in ax.get_ylabel()


def test_caterpillar_lmer_and_brm(sleep_brm):
    ax = ml.plots.caterpillar(fitted("sleep_slopes_reml"), group="Subject", term="Days")
    assert len(ax.get_yticklabels()) == 18 and len(ax.lines[0].get_xdata()) == 18
    assert ax.get_xlabel() == "Days effect of Subject"
    estimates = ax.lines[0].get_xdata()
    assert np.all(np.diff(estimates) >= 0)  # sorted
    ax = ml.plots.caterpillar(sleep_brm, group="Subject")
    assert len(ax.get_yticklabels()) == 18


def test_coefficients_side_by_side(sleep_brm):
    ax = ml.plots.coefficients(fitted("sleep_slopes_reml"), sleep_brm, names=["lmer", "brm"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["(Intercept)", "Days", "Intercept"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lmer", "brm"]


def test_group_lines_panels():
    fig = ml.plots.group_lines(fitted("sleep_slopes_reml"), x="Days", group="Subject", n_groups=12)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 12
    assert len(visible[0].lines) == 3  # data, group line, population line
    assert visible[0].get_title() == "Subject 308"


def test_trace_rank_posterior(sleep_brm):
    fig = ml.plots.trace(sleep_brm, names=["b_Days", "sigma"])
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2  # two chains
    assert fig.axes[0].get_ylabel() == "b_Days"
    fig = ml.plots.rank(sleep_brm, names=["sigma"])
    assert len(fig.axes[0].lines) == 2
    ax = ml.plots.posterior(sleep_brm, ["sigma", "sd_Subject__Intercept"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sd_Subject__Intercept", "sigma"]
    with pytest.raises(ml.MultilevelError, match="holds no posterior draws"):
        ml.plots.trace(fitted("sleep_slopes_reml"))


def test_pp_check_and_compare(sleep_brm):
    ax = ml.plots.pp_check(sleep_brm, ndraws=20)
    assert len(ax.lines) == 21 and ax.get_legend().get_texts()[0].get_text() == "observed"
    ax = ml.plots.pp_check(fitted("sleep_slopes_reml"), ndraws=10)
    assert len(ax.lines) == 11
    table = ml.loo_compare(sleep_brm, sleep_brm, names=["a", "b"])
    ax = ml.plots.compare(table)
    assert len(ax.get_yticklabels()) == 2


def test_shrinkage_2d_cafes_style():
    ax = ml.plots.shrinkage_2d(fitted("sleep_slopes_reml"), group="Subject", slope="Days")
    assert len(ax.collections[0].get_offsets()) == 18 and len(ax.collections[1].get_offsets()) == 18
    assert len(ax.patches) == 3  # 50/80/95% ellipses
    assert ax.get_ylabel() == "slope of Days"


def test_conditional_effects_band(sleep_brm):
    for fit in (fitted("sleep_slopes_reml"), sleep_brm):
        ax = ml.plots.conditional_effects(fit, "Days")
        line = ax.lines[0]
        assert len(line.get_xdata()) == 50 and ax.get_xlabel() == "Days"
        assert line.get_ydata()[-1] > line.get_ydata()[0]  # reaction times rise with Days
        assert len(ax.collections) == 1  # the 95% band


def test_prior_posterior_needs_prior_draws(sleep_brm):
    with pytest.raises(ml.MultilevelError, match="sample_prior='yes'"):
        ml.plots.prior_posterior(sleep_brm, "sigma")
    ax = ml.plots.prior_posterior(sleep_brm, "sigma", prior_draws={"sigma": np.abs(np.random.default_rng(1).standard_t(3, 2000)) * 59.3})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior", "posterior"]


def test_conditional_effects_by_group():
    ax = ml.plots.conditional_effects(fitted("sleep_slopes_reml"), "Days", group="Subject", n_groups=5)
    assert len(ax.lines) == 1 + 5  # population line and one per subject
    ranef = fitted("sleep_slopes_reml").ranef()["Subject"]
    first = ax.lines[1].get_ydata()
    fixed = fitted("sleep_slopes_reml").fixef()
    assert first[0] == pytest.approx(fixed["(Intercept)"] + ranef.iloc[0, 0], rel=1e-9)


def test_brm_math_shows_the_priors(sleep_brm):
    """fit.math() of a brm fit (issue 15): the model and every prior, brms's defaults included; each line
    parses as mathtext. Here, next to the plots, to share their brm fit."""
    from matplotlib.mathtext import MathTextParser

    equations = sleep_brm.math()
    text = equations.latex
    assert r"\operatorname{MVNormal}" in text and r"\mathbf{R} &\sim \operatorname{LKJcorr}(1)" in text
    assert r"\sigma &\sim \operatorname{HalfStudentT}(3, 0, " in text and r"\bar{\alpha} &\sim \operatorname{StudentT}(3, " in text
    assert r"\bar{\beta}_{\text{Days}} &\sim \text{flat}" in text
    assert any("centered predictors" in note for note in equations.notes)
    levels = sleep_brm.math("levels").latex  # the same priors on the levels dialect's gammas and taus
    assert r"\gamma_{00} &\sim \operatorname{StudentT}(3, " in levels and r"\gamma_{10} &\sim \text{flat}" in levels
    assert r"\sqrt{\tau_{11}} &\sim \operatorname{HalfStudentT}(3, 0, " in levels
    assert r"\operatorname{corr}(\mathbf{U}_j) &\sim \operatorname{LKJcorr}(1)" in levels
    parser = MathTextParser("path")
    for style in ("rethinking", "levels", "matrix"):
        for line in sleep_brm.math(style, numbers=True).mathtext_lines():
            parser.parse(line, dpi=72)
