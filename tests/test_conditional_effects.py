"""ml.conditional_effects: brms's grids (numeric grid, factor levels, mean -/+ sd of a numeric moderator,
other predictors at their mean or first level), estimates that are the fit's own predictions
(summaries of posterior_epred draws, or Wald intervals computed by hand), plots, HTML and errors."""
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

matplotlib.use("Agg")

import multilevel as ml
from multilevel.errors import ArgumentError, DataError

Z95 = norm.ppf(0.975)


@pytest.fixture(scope="module")
def wine_brm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("response ~ temp * contact + (1 | judge)", ml.datasets.load("wine"), chains=2, iter=300, seed=1)


@pytest.fixture(scope="module")
def sleep_lmer():
    return ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def ticks_glmer():
    return ml.glmer("TICKS ~ YEAR * cHEIGHT + (1 | LOCATION)", ml.datasets.load("grouseticks"), family="poisson")


@pytest.fixture(scope="module")
def small_lm():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"x": rng.uniform(1, 10, 60), "z": rng.normal(5, 2, 60),
                         "g": np.repeat(["<b>a</b>", "b&c"], 30)})
    data["y"] = 1 + 0.5 * data.x - 0.3 * data.z + 0.1 * data.x * data.z + (data.g == "b&c") + rng.normal(0, 1, 60)
    return ml.lm("y ~ x * z + g", data), data


# ---- Bayesian fits: summaries of the fit's own posterior_epred draws --------------------------------
def test_brm_default_effects_and_factor_grid(wine_brm):
    ce = ml.conditional_effects(wine_brm)
    assert list(ce) == ["temp", "contact", "temp:contact"]  # brms: main effects, then the interaction
    temp = ce["temp"]
    assert list(temp["temp"].astype(str)) == ["cold", "warm"]
    assert (temp["contact"] == "no").all()  # the other factor at its first level
    assert list(temp.columns) == ["temp", "contact", "cond__", "effect1__", *["estimate__", "se__", "lower__", "upper__"]]
    assert (temp["cond__"] == "1").all()
    draws = wine_brm.posterior_epred(pd.DataFrame({"temp": ["cold", "warm"], "contact": ["no", "no"]}),
                                     re_formula="NA")
    # brms's robust summary: median, MAD (R's mad, constant 1.4826), 2.5% and 97.5% quantiles (type 7)
    np.testing.assert_allclose(temp["estimate__"], np.median(draws, 0), rtol=1e-12)
    mad = 1.4826 * np.median(np.abs(draws - np.median(draws, 0)), 0)
    np.testing.assert_allclose(temp["se__"], mad, rtol=1e-12)
    np.testing.assert_allclose(temp["lower__"], np.quantile(draws, 0.025, 0), rtol=1e-12)
    np.testing.assert_allclose(temp["upper__"], np.quantile(draws, 0.975, 0), rtol=1e-12)
    assert (ce["contact"]["temp"] == "cold").all()


def test_brm_interaction_table(wine_brm):
    table = ml.conditional_effects(wine_brm, "temp:contact")["temp:contact"]
    pairs = list(zip(table["temp"].astype(str), table["contact"].astype(str)))
    assert pairs == [("cold", "no"), ("cold", "yes"), ("warm", "no"), ("warm", "yes")]  # first variable slowest
    assert list(table["effect1__"].astype(str)) == [p[0] for p in pairs]
    assert list(table["effect2__"].astype(str)) == [p[1] for p in pairs]
    newdata = pd.DataFrame(pairs, columns=["temp", "contact"])
    draws = wine_brm.posterior_epred(newdata, re_formula="NA")
    np.testing.assert_allclose(table["estimate__"], np.median(draws, 0), rtol=1e-12)
    # the interaction shows: warm and contact together add more than their separate effects
    est = table["estimate__"].to_numpy()
    assert est[3] - est[2] > est[1] - est[0]
    # asked in the other order, the variables keep the order given (brms reorders only its defaults)
    assert list(ml.conditional_effects(wine_brm, "contact:temp")) == ["contact:temp"]


def test_brm_methods_robust_and_conditions(wine_brm):
    newdata = pd.DataFrame({"temp": ["cold", "warm"], "contact": ["no", "no"]})
    linpred = ml.conditional_effects(wine_brm, "temp", method="posterior_linpred", robust=False)["temp"]
    draws = wine_brm.posterior_linpred(newdata, re_formula="NA")
    np.testing.assert_allclose(linpred["estimate__"], draws.mean(0), rtol=1e-12)
    np.testing.assert_allclose(linpred["se__"], draws.std(0, ddof=1), rtol=1e-12)
    epred = ml.conditional_effects(wine_brm, "temp")["temp"]
    predict = ml.conditional_effects(wine_brm, "temp", method="posterior_predict", seed=2)["temp"]
    assert np.all(predict["upper__"] - predict["lower__"] > epred["upper__"] - epred["lower__"])  # sigma adds
    subset = ml.conditional_effects(wine_brm, "temp", ndraws=50, seed=3)["temp"]
    np.testing.assert_allclose(subset["estimate__"], np.median(
        wine_brm.posterior_epred(newdata, re_formula="NA", ndraws=50, seed=3), 0), rtol=1e-12)
    narrow = ml.conditional_effects(wine_brm, "temp", prob=0.5)["temp"]
    assert np.all(narrow["upper__"] - narrow["lower__"] < epred["upper__"] - epred["lower__"])
    table = ml.conditional_effects(wine_brm, "temp", conditions=pd.DataFrame({"contact": ["no", "yes"]}))["temp"]
    assert len(table) == 4 and list(table["cond__"].astype(str)) == ["1", "1", "2", "2"]
    assert list(table["contact"]) == ["no", "no", "yes", "yes"]
    both = ml.conditional_effects(wine_brm, "temp:contact")["temp:contact"]
    np.testing.assert_allclose(table["estimate__"].to_numpy()[[0, 1, 2, 3]],
                               both["estimate__"].to_numpy()[[0, 2, 1, 3]], rtol=1e-12)


# ---- maximum-likelihood fits: Wald intervals by hand ------------------------------------------------
def test_lmer_numeric_effect_wald_band(sleep_lmer):
    table = ml.conditional_effects(sleep_lmer, "Days")["Days"]
    days = table["Days"].to_numpy()
    assert len(table) == 100 and days[0] == 0 and days[-1] == 9  # brms's resolution: 100 points, min to max
    beta, cov = sleep_lmer.fixef().to_numpy(), sleep_lmer.vcov().to_numpy()
    x = np.column_stack([np.ones_like(days), days])
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))
    np.testing.assert_allclose(table["estimate__"], x @ beta, rtol=1e-10)
    np.testing.assert_allclose(table["se__"], se, rtol=1e-6)  # identity link: delta method by differences
    np.testing.assert_allclose(table["lower__"], x @ beta - Z95 * se, rtol=1e-10)
    np.testing.assert_allclose(table["upper__"], x @ beta + Z95 * se, rtol=1e-10)
    np.testing.assert_allclose(table["estimate__"], sleep_lmer.predict(table[["Days"]], re_form="NA"), rtol=1e-12)
    assert len(ml.conditional_effects(sleep_lmer, resolution=7)["Days"]) == 7


def test_glmer_factor_by_numeric_moderator(ticks_glmer):
    data = ml.datasets.load("grouseticks")
    mean, sd = data["cHEIGHT"].mean(), data["cHEIGHT"].std(ddof=1)  # brms: mean - sd, mean, mean + sd
    table = ml.conditional_effects(ticks_glmer, "YEAR:cHEIGHT")["YEAR:cHEIGHT"]
    assert list(table["YEAR"].astype(str)) == ["95"] * 3 + ["96"] * 3 + ["97"] * 3
    np.testing.assert_allclose(table["cHEIGHT"], np.tile(mean + np.array([-1, 0, 1]) * sd, 3), rtol=1e-12, atol=1e-9)
    assert list(table["effect2__"].cat.categories) == sorted(set(np.round(table["cHEIGHT"], 2)), reverse=True)
    # Wald interval on the log scale from the fixed effects and vcov, through exp
    names = list(ticks_glmer.fixef().index)
    x = pd.DataFrame(0.0, index=range(len(table)), columns=names)
    x["(Intercept)"] = 1.0
    for year in ("96", "97"):
        dummy = (table["YEAR"].astype(str) == year).to_numpy(dtype=float)
        x[f"YEAR{year}"] = dummy
        x[f"YEAR{year}:cHEIGHT"] = dummy * table["cHEIGHT"].to_numpy()
    x["cHEIGHT"] = table["cHEIGHT"].to_numpy()
    x = x[names].to_numpy()
    eta = x @ ticks_glmer.fixef().to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, ticks_glmer.vcov().to_numpy(), x))
    np.testing.assert_allclose(table["estimate__"], np.exp(eta), rtol=1e-9)
    np.testing.assert_allclose(table["lower__"], np.exp(eta - Z95 * se), rtol=1e-9)
    np.testing.assert_allclose(table["upper__"], np.exp(eta + Z95 * se), rtol=1e-9)
    np.testing.assert_allclose(table["se__"], np.exp(eta) * se, rtol=1e-5)  # delta method
    linpred = ml.conditional_effects(ticks_glmer, "YEAR:cHEIGHT", method="posterior_linpred")["YEAR:cHEIGHT"]
    np.testing.assert_allclose(linpred["estimate__"], eta, rtol=1e-9)


def test_lm_numeric_by_numeric_interaction(small_lm):
    fit, data = small_lm
    table = ml.conditional_effects(fit, "x:z", resolution=5)["x:z"]
    assert len(table) == 15 and (table["g"] == "<b>a</b>").all()  # the factor at its first level
    np.testing.assert_allclose(table["z"].to_numpy()[:3], data.z.mean() + np.array([-1, 0, 1]) * data.z.std(), rtol=1e-12)
    np.testing.assert_allclose(table["x"].to_numpy()[::3], np.linspace(data.x.min(), data.x.max(), 5), rtol=1e-12)
    reference = fit.predict(table[["x", "z", "g"]], se_fit=True)  # R's predict.lm(se.fit = TRUE)
    np.testing.assert_allclose(table["estimate__"], reference["fit"], rtol=1e-12)
    np.testing.assert_allclose(table["se__"], reference["se_fit"], rtol=1e-6)


def test_expression_needs_the_data():
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"x": rng.uniform(1, 20, 40)})
    data["y"] = 2 + np.log(data.x) + rng.normal(0, 0.1, 40)
    fit = ml.lm("y ~ log(x)", data)
    with pytest.raises(DataError, match="data="):
        ml.conditional_effects(fit)
    table = ml.conditional_effects(fit, data=data)["x"]
    assert table["x"].iloc[0] == pytest.approx(data.x.min()) and table["x"].iloc[-1] == pytest.approx(data.x.max())
    np.testing.assert_allclose(table["estimate__"], fit.coef().iloc[0] + fit.coef().iloc[1] * np.log(table["x"]))


# ---- display and pictures ----------------------------------------------------------------------------
def test_print_and_html_escape(small_lm):
    fit, _ = small_lm
    ce = ml.conditional_effects(fit, ["g", "x"])
    text = str(ce)
    assert "$g" in text and "estimate__" in text and "Wald" in text
    page = ce._repr_html_()
    assert "<b>a</b>" not in page and "&lt;b&gt;a&lt;/b&gt;" in page and "b&amp;c" in page


def test_plots_draw_each_kind(wine_brm, ticks_glmer, sleep_lmer):
    figures = ml.conditional_effects(sleep_lmer, "Days").plot()
    ax = figures["Days"].axes[0]
    assert len(ax.lines[0].get_xdata()) == 100 and len(ax.collections) == 1  # line and band
    assert ax.get_xlabel() == "Days" and ax.get_ylabel() == "Reaction"
    figures = ml.conditional_effects(wine_brm).plot()
    factor = figures["temp"].axes[0]
    assert [t.get_text() for t in factor.get_xticklabels()] == ["cold", "warm"]
    dodged = figures["temp:contact"].axes[0]
    assert [t.get_text() for t in dodged.get_legend().get_texts()] == ["no", "yes"]
    positions = [line.get_xdata() for line in dodged.lines if line.get_marker() == "o"]
    assert len(positions) == 2 and np.all(positions[0] < positions[1])  # side by side, not on top
    lines = ml.conditional_effects(ticks_glmer, "cHEIGHT:YEAR").plot()["cHEIGHT:YEAR"].axes[0]
    assert len(lines.lines) == 3 and len(lines.collections) == 3  # a line and a band per year
    panels = ml.conditional_effects(wine_brm, "temp", conditions=pd.DataFrame({"contact": ["no", "yes"]})).plot()
    assert [a.get_title() for a in panels["temp"].axes] == ["1", "2"]
    ax = ml.plots.conditional_effects(wine_brm, "temp")  # the one-Axes picture takes factors too
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cold", "warm"]


def test_plots_conditional_effects_design_column(ticks_glmer):
    ax = ml.plots.conditional_effects(ticks_glmer, "YEAR96")  # a design column, others at their means (report)
    assert len(ax.lines[0].get_xdata()) == 50


# ---- errors ------------------------------------------------------------------------------------------
def test_errors(sleep_lmer, wine_brm):
    with pytest.raises(ArgumentError, match=r"effect 'Night'.*'Night' is not a predictor.*Days, Subject"):
        ml.conditional_effects(sleep_lmer, "Night")
    with pytest.raises(ArgumentError, match=r"'temp:contact:judge' has 3 variables"):
        ml.conditional_effects(wine_brm, "temp:contact:judge")
    with pytest.raises(ArgumentError, match="names one variable twice"):
        ml.conditional_effects(wine_brm, "temp:temp")
    with pytest.raises(ArgumentError, match="posterior_predict.*needs posterior draws"):
        ml.conditional_effects(sleep_lmer, method="posterior_predict")
    with pytest.raises(ArgumentError, match="method must be one of"):
        ml.conditional_effects(sleep_lmer, method="fitted")
    with pytest.raises(ArgumentError, match="prob"):
        ml.conditional_effects(sleep_lmer, prob=95)
    with pytest.raises(ArgumentError, match="conditions must be a pandas DataFrame"):
        ml.conditional_effects(sleep_lmer, conditions={"Days": 3})
    with pytest.raises(ml.MultilevelError, match="needs a fit from"):
        ml.conditional_effects("Reaction ~ Days")
    with pytest.raises(ArgumentError, match="ndraws is for fits with posterior draws"):
        ml.conditional_effects(sleep_lmer, ndraws=10)
    with pytest.raises(ArgumentError, match="effects must be"):
        ml.conditional_effects(sleep_lmer, effects=3)
    with pytest.raises(DataError, match="new levels"):
        ml.conditional_effects(wine_brm, "temp", conditions=pd.DataFrame({"contact": ["maybe"]}))
    with pytest.warns(UserWarning, match="not part of the model: colour"):
        ml.conditional_effects(sleep_lmer, conditions=pd.DataFrame({"colour": ["red"]}))


def test_backticked_names_are_effects():
    """A predictor written in backticks (formulaic prints it bare) is still found in its term."""
    import multilevel as ml

    d = ml.datasets.load("sleepstudy").rename(columns={"Days": "my days"})
    fit = ml.lmer("Reaction ~ `my days` + (1 | Subject)", d)
    assert list(ml.conditional_effects(fit)) == ["my days"]
