"""ml.ulam on the lecture models (fast settings), against brm/brms where the same model exists."""
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import load_fixture

FAST = dict(chains=2, draws=400, warmup=400)


def frogs():
    data = ml.datasets.load("reedfrogs")
    data["tank"] = np.arange(1, len(data) + 1)
    return data


def bangladesh():
    b = ml.datasets.load("bangladesh")
    return {"C": b["use.contraception"].to_numpy(), "D": pd.factorize(b["district"], sort=True)[0] + 1,
            "U": b["urban"].to_numpy()}


def gapminder():
    g = ml.datasets.load("gapminder")
    return {"L": ((g.lifeExp - g.lifeExp.mean()) / g.lifeExp.std()).to_numpy(),
            "cid": pd.factorize(g.country, sort=True)[0] + 1, "cont": pd.factorize(g.continent, sort=True)[0] + 1,
            "year": ((g.year - 1980) / 10).to_numpy()}


def cafes(seed=5):
    """Statistical Rethinking's simulated cafes: 20 cafes, morning/afternoon, rho = -0.7."""
    rng = np.random.default_rng(seed)
    a, b, sigma_a, sigma_b, rho = 3.5, -1.0, 1.0, 0.5, -0.7
    cov = np.array([[sigma_a**2, rho * sigma_a * sigma_b], [rho * sigma_a * sigma_b, sigma_b**2]])
    effects = rng.multivariate_normal([a, b], cov, size=20)
    cafe = np.repeat(np.arange(1, 21), 10)
    afternoon = np.tile([0, 1], 100)
    wait = rng.normal(effects[cafe - 1, 0] + effects[cafe - 1, 1] * afternoon, 0.5)
    return {"cafe": cafe, "afternoon": afternoon, "wait": wait}


PARTIAL = """
    surv ~ dbinom(density, p)
    logit(p) <- a[tank]
    a[tank] ~ dnorm(a_bar, sigma)
    a_bar ~ dnorm(0, 1.5)
    sigma ~ dexp(1)
"""
NO_POOLING = """
    surv ~ dbinom(density, p)
    logit(p) <- a[tank]
    a[tank] ~ dnorm(0, 1.5)
"""
COMPLETE = """
    surv ~ dbinom(density, p)
    logit(p) <- a
    a ~ dnorm(0, 1.5)
"""
BANGLADESH_VECTOR = """
    C ~ bernoulli(p)
    logit(p) <- a[D]
    vector[60]:a ~ normal(abar, sigma)
    abar ~ normal(0, 1.5)
    sigma ~ exponential(1)
"""
BANGLADESH_NONCENTERED = """
    C ~ bernoulli(p)
    logit(p) <- a[D]
    save> vector[60]:a <- abar + za * sigma
    vector[60]:za ~ normal(0, 1)
    abar ~ normal(0, 1.5)
    sigma ~ exponential(1)
"""
BANGLADESH_SLOPES = """
    C ~ bernoulli(p)
    logit(p) <- a[D] + b[D] * U
    c(a, b)[D] ~ multi_normal(c(abar, bbar), Rho, sigma_d)
    c(abar, bbar) ~ normal(0, 1)
    Rho ~ lkj_corr(2)
    sigma_d ~ exponential(1)
"""
GAPMINDER_CORRELATED = """
    L ~ normal(mu, sigma)
    mu <- alpha[cid] + beta[cid] * year
    c(alpha, beta)[cid] ~ multi_normal(c(a, b), Rho, s)
    c(a, b) ~ normal(0, 1)
    Rho ~ lkj_corr(2)
    s ~ exponential(1)
    sigma ~ exponential(1)
"""
CAFES = """
    wait ~ normal(mu, sigma)
    mu <- a_cafe[cafe] + b_cafe[cafe] * afternoon
    c(a_cafe, b_cafe)[cafe] ~ multi_normal(c(a, b), Rho, sigma_cafe)
    a ~ normal(5, 2)
    b ~ normal(-1, 0.5)
    sigma_cafe ~ exponential(1)
    sigma ~ exponential(1)
    Rho ~ lkj_corr(2)
"""
_FITS = {}


def fitted(name, model, data, **kw):
    if name not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[name] = ml.ulam(model, data, seed=kw.pop("seed", 1), **{**FAST, **kw})
    return _FITS[name]


def test_partial_pooling_tadpoles_agree_with_brms():
    # brms 2.18 fit of surv | trials(density) ~ 1 + (1|tank), normal(0, 1.5) / exponential(1)
    ref = load_fixture("brms_reference.json")["fits"]["reedfrogs_pp"]["params"]
    fit = fitted("partial_full", PARTIAL, frogs(), chains=4, draws=1000, warmup=1000)
    table = ml.precis(fit)
    for ours, theirs in [("a_bar", "b_Intercept"), ("sigma", "sd_tank__Intercept")]:
        row, r = table.loc[ours], ref[theirs]
        mcse = row["sd"] / np.sqrt(row["n_eff"])
        assert abs(row["mean"] - r["mean"]) < 4 * np.sqrt(mcse**2 + r["mcse_mean"] ** 2)


def test_compare_ranks_partial_pooling_first():
    models = [fitted("partial", PARTIAL, frogs()), fitted("none", NO_POOLING, frogs()),
              fitted("complete", COMPLETE, frogs())]
    for func in ["WAIC", "PSIS"]:
        table = ml.compare(*models, names=["partial", "none", "complete"], func=func)
        assert table.index[0] == "partial"
        assert list(table.columns) == [func, "SE", f"d{func}", "dSE", f"p{func}", "weight"]
        assert table["weight"].sum() == pytest.approx(1.0)


def test_precis_depths_and_link_sim():
    fit = fitted("partial", PARTIAL, frogs())
    assert list(ml.precis(fit).index) == ["a_bar", "sigma"]
    deep = ml.precis(fit, depth=2)
    assert "a[48]" in deep.index and list(deep.columns) == ["mean", "sd", "5.5%", "94.5%", "n_eff", "Rhat"]
    link = fit.link()
    assert link["p"].shape == (800, 48) and np.all((link["p"] > 0) & (link["p"] < 1))
    sims = fit.sim()["surv"]
    assert sims.shape == (800, 48) and np.all(sims <= frogs()["density"].to_numpy())
    new = pd.DataFrame({"tank": [1, 2], "density": [10, 10]})
    assert fit.link(new)["p"].shape == (800, 2)
    samples = fit.extract_samples()
    assert samples["a"].shape == (800, 48) and samples["sigma"].shape == (800,)
    waic, points = ml.waic(fit, pointwise=True)
    assert len(points) == 48 and waic["WAIC"] == pytest.approx(points.sum())


@pytest.mark.parametrize("name, model", [
    ("bangladesh_vector", BANGLADESH_VECTOR),
    ("bangladesh_noncentered", BANGLADESH_NONCENTERED),
])
def test_bangladesh_intercepts_centered_and_noncentered(name, model):
    fit = fitted(name, model, bangladesh())
    table = ml.precis(fit)
    assert -0.8 < table.loc["abar", "mean"] < -0.3 and 0.3 < table.loc["sigma", "mean"] < 0.8
    assert fit.extract_samples()["a"].shape == (800, 60)  # save> keeps a in the draws


def test_bangladesh_varying_slopes_agree_with_brm():
    fit = fitted("bangladesh_slopes", BANGLADESH_SLOPES, bangladesh(), chains=4, draws=1000, warmup=1000)
    b = ml.datasets.load("bangladesh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same = ml.brm("use.contraception ~ urban + (1 + urban | district)", b, family="bernoulli", seed=2,
                      priors=[ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("normal(0, 1)", class_="b"),
                              ml.prior("exponential(1)", class_="sd"), ml.prior("lkj(2)", class_="cor")])
    ours, theirs = ml.precis(fit, depth=3), same.parameter_summary()
    for u, b_name in [("abar", "b_Intercept"), ("bbar", "b_urban"), ("sigma_d[1]", "sd_district__Intercept"),
                      ("sigma_d[2]", "sd_district__urban"), ("Rho[1,2]", "cor_district__Intercept__urban")]:
        row, other = ours.loc[u], theirs.loc[b_name]
        mcse = np.sqrt(row["sd"] ** 2 / row["n_eff"] + other["Est.Error"] ** 2 / other["Bulk_ESS"])
        assert abs(row["mean"] - other["Estimate"]) < 4 * mcse, (u, row["mean"], other["Estimate"])


@pytest.mark.parametrize("name, model", [
    ("gap_intercepts", """
        L ~ normal(mu, sigma)
        mu <- a[cid]
        a[cid] ~ normal(abar, tau)
        abar ~ normal(0, 1)
        tau ~ exponential(1)
        sigma ~ exponential(1)"""),
    ("gap_continent_year", """
        L ~ normal(mu, sigma)
        mu <- a[cid] + k[cont] + b * year
        a[cid] ~ normal(0, tau)
        k[cont] ~ normal(kbar, tau_k)
        kbar ~ normal(0, 1)
        b ~ normal(0, 1)
        c(tau, tau_k, sigma) ~ exponential(1)"""),
    ("gap_correlated", GAPMINDER_CORRELATED),
])
def test_gapminder_models(name, model):
    fit = fitted(name, model, gapminder())
    table = ml.precis(fit, depth=3)
    assert np.all(np.isfinite(table["mean"])) and table.loc["sigma", "mean"] < 0.6
    assert fit.extract_samples()["sigma"].shape == (800,)


def test_cafes_recover_the_correlation():
    fit = fitted("cafes", CAFES, cafes(), chains=4, draws=500, warmup=500)
    table = ml.precis(fit, depth=3)
    assert table.loc["Rho[1,2]", "mean"] < -0.2  # simulated with rho = -0.7
    assert table.loc["a", "94.5%"] > 3.5 - 0.8 and table.loc["sigma", "mean"] == pytest.approx(0.5, abs=0.1)


def test_traceplot_and_trankplot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    fit = fitted("partial", PARTIAL, frogs())
    for method in ("traceplot", "trankplot"):
        fig = getattr(fit, method)()
        assert len(fig.axes) == 8  # a_bar, sigma and the first elements of a, up to 8 panels
        assert len(fig.axes[0].lines) == 2  # one line per chain
        fig.savefig(tmp_path / f"{method}.png")
    prior = fitted("none", NO_POOLING, frogs()).extract_prior(draws=500, seed=1)
    assert prior["a"].shape == (500, 48)
    assert abs(prior["a"].mean()) < 0.15 and prior["a"].std() == pytest.approx(1.5, rel=0.1)  # normal(0, 1.5)


def test_compare_names_from_keywords():
    table = ml.compare(partial=fitted("partial", PARTIAL, frogs()), none=fitted("none", NO_POOLING, frogs()))
    assert list(table.index) == ["partial", "none"]


@pytest.mark.parametrize("model", [
    """
    TICKS ~ dgampois(lambda, phi)
    log(lambda) <- a[Y] + b * H
    a[Y] ~ normal(1, 1)
    b ~ normal(0, 0.5)
    phi ~ exponential(1)""",
    """
    TICKS ~ poisson(lambda)
    log(lambda) <- a + b * H
    a ~ student_t(3, 1, 2)
    b ~ cauchy(0, 1)""",
    """
    h ~ gamma(shape, shape / exp(mu))
    mu <- a
    a ~ normal(0, 1)
    shape ~ lognormal(0, 1)""",
])
def test_more_distributions_sample(model):
    g = ml.datasets.load("grouseticks")
    data = {"TICKS": g["TICKS"].to_numpy(), "Y": g["YEAR"].cat.codes.to_numpy() + 1,
            "H": g["cHEIGHT"].to_numpy() / 100, "h": g["HEIGHT"].to_numpy() / 400}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.ulam(model, data, chains=1, draws=200, warmup=200, seed=3)
    table = ml.precis(fit, depth=2)
    assert np.all(np.isfinite(table["mean"]))
