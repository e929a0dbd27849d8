"""ml.ulam on the lecture models (fast settings), against brm/brms where the same model exists."""
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_fixture
from scipy import stats

import multilevel as ml
from multilevel.bayes.sampler import tree_depth
from multilevel.errors import ArgumentError
from multilevel.options import sampler_settings
from multilevel.results.protocol import Fit, capabilities

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


@pytest.mark.slow  # three ulam fits (~10 s); test_criteria compares ulam and brm fits in the default run
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
    pytest.param("bangladesh_vector", BANGLADESH_VECTOR, marks=pytest.mark.slow),  # the non-centered one stays
    ("bangladesh_noncentered", BANGLADESH_NONCENTERED),
])
def test_bangladesh_intercepts_centered_and_noncentered(name, model):
    fit = fitted(name, model, bangladesh())
    table = ml.precis(fit)
    assert -0.8 < table.loc["abar", "mean"] < -0.3 and 0.3 < table.loc["sigma", "mean"] < 0.8
    assert fit.extract_samples()["a"].shape == (800, 60)  # save> keeps a in the draws
    lines = dict(fit.math().lines)  # vector[60]:a has one value per district: alpha_j, as the book writes it
    if name == "bangladesh_noncentered":
        assert lines[r"\text{(saved)}\ \alpha_{j}"] == r"= \bar{\alpha} + \text{za}_{j} \sigma"
    else:
        assert lines[r"\alpha_{j}"] == r"\sim \operatorname{Normal}\left(\bar{\alpha}, \sigma\right)"
    assert fit.math().notes == ["j indexes the levels of D"]


@pytest.mark.slow  # 30 s: ulam's and brm's engines agree in the default run on the tadpoles (and in test_criteria)
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
    pytest.param("gap_intercepts", """
        L ~ normal(mu, sigma)
        mu <- a[cid]
        a[cid] ~ normal(abar, tau)
        abar ~ normal(0, 1)
        tau ~ exponential(1)
        sigma ~ exponential(1)""", marks=pytest.mark.slow),  # docs/walkthrough_ulam.md fits it by country name
    # the slow tier (pytest -m slow): docs/walkthrough_ulam.md runs a text-indexed gapminder model and a
    # multi_normal (cafés) model in the default run; these two add grouped priors and a correlated pair
    pytest.param("gap_continent_year", """
        L ~ normal(mu, sigma)
        mu <- a[cid] + k[cont] + b * year
        a[cid] ~ normal(0, tau)
        k[cont] ~ normal(kbar, tau_k)
        kbar ~ normal(0, 1)
        b ~ normal(0, 1)
        c(tau, tau_k, sigma) ~ exponential(1)""", marks=pytest.mark.slow),
    pytest.param("gap_correlated", GAPMINDER_CORRELATED, marks=pytest.mark.slow),
])
def test_gapminder_models(name, model):
    fit = fitted(name, model, gapminder())
    table = ml.precis(fit, depth=3)
    assert np.all(np.isfinite(table["mean"])) and table.loc["sigma", "mean"] < 0.6
    assert fit.extract_samples()["sigma"].shape == (800,)


@pytest.mark.slow  # the default run fits the same model in docs/walkthrough_ulam.md (2 chains; sign of the correlation)
def test_cafes_recover_the_correlation():
    fit = fitted("cafes", CAFES, cafes(), chains=4, draws=500, warmup=500)
    table = ml.precis(fit, depth=3)
    assert table.loc["Rho[1,2]", "mean"] < -0.2  # simulated with rho = -0.7
    assert table.loc["a", "94.5%"] > 3.5 - 0.8 and table.loc["sigma", "mean"] == pytest.approx(0.5, abs=0.1)


@pytest.mark.slow  # ~8 s; test_plots draws traces in the default run
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
    pytest.param("""
    TICKS ~ dgampois(lambda, phi)
    log(lambda) <- a[Y] + b * H
    a[Y] ~ normal(1, 1)
    b ~ normal(0, 0.5)
    phi ~ exponential(1)""", marks=pytest.mark.slow),  # 15 s; the default run samples poisson and gamma
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


# ---- issue 11: R's sampler arguments, ulam inputs, link/sim shapes, the fit protocol --------------
ONE_ROW = "y ~ dnorm(mu, 1)\nmu <- a\na ~ dnorm(0, 1)"


@pytest.mark.parametrize("given, iter_, warmup, draws, thin", [
    ({}, 2000, 1000, 1000, 1),  # brms's iter = 2000
    ({"iter": 2000}, 2000, 1000, 1000, 1),  # warmup = floor(iter / 2), as brms and rethinking
    ({"iter": 1001}, 1001, 500, 501, 1),
    ({"iter": 2000, "warmup": 500}, 2000, 500, 1500, 1),
    ({"iter": 2000, "thin": 2}, 2000, 1000, 500, 2),
    ({"iter": 2000, "thin": 3}, 2000, 1000, 333, 3),  # NumPyro keeps floor(1000 / 3); Stan keeps 334
    ({"draws": 300, "warmup": 200}, 500, 200, 300, 1),
])
def test_sampler_settings_read_iter_as_r_does(given, iter_, warmup, draws, thin):
    s = sampler_settings(**given)
    assert (s.iter, s.warmup, s.draws, s.thin) == (iter_, warmup, draws, thin)
    assert s.as_dict()["iter"] == iter_ and s.as_dict()["draws"] == draws


def test_sampler_settings_control_and_refresh():
    s = sampler_settings(control={"adapt_delta": 0.99, "max_treedepth": 12}, default_adapt_delta=0.95)
    assert (s.adapt_delta, s.max_treedepth) == (0.99, 12)
    assert sampler_settings(default_adapt_delta=0.95).adapt_delta == 0.95
    same = sampler_settings(target_accept=0.9, control={"adapt_delta": 0.9}, max_tree_depth=8)
    assert (same.adapt_delta, same.max_treedepth) == (0.9, 8)
    assert sampler_settings(refresh=0).progress is False and sampler_settings(refresh=100).progress is True


def test_tree_depth_is_stans():
    # Stan counts a doubling only when its subtree is valid: n_leapfrog in [2^d - 1, 2^(d+1) - 1] has depth d
    assert tree_depth(np.array([1, 2, 3, 4, 6, 7, 8, 15, 1023])).tolist() == [1, 1, 2, 2, 2, 3, 3, 4, 10]


@pytest.fixture(scope="module")
def one_row():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.ulam(ONE_ROW, {"y": [0.5]}, chains=2, iter=2000, thin=2, seed=3, refresh=0)


def test_iter_warmup_thin_and_sampler_stats(one_row):
    s = one_row.run.settings
    assert (s["iter"], s["warmup"], s["sampling_iterations"], s["thin"], s["draws"]) == (2000, 1000, 1000, 2, 500)
    assert s["control"] == {"adapt_delta": 0.95, "max_treedepth": 10} and s["chains"] == 2
    assert one_row.samples["a"].shape == (2, 500)  # thin = 2 halves the draws
    stats_ = one_row.sampler_stats()
    assert list(stats_) == ["lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__", "divergent__",
                            "energy__"]
    assert all(v.shape == (2, 500) for v in stats_.values())
    # lp__ is the log density at the draw: here N(0.5 | a, 1) + N(a | 0, 1) exactly (scipy.stats)
    a = one_row.samples["a"]
    assert stats_["lp__"] == pytest.approx(stats.norm.logpdf(0.5, a, 1) + stats.norm.logpdf(a, 0, 1), abs=1e-10)
    flat = one_row.run.samples["params"]
    for c, i in [(0, 0), (1, 77)]:
        assert stats_["lp__"][c, i] == pytest.approx(float(one_row.density.log_density(flat[c, i])), abs=1e-10)
    assert np.all((stats_["accept_stat__"] >= 0) & (stats_["accept_stat__"] <= 1))
    assert np.all(stats_["stepsize__"] == stats_["stepsize__"][:, :1])  # adapted in warm-up, then fixed
    assert np.array_equal(stats_["treedepth__"], tree_depth(stats_["n_leapfrog__"]))
    assert set(np.unique(stats_["divergent__"])) <= {0, 1}
    # the Hamiltonian: at least the potential energy -lp__ (the kinetic energy is not negative)
    assert np.all(stats_["energy__"] >= -stats_["lp__"] - 1e-12)


def test_link_and_sim_are_draws_by_rows_for_one_row_and_scalar_definitions(one_row):
    # mu <- a is one number a draw; with one row of data it still comes back (draws, rows)
    assert one_row.link()["mu"].shape == (1000, 1)
    assert np.array_equal(one_row.link(var="mu")[:, 0], one_row.samples["a"].reshape(-1))
    assert one_row.link({"y": [0.0, 0.0, 0.0]}, var="mu").shape == (1000, 3)
    assert one_row.sim()["y"].shape == (1000, 1) and one_row.sim(pd.DataFrame({"z": range(4)}))["y"].shape == (1000, 4)
    assert ml.link(one_row, n=10)["mu"].shape == (10, 1) and ml.sim(one_row, n=10, var="y").shape == (10, 1)
    post = one_row.extract_samples(n=5)
    assert np.array_equal(one_row.link(post=post, var="mu")[:, 0], post["a"])
    with pytest.raises(ArgumentError, match="no definition named 'p'; definitions: mu"):
        one_row.link(var="p")
    with pytest.raises(ArgumentError, match="post lacks draws of 'a'"):
        one_row.link(post={"b": np.zeros(3)})


def test_link_and_sim_of_the_complete_pooling_model():
    fit = fitted("complete", COMPLETE, frogs())  # logit(p) <- a: one number a draw, 48 rows
    link = fit.link()
    assert link["p"].shape == (800, 48) and np.all(link["p"] == link["p"][:, :1])
    new = pd.DataFrame({"density": [10, 25, 35]})
    assert fit.link(new)["p"].shape == (800, 3)
    sims = fit.sim(new, seed=1)["surv"]
    assert sims.shape == (800, 3) and np.all(sims <= [10, 25, 35])
    with pytest.raises(ml.DataError, match="newdata lacks column 'density'"):
        fit.sim(pd.DataFrame({"tank": [1]}))


def test_sampler_arguments_conflicts_are_errors():
    with pytest.raises(ArgumentError, match="iter.*draws.*not both"):
        ml.ulam(ONE_ROW, {"y": [0.5]}, iter=100, draws=50)
    with pytest.raises(ArgumentError, match=r"target_accept=0.8 and control\['adapt_delta'\]=0.9"):
        ml.ulam(ONE_ROW, {"y": [0.5]}, target_accept=0.8, control={"adapt_delta": 0.9})
    with pytest.raises(ArgumentError, match="unknown key 'adapt_dleta'.*'adapt_delta', 'max_treedepth'"):
        ml.ulam(ONE_ROW, {"y": [0.5]}, control={"adapt_dleta": 0.9})


COUNTRIES = """
    y ~ dnorm(mu, sigma)
    mu <- a[country]
    a[country] ~ dnorm(a_bar, tau)
    a_bar ~ dnorm(0, 2)
    c(tau, sigma) ~ dexp(1)
"""


def _countries():
    rng = np.random.default_rng(8)
    country = np.repeat(["Uganda", "Chile", "Norway"], 6)
    y = rng.normal(np.repeat([-1.0, 0.0, 1.5], 6), 0.5)
    return pd.DataFrame({"y": y, "country": country})


@pytest.fixture(scope="module")
def country_fits():
    data = _countries()
    coded = data.assign(country=pd.factorize(data["country"], sort=True)[0] + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = ml.ulam(COUNTRIES, data, chains=2, draws=300, warmup=300, seed=4, refresh=0)
        codes = ml.ulam(COUNTRIES, coded, chains=2, draws=300, warmup=300, seed=4, refresh=0)
    return text, codes


def test_text_index_is_coded_in_sorted_level_order(country_fits):
    text, codes = country_fits
    levels = text.index_levels["country"]
    assert list(levels) == ["Chile", "Norway", "Uganda"]
    # the same model on codes 1..3 (pd.factorize, sort=True), same seed: the same draws exactly
    assert np.array_equal(text.samples["a"], codes.samples["a"])
    table = ml.precis(text, depth=2)
    assert list(table.index) == ["a[1]", "a[2]", "a[3]", "a_bar", "tau", "sigma"]
    assert list(table["level"]) == ["Chile", "Norway", "Uganda", "", "", ""]
    assert "level" not in ml.precis(codes, depth=2).columns
    variable = text.posterior_variables()["a"]
    assert variable.dims == ("country",) and list(variable.coords[0]) == ["Chile", "Norway", "Uganda"]
    assert variable.column_names() == ["a[Chile]", "a[Norway]", "a[Uganda]"]
    assert list(codes.posterior_variables()["a"].coords[0]) == [1, 2, 3]
    group_codes, group_levels, name = text.grouping()
    assert name == "country" and list(group_levels) == list(levels)
    assert np.array_equal(group_codes, pd.factorize(_countries()["country"], sort=True)[0])
    assert list(text.group_effect_table().index) == ["Chile", "Norway", "Uganda"]


def test_new_data_text_levels_map_through_the_fit(country_fits):
    text, _ = country_fits
    mu = text.link(pd.DataFrame({"country": ["Uganda", "Chile"]}), var="mu")
    a = text.samples["a"].reshape(-1, 3)
    assert np.array_equal(mu, a[:, [2, 0]])
    assert text.epred_draws(pd.DataFrame({"country": pd.Categorical(["Norway"])})).shape == (600, 1)
    with pytest.raises(ml.DataError, match="newdata column 'country' has the level 'France', which the fit did not see"):
        text.link(pd.DataFrame({"country": ["France"]}))


def test_categorical_index_keeps_category_order():
    data = _countries()
    data["country"] = pd.Categorical(data["country"], categories=["Uganda", "Norway", "Chile", "Peru"])
    from multilevel.rethinking import parse_model
    from multilevel.rethinking.graph import build_graph

    graph = build_graph(parse_model(COUNTRIES), data)
    assert list(graph.index_levels["country"]) == ["Uganda", "Norway", "Chile"]  # Peru is unused
    assert graph.data["country"].tolist() == [1] * 6 + [3] * 6 + [2] * 6


def test_fit_protocol_on_the_reedfrogs():
    fit = fitted("partial", PARTIAL, frogs())
    data = frogs()
    assert isinstance(fit, Fit)
    assert fit.engine == "ulam" and fit.bayesian and fit.nobs == 48
    assert fit.model_text.splitlines()[0] == "surv ~ dbinom(density, p)" and fit.response_name == "surv"
    assert {"summary", "observed", "observation_weights", "fitted_mean", "grouping", "group_effect_table",
            "fixed_effect_table", "draws_by_chain", "posterior_variables", "sampler_stats", "log_likelihood",
            "linpred_draws", "epred_draws", "predicted_draws"} <= set(capabilities(fit))
    assert list(fit.summary().index) == ["a_bar", "sigma"]
    assert np.allclose(fit.observed(), data["surv"] / data["density"])
    assert np.array_equal(fit.observation_weights(), data["density"].to_numpy(dtype=float))
    a = fit.samples["a"].reshape(-1, 48)
    p = 1 / (1 + np.exp(-a))
    assert np.allclose(fit.linpred_draws(), a)  # logit(p) <- a[tank]: the link scale
    assert np.allclose(fit.epred_draws(), p * data["density"].to_numpy())  # expected count n p
    assert np.allclose(fit.fitted_mean(), p.mean(axis=0))  # proportion scale, as observed()
    predicted = fit.predicted_draws(ndraws=50, seed=2)
    assert predicted.shape == (50, 48) and np.all(predicted <= data["density"].to_numpy())
    assert fit.linpred_draws(ndraws=10, seed=1).shape == (10, 48)
    new = pd.DataFrame({"tank": [3, 3], "density": [10, 20]})
    assert np.allclose(fit.epred_draws(new), p[:, [2, 2]] * [10, 20])
    with pytest.raises(ArgumentError, match="not re_formula='~0'"):
        fit.epred_draws(re_formula="~0")
    codes, levels, name = fit.grouping()
    assert name == "tank" and np.array_equal(codes, np.arange(48)) and list(levels) == list(range(1, 49))
    table = fit.group_effect_table()
    assert list(table.columns) == ["estimate", "lower", "upper"] and list(table.index) == list(range(1, 49))
    assert table["estimate"].to_numpy() == pytest.approx(a.mean(axis=0))
    assert table["lower"].to_numpy() == pytest.approx(np.quantile(a, 0.025, axis=0))
    with pytest.raises(ArgumentError, match="no parameter 'b' indexed by 'tank'; parameters: a"):
        fit.group_effect_table(term="b")
    with pytest.raises(ArgumentError, match="no index column 'pond'"):
        fit.grouping("pond")
    fixed = fit.fixed_effect_table()
    assert list(fixed.index) == ["a_bar", "sigma"]
    assert fixed.loc["sigma", "upper"] == pytest.approx(np.quantile(fit.samples["sigma"], 0.975))
    variables = fit.posterior_variables()
    assert variables["a"].dims == ("tank",) and variables["a_bar"].dims == ()
    assert variables["a"].column_names()[:2] == ["a[1]", "a[2]"]
    assert fit.log_likelihood().shape == (2, 400, 48)


def test_fit_protocol_with_several_indexed_parameters_and_a_matrix():
    fit = fitted("cafes", CAFES, cafes(), chains=4, draws=500, warmup=500)
    assert fit.grouping()[2] == "cafe"
    b = fit.group_effect_table(term="b_cafe")
    assert b["estimate"].to_numpy() == pytest.approx(fit.samples["b_cafe"].reshape(-1, 20).mean(axis=0))
    with pytest.raises(ArgumentError, match="parameters: a_cafe, b_cafe"):
        fit.group_effect_table(term="c_cafe")
    variables = fit.posterior_variables()
    assert variables["Rho"].dims == ("Rho_row", "Rho_col") and variables["sigma_cafe"].dims == ("sigma_cafe_index",)
    assert variables["b_cafe"].dims == ("cafe",) and list(fit.fixed_effect_table().index) == ["a", "b", "sigma"]


def test_the_protocol_plots_draw_an_ulam_fit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = fitted("partial", PARTIAL, frogs())
    data = frogs()
    ax = ml.plots.shrinkage(fit)  # one tank a row: the observed means are the proportions surviving
    order = np.argsort(data["density"].to_numpy(), kind="stable")
    assert np.allclose(ax.collections[0].get_offsets()[:, 1], (data["surv"] / data["density"]).to_numpy()[order])
    assert np.allclose(ax.collections[1].get_offsets()[:, 1], fit.fitted_mean()[order])
    ax = ml.plots.caterpillar(fit, term="a")
    assert np.allclose(ax.lines[0].get_xdata(), np.sort(fit.group_effect_table()["estimate"].to_numpy()))
    ax = ml.plots.pp_check(fit, ndraws=10)
    assert len(ax.lines) == 11 and ax.get_xlabel() == "surv"
    plt.close("all")


def test_to_arviz_keeps_the_index_labels(country_fits):
    text, _ = country_fits
    tree = text.to_arviz()
    assert list(tree.posterior["a"].dims) == ["chain", "draw", "country"]
    assert list(tree.posterior["country"].values) == ["Chile", "Norway", "Uganda"]
    assert np.array_equal(tree.posterior["a"].values, text.samples["a"])
    assert np.array_equal(tree.sample_stats["lp"].values, text.sampler_stats()["lp__"])
    assert tree.log_likelihood["y"].shape == (2, 300, 18) and tree.observed_data["y"].shape == (18,)


@pytest.mark.slow  # compiles vectorized NUTS (~9 s)
def test_chains_run_vectorized_where_devices_are_fewer_than_chains():
    """The GPU path: one accelerator holds all chains, vectorized (jax.vmap) on it. On CPU the same path
    runs when there are more chains than JAX devices; the draws are as good as the parallel ones."""
    import jax

    chains = jax.local_device_count() + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.ulam(ONE_ROW, {"y": [0.5]}, chains=chains, iter=600, seed=4, refresh=0)
    s = fit.run.settings
    assert s["chain_method"] == "vectorized" and s["backend"] == jax.default_backend()
    assert fit.samples["a"].shape == (chains, 300)
    # the posterior is N(0.25, 1/2): every chain's mean within 4 Monte Carlo standard errors of it
    a = fit.samples["a"]
    assert np.abs(a.mean() - 0.25) < 4 * np.sqrt(0.5 / a.size) * 3  # ESS per draw >= 1/9 here
    assert len({round(float(v), 12) for v in a[:, -1]}) == chains  # the chains differ


def test_math_writes_each_line_as_the_book():
    """fit.math() (issue 15): Statistical Rethinking's notation, one line per statement; parsed by mathtext."""
    from matplotlib.mathtext import MathTextParser

    fit = fitted("partial", PARTIAL, frogs())
    lines = dict(fit.math().lines)
    assert lines[r"\text{surv}_i"] == r"\sim \operatorname{Binomial}\left(\text{density}_i, p_{i}\right)"
    assert lines[r"\operatorname{logit}\left(p_{i}\right)"] == r"= \alpha_{\text{tank}[i]}"
    assert lines[r"\alpha_{j}"] == r"\sim \operatorname{Normal}\left(\bar{\alpha}, \sigma\right)"
    assert lines[r"\sigma"] == r"\sim \operatorname{Exponential}\left(1\right)"
    assert fit.math().notes == ["j indexes the levels of tank"]
    filled = dict(fit.math(numbers=True).lines)[r"\alpha_{j}"]
    assert r"\bar{\alpha}" not in filled and r"\sigma" not in filled  # posterior means in their place
    parser = MathTextParser("path")
    for line in fit.math().mathtext_lines() + fit.math(numbers=True).mathtext_lines():
        parser.parse(line, dpi=72)
    with pytest.raises(ml.MultilevelError, match="line by line"):
        fit.math("levels")


def test_diagram_reads_the_statements():
    """fit.diagram() (issue 15): data shaded, the definition dashed, the tank plate and the observations'."""
    import matplotlib.pyplot as plt

    fig = fitted("partial", PARTIAL, frogs()).diagram()
    patches = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}
    assert {g for g in patches if g.startswith("plate:")} == {"plate:observations", "plate:tank"}
    shaded = sorted(g[5:] for g, p in patches.items() if g.startswith("node:") and p.get_facecolor()[0] < 0.95)
    assert shaded == ["density", "surv"]
    assert patches["node:p"].get_linestyle() == "--"  # logit(p) <- a[tank]: deterministic
    graph = fig.multilevel_graph
    assert ("a", "p") in graph.edges and ("a_bar", "a") in graph.edges and ("p", "surv") in graph.edges
    assert next(n for n in graph.nodes if n.name == "a").plate == "tank"
    plt.close(fig)


@pytest.mark.slow  # two varying-slopes fits of their own
def test_math_of_the_varying_slopes_models():
    """fit.math() (issue 15) of the lecture's varying-slopes models: the grouped prior as a vector, R for Rho."""
    cafe = fitted("cafes", CAFES, cafes(), chains=4, draws=500, warmup=500)
    lines = dict(cafe.math().lines)
    assert lines[r"\mu_{i}"] == (r"= \alpha_{\text{cafe}, \text{cafe}[i]} + \beta_{\text{cafe}, \text{cafe}[i]} "
                                 r"\text{afternoon}_i")
    grouped = r"\begin{bmatrix} \alpha_{\text{cafe}, j} \\ \beta_{\text{cafe}, j} \end{bmatrix}"
    assert lines[grouped] == (r"\sim \operatorname{MVNormal}\left(\begin{bmatrix} \alpha \\ \beta \end{bmatrix}, "
                              r"\mathbf{R}, \sigma_{\text{cafe}}\right)")
    assert lines[r"\mathbf{R}"] == r"\sim \operatorname{LKJcorr}\left(2\right)"
    gap = fitted("gap_correlated_math", GAPMINDER_CORRELATED, gapminder())
    lines = dict(gap.math().lines)
    assert lines[r"\mu_{i}"] == r"= \alpha_{\text{cid}[i]} + \beta_{\text{cid}[i]} \text{year}_i"
    assert gap.math().notes == ["j indexes the levels of cid"]
