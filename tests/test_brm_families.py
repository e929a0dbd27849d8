"""brms's further families in brm (issue 13): densities against scipy.stats, brms's means, names and
default priors, small generated fits that recover the truth, and bad responses as our DataError.

Densities (brms 2.18's Stan code, ``inst/chunks/fun_*.stan`` and ``R/stan-likelihood.R``) are checked
at random points to 1e-10 against scipy.stats, or against the closed form written out here from the
Stan code where scipy has no such distribution. Fits are 2 chains x 300 iterations (seed fixed);
three run in the fast tier, the other families are ``slow``, as are the SBC runs and the comparisons
with brms's own fits (tests/fixtures/brms_issue13.json, 4 chains x 2000 draws).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import multilevel as ml
from multilevel.bayes import fit as brm_fit  # noqa: F401  (JAX started with x64)
from multilevel.bayes.distributions import ResponseDistribution, skew_normal_direct
from multilevel.bayes.likelihood import make_likelihood
from multilevel.errors import ArgumentError, DataError

RNG = np.random.default_rng(20261130)
N = 40


def _uniform(low, high, n=N):
    return RNG.uniform(low, high, n)


def _counts(n=N):
    return np.concatenate([np.zeros(5), RNG.integers(1, 30, n - 5)]).astype(float)


def _lpmf(name, y, **params):
    return np.asarray(ResponseDistribution(name, **params).log_prob(y))


# ---- (a) log densities -------------------------------------------------------------------------
def test_zero_inflated_poisson_and_negbinomial_as_brms_stan_code():
    # fun_zero_inflated_poisson.stan: y == 0: log_sum_exp(log(zi), log1m(zi) + poisson_lpmf(0 | mu)),
    # else log1m(zi) + poisson_lpmf(y | mu); the negbinomial one with neg_binomial_2(mu, shape)
    y, mu, zi, shape = _counts(), _uniform(0.1, 20), _uniform(0.01, 0.99), _uniform(0.2, 30)
    pois = stats.poisson(mu)
    expected = np.where(y == 0, np.log(zi + (1 - zi) * pois.pmf(0)), np.log1p(-zi) + pois.logpmf(y))
    np.testing.assert_allclose(_lpmf("zero_inflated_poisson", y, mu=mu, zi=zi), expected, rtol=1e-10, atol=1e-10)
    nb = stats.nbinom(shape, shape / (mu + shape))  # scipy's (n, p): mean mu, variance mu + mu^2 / shape
    expected = np.where(y == 0, np.log(zi + (1 - zi) * nb.pmf(0)), np.log1p(-zi) + nb.logpmf(y))
    np.testing.assert_allclose(_lpmf("zero_inflated_negbinomial", y, mu=mu, shape=shape, zi=zi), expected,
                               rtol=1e-10, atol=1e-10)


def test_hurdle_families_as_brms_stan_code():
    # fun_hurdle_*.stan: y == 0: log(hu); else log1m(hu) + lpmf(y) - log(P(y > 0))
    y, mu, hu, shape = _counts(), _uniform(0.1, 20), _uniform(0.01, 0.99), _uniform(0.2, 30)
    for name, counts, params in [("hurdle_poisson", stats.poisson(mu), {}),
                                 ("hurdle_negbinomial", stats.nbinom(shape, shape / (mu + shape)), {"shape": shape})]:
        expected = np.where(y == 0, np.log(hu), np.log1p(-hu) + counts.logpmf(y) - counts.logsf(0))
        np.testing.assert_allclose(_lpmf(name, y, mu=mu, hu=hu, **params), expected, rtol=1e-10, atol=1e-10)
    y = np.where(RNG.random(N) < 0.3, 0.0, _uniform(0.01, 50))
    sigma = _uniform(0.1, 3)
    log_mu = _uniform(-2, 3)
    expected = np.where(y == 0, np.log(hu),
                        np.log1p(-hu) + stats.lognorm(sigma, scale=np.exp(log_mu)).logpdf(np.where(y > 0, y, 1)))
    np.testing.assert_allclose(_lpmf("hurdle_lognormal", y, mu=log_mu, sigma=sigma, hu=hu), expected, rtol=1e-10)


def test_continuous_families_against_scipy():
    mu, sigma = _uniform(-3, 3), _uniform(0.2, 4)
    # beta: beta(mu phi, (1 - mu) phi) (stan_log_lik_beta)
    p, phi, y = _uniform(0.05, 0.95), _uniform(0.5, 80), _uniform(0.001, 0.999)
    np.testing.assert_allclose(_lpmf("beta", y, mu=p, phi=phi), stats.beta(p * phi, (1 - p) * phi).logpdf(y),
                               rtol=1e-10)
    # exponential: rate 1 / mu; weibull: weibull(shape, mu / tgamma(1 + 1 / shape)) (stan_log_lik_weibull)
    positive, mean, shape = _uniform(0.01, 40), _uniform(0.5, 20), _uniform(0.3, 8)
    np.testing.assert_allclose(_lpmf("exponential", positive, mu=mean), stats.expon(scale=mean).logpdf(positive),
                               rtol=1e-10)
    weibull = stats.weibull_min(shape, scale=mean / special.gamma(1 + 1 / shape))
    np.testing.assert_allclose(_lpmf("weibull", positive, mu=mean, shape=shape), weibull.logpdf(positive), rtol=1e-10)
    # shifted_lognormal: lognormal_lpdf(y - ndt | mu, sigma)
    ndt = _uniform(0, 0.5)
    np.testing.assert_allclose(_lpmf("shifted_lognormal", positive + 0.5, mu=mu, sigma=sigma, ndt=ndt),
                               stats.lognorm(sigma, loc=ndt, scale=np.exp(mu)).logpdf(positive + 0.5), rtol=1e-10)
    # exgaussian: exp_mod_normal(y | mu - beta, sigma, 1 / beta) = scipy's exponnorm(K = beta / sigma)
    beta, y = _uniform(0.1, 5), _uniform(-10, 20)
    np.testing.assert_allclose(_lpmf("exgaussian", y, mu=mu, sigma=sigma, beta=beta),
                               stats.exponnorm(beta / sigma, loc=mu - beta, scale=sigma).logpdf(y), rtol=1e-10)
    # skew_normal: brms's mean/sd form; xi, omega written out from R/stan-predictor.R
    alpha = _uniform(-8, 8)
    delta = alpha / np.sqrt(1 + alpha**2)
    omega = sigma / np.sqrt(1 - 2 / np.pi * delta**2)
    xi = mu - omega * delta * np.sqrt(2 / np.pi)
    np.testing.assert_allclose(_lpmf("skew_normal", y, mu=mu, sigma=sigma, alpha=alpha),
                               stats.skewnorm(alpha, loc=xi, scale=omega).logpdf(y), rtol=1e-10)


@pytest.mark.parametrize("link, inverse", [("probit", stats.norm.cdf), ("cloglog", lambda e: -np.expm1(-np.exp(e))),
                                           ("logit", special.expit)])
def test_binomial_links_against_scipy(link, inverse):
    eta, trials = _uniform(-4, 2), RNG.integers(1, 20, N).astype(float)
    y = np.floor(RNG.random(N) * (trials + 1))
    values = _lpmf("binomial_link", y, eta=eta, trials=trials, link=link)
    np.testing.assert_allclose(values, stats.binom(trials, inverse(eta)).logpmf(y), rtol=1e-10)


def test_means_are_brms_posterior_epred_and_draws_follow_them():
    # R/posterior_epred.R; each against the mean of the scipy distribution, and 40,000 draws against it
    import jax
    import jax.numpy as jnp

    from multilevel.bayes.distributions import mean

    shape, sigma = 3.0, 0.7
    cases = {  # name: (mu, extra, scipy mean)
        "zero_inflated_poisson": (4.0, {"zi": 0.3}, 0.7 * 4.0),
        "zero_inflated_negbinomial": (4.0, {"shape": shape, "zi": 0.3}, 0.7 * 4.0),
        "hurdle_poisson": (2.0, {"hu": 0.3}, 0.7 * stats.poisson(2.0).mean() / stats.poisson(2.0).sf(0)),
        "hurdle_negbinomial": (2.0, {"shape": shape, "hu": 0.3},
                               0.7 * 2.0 / stats.nbinom(shape, shape / (2.0 + shape)).sf(0)),
        "hurdle_lognormal": (1.0, {"sigma": sigma, "hu": 0.3}, 0.7 * stats.lognorm(sigma, scale=np.e).mean()),
        "beta": (0.3, {"phi": 10.0}, 0.3),
        "exponential": (2.0, {}, 2.0),
        "weibull": (2.0, {"shape": shape}, stats.weibull_min(shape, scale=2.0 / special.gamma(1 + 1 / shape)).mean()),
        "shifted_lognormal": (1.0, {"sigma": sigma, "ndt": 0.4}, 0.4 + stats.lognorm(sigma, scale=np.e).mean()),
        "exgaussian": (1.0, {"sigma": sigma, "beta": 2.0}, stats.exponnorm(2.0 / sigma, loc=-1.0, scale=sigma).mean()),
        "skew_normal": (1.0, {"sigma": sigma, "alpha": 4.0}, stats.skewnorm(
            4.0, *skew_normal_direct(1.0, sigma, 4.0, np)[:2]).mean()),
    }
    for name, (mu, extra, expected) in cases.items():
        assert float(mean(name, None, jnp.asarray(mu), extra, jnp)) == pytest.approx(expected, rel=1e-10), name
        draws = ResponseDistribution(name, mu=mu, **extra).sample(jax.random.PRNGKey(1), (40000,))
        assert abs(draws.mean() - expected) < 5 * draws.std() / np.sqrt(len(draws)), name
        if name.startswith("hurdle"):
            assert np.mean(draws == 0) == pytest.approx(extra["hu"], abs=0.01) and draws.min() >= 0
    sd = ResponseDistribution("skew_normal", mu=1.0, sigma=sigma, alpha=4.0).sample(jax.random.PRNGKey(2), (40000,))
    assert sd.std() == pytest.approx(sigma, rel=0.02)  # brms's sigma is the sd


def test_unit_and_interval_parameters_have_their_jacobian():
    # zi through the logistic, ndt through min(y) * logistic: log |d value / d raw| by finite differences
    import jax.numpy as jnp

    data = pd.DataFrame({"y": [0.5, 0.8, 1.3, 2.0], "x": [0.0, 1.0, 2.0, 3.0]})
    design, likelihood = brm_fit.design_and_likelihood("y ~ x", data, "shifted_lognormal")
    from multilevel.bayes.model import ParameterVector, build_layout

    layout = build_layout(design, likelihood, [])
    vector = ParameterVector(layout)
    assert [k for _, _, k in vector.blocks] == ["real", "real", "positive", "interval"]
    flat = jnp.asarray([0.1, 0.2, -0.3, 0.7])
    values, log_jac = vector.unpack(flat)
    assert 0 < float(values["ndt"]) < 0.5
    step = 1e-6
    ndt = lambda r: float(vector.unpack(flat.at[3].set(r))[0]["ndt"])  # noqa: E731
    derivative = (ndt(0.7 + step) - ndt(0.7 - step)) / (2 * step)
    assert float(log_jac) == pytest.approx(-0.3 + np.log(derivative), rel=1e-7)


# ---- names, priors and errors ------------------------------------------------------------------
def test_family_and_link_errors_are_ours():
    with pytest.raises(ArgumentError, match="valid links: logit, probit, cloglog"):
        make_likelihood("bernoulli", "log")
    with pytest.raises(ArgumentError, match="Did you mean 'zero_inflated_poisson'"):
        make_likelihood("zero_inflated_poison")
    with pytest.raises(ArgumentError, match="valid links: log"):
        make_likelihood("hurdle_poisson", "identity")
    with pytest.raises(ArgumentError, match="contradicts"):
        make_likelihood(ml.families.binomial("probit"), "logit")
    assert make_likelihood(ml.families.binomial("cloglog")).link_name == "cloglog"


BAD_RESPONSES = [
    ("zero_inflated_poisson", [0, 1, 2.5], "counts"),
    ("hurdle_negbinomial", [0, -1, 2], "counts"),
    ("hurdle_lognormal", [0, -0.5, 2], "zero or positive"),
    ("beta", [0.2, 1.0, 0.5], "strictly between 0 and 1"),
    ("exponential", [1, 0, 2], "positive"),
    ("weibull", [1, -2, 2], "positive"),
    ("shifted_lognormal", [0, 1, 2], "positive"),
    ("hurdle_poisson", [0, 1, 1.5], "counts"),
    ("zero_inflated_negbinomial", [0, -2, 1], "counts"),
]


@pytest.mark.parametrize("family, y, match", BAD_RESPONSES)
def test_bad_responses_are_our_data_error(family, y, match):
    data = pd.DataFrame({"rt": y * 2, "x": [0.0, 1.0, 2.0] * 2})
    with pytest.raises(DataError, match=f"{family} response 'rt' must be .*{match}"):
        ml.brm("rt ~ x", data, family=family, chains=1, iter=20)


# ---- (b) fits --------------------------------------------------------------------------------
def _generate(family: str, n: int = 300, seed: int = 5) -> tuple[pd.DataFrame, dict]:
    """A data set and its truth (brms names); the generators use numpy/scipy, not our code."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    eta = 0.5 + 0.4 * x
    truth = {"b_Intercept": 0.5, "b_x": 0.4}
    mu = np.exp(eta)
    if family == "zero_inflated_poisson":
        y, truth["zi"] = np.where(rng.random(n) < 0.3, 0, rng.poisson(mu)), 0.3
    elif family == "zero_inflated_negbinomial":
        y = np.where(rng.random(n) < 0.3, 0, rng.poisson(rng.gamma(5.0, mu / 5.0)))
        truth.update(shape=5.0, zi=0.3)
    elif family in ("hurdle_poisson", "hurdle_negbinomial"):
        counts = stats.poisson(mu) if family == "hurdle_poisson" else stats.nbinom(5.0, 5.0 / (mu + 5.0))
        positive = counts.ppf(counts.cdf(0) + rng.random(n) * counts.sf(0))
        y = np.where(rng.random(n) < 0.3, 0, np.maximum(positive, 1))
        truth.update(hu=0.3, **({"shape": 5.0} if family == "hurdle_negbinomial" else {}))
    elif family == "hurdle_lognormal":
        y = np.where(rng.random(n) < 0.25, 0, np.exp(eta + rng.normal(0, 0.6, n)))
        truth.update(sigma=0.6, hu=0.25)
    elif family == "beta":
        p = special.expit(eta)
        y, truth["phi"] = rng.beta(p * 20, (1 - p) * 20), 20.0
    elif family == "exponential":
        y = rng.exponential(mu)
    elif family == "weibull":
        y, truth["shape"] = mu / special.gamma(1.5) * rng.weibull(2.0, n), 2.0
    elif family == "shifted_lognormal":
        y = 2.0 + np.exp(eta + rng.normal(0, 0.4, n))
        truth.update(sigma=0.4, ndt=2.0)
    elif family == "exgaussian":  # mu is the mean: 400 + 150 at x = 0
        y = 400 + 30 * x + rng.normal(0, 40, n) + rng.exponential(150, n)
        truth = {"b_Intercept": 550.0, "b_x": 30.0, "sigma": 40.0, "beta": 150.0}
    elif family == "skew_normal":
        xi, omega, _ = skew_normal_direct(eta, 1.0, 4.0, np)
        y = stats.skewnorm(4.0, loc=xi, scale=omega).rvs(random_state=rng)
        truth.update(sigma=1.0, alpha=4.0)
    elif family in ("bernoulli_probit", "bernoulli_cloglog"):
        p = stats.norm.cdf(eta) if family.endswith("probit") else -np.expm1(-np.exp(eta))
        y = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"y": y, "x": x}), truth


_FITS: dict = {}


def _fit(family: str):
    if family not in _FITS:
        data, truth = _generate(family)
        name, _, link = family.partition("_") if family.startswith("bernoulli") else (family, "", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ml.brm("y ~ x", data, family=name, link=link or None, chains=2, iter=300, seed=1, refresh=0)
        _FITS[family] = fit, data, truth
    return _FITS[family]


# brms 2.18's default priors of the further parameters (R/priors.R: def_dprior, dpar_bounds): (prior, lb, ub)
BRMS_DPAR_PRIORS = {"zi": ("beta(1, 1)", "0", "1"), "hu": ("beta(1, 1)", "0", "1"),
                    "shape": ("gamma(0.01, 0.01)", "0", ""), "phi": ("gamma(0.01, 0.01)", "0", ""),
                    "beta": ("gamma(1, 0.1)", "0", ""), "alpha": ("normal(0, 4)", "", ""),
                    "ndt": ("uniform(0, min_Y)", "0", "min_Y")}
# brms's dpars per family, in brms's order (R/family-lists.R)
BRMS_DPARS = {"zero_inflated_poisson": ["zi"], "zero_inflated_negbinomial": ["shape", "zi"],
              "hurdle_poisson": ["hu"], "hurdle_negbinomial": ["shape", "hu"], "hurdle_lognormal": ["sigma", "hu"],
              "beta": ["phi"], "exponential": [], "weibull": ["shape"], "shifted_lognormal": ["sigma", "ndt"],
              "exgaussian": ["sigma", "beta"], "skew_normal": ["sigma", "alpha"], "bernoulli_probit": [],
              "bernoulli_cloglog": []}
LOG_SCALE = ("hurdle_lognormal", "shifted_lognormal")  # brms's has_logscale: priors read log(y)
LINKS = {"zero_inflated_poisson": "log", "zero_inflated_negbinomial": "log", "hurdle_poisson": "log",
         "hurdle_negbinomial": "log", "exponential": "log", "weibull": "log", "beta": "logit",
         "bernoulli_probit": "probit", "bernoulli_cloglog": "cloglog"}


def brms_scale_prior(y: np.ndarray, link: str) -> tuple[float, float]:
    """brms's def_scale_prior (R/priors.R), written out: (location, scale) of the Intercept's student_t."""
    if link not in ("identity", "log"):
        return 0.0, 2.5
    if link == "log":
        y = np.log(np.where(y == 0, 0.1, y))
    mad = 1.4826 * np.median(np.abs(y - np.median(y)))
    return round(float(np.median(y)), 1), max(2.5, round(mad, 1))


def _check_fit(family: str):
    fit, data, truth = _fit(family)
    # names as brms's variables(): b_Intercept, b_x, then the family's parameters in brms's order
    assert list(fit.draws(include_group_effects=False).columns[:-3]) == ["b_Intercept", "b_x"] + BRMS_DPARS[family]
    table = fit.parameter_summary()
    for name, value in truth.items():  # the truth within 4 posterior sds
        estimate, sd = table.loc[name, "Estimate"], table.loc[name, "Est.Error"]
        assert abs(estimate - value) < 4 * sd, (family, name, estimate, sd, value)
    # the prior table as brms's prior_summary
    link = "log" if family in LOG_SCALE else LINKS.get(family, "identity")
    location, scale = brms_scale_prior(data["y"].to_numpy(float), link)
    rows = {r["class"]: (r["prior"], r["lb"], r["ub"]) for _, r in fit.prior_summary().iterrows()}
    assert rows["Intercept"] == (f"student_t(3, {location:g}, {scale:g})", "", "")
    for name in BRMS_DPARS[family]:
        expected = BRMS_DPAR_PRIORS.get(name, (f"student_t(3, 0, {scale:g})", "0", ""))
        assert rows[name] == expected, (family, name)
    assert set(rows) == {"b", "Intercept", *BRMS_DPARS[family]}
    # summary: brms's links line and the further parameters
    text = str(fit)
    assert f"Family: {family.split('_')[0] if family.startswith('bernoulli') else family}" in text
    assert "Links: mu = " + "; ".join([link if family not in LOG_SCALE else "identity"]
                                      + [f"{p} = identity" for p in BRMS_DPARS[family]]) in text
    if BRMS_DPARS[family]:
        assert "Further Distributional Parameters:" in text
    # epred is brms's mean from the draws, predict draws around it, log-lik for loo
    draws = fit.draws(include_group_effects=False)
    epred = fit.posterior_epred()
    eta = draws["b_Intercept"].to_numpy()[:, None] + draws["b_x"].to_numpy()[:, None] * data["x"].to_numpy()
    from multilevel.bayes.distributions import mean

    extra = {p: draws[p].to_numpy()[:, None] for p in BRMS_DPARS[family]}
    mu = np.asarray(fit.likelihood.inverse_link(eta))
    np.testing.assert_allclose(epred, np.asarray(mean(fit.likelihood.name, eta, mu, extra, np)), rtol=1e-9)
    predicted = fit.posterior_predict(seed=3)
    assert predicted.shape == epred.shape
    assert abs(predicted.mean() - epred.mean()) < 5 * predicted.std() / np.sqrt(predicted.size) + 0.02 * abs(epred.mean())
    log_lik = fit.log_likelihood()
    assert log_lik.shape == (2, 150, len(data)) and np.isfinite(log_lik).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(fit.loo().estimates.loc["elpd_loo", "Estimate"])


FAST = ["zero_inflated_poisson"]  # one in the default run; the others (~6 s each) with -m slow
SLOW = [f for f in BRMS_DPARS if f not in FAST]


@pytest.mark.parametrize("family", FAST)
def test_small_fit_recovers_truth_with_brms_names_and_priors(family):
    _check_fit(family)


@pytest.mark.slow
@pytest.mark.parametrize("family", SLOW)
def test_small_fit_recovers_truth_with_brms_names_and_priors_slow(family):
    _check_fit(family)


# ---- simulation-based calibration (slow): the new parameter kinds are calibrated -----------------
@pytest.mark.slow
@pytest.mark.parametrize("family, priors, variables", [
    ("zero_inflated_poisson", [ml.prior("normal(0.5, 0.5)", class_="Intercept"), ml.prior("normal(0, 0.5)")],
     ["b_Intercept", "b_x", "zi"]),
    ("hurdle_lognormal", [ml.prior("normal(1, 0.5)", class_="Intercept"), ml.prior("normal(0, 0.5)"),
                          ml.prior("exponential(2)", class_="sigma")], ["b_Intercept", "b_x", "sigma", "hu"]),
])
def test_simulation_based_calibration(family, priors, variables):
    # zi and hu keep brms's default beta(1, 1); 50 simulations, ranks 0..99, chi-square over 10 bins
    # at level 0.001 per variable (as tests/test_sbc_helper.py)
    data, _ = _generate(family, n=60, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ml.sbc("y ~ x", data, family=family, priors=priors, nsim=50, thin_to=99, warmup=400, draws=500,
                        chains=2, variables=variables, seed=20261130, scheduler="synchronous")
    assert result.failed == 0
    table = result.summary(bins=10)
    assert (table["p_value"] > 0.001).all(), table


# ---- brms's own fits (tests/fixtures/brms_issue13.json: brms 2.18.0, 4 chains x 2000 draws) -------
REFERENCE_MODELS = ["zip_generated", "hurdle_lognormal_generated", "exgaussian_generated",
                    "shifted_lognormal_generated"]


def _reference(name: str):
    from pathlib import Path

    from conftest import FIXTURES, load_fixture

    fits = load_fixture("brms_issue13.json")["fits"] if (FIXTURES / "brms_issue13.json").exists() else {}
    path = Path(FIXTURES) / f"brms_issue13_{name}.csv"
    if name not in fits or "error" in fits[name] or not path.exists():
        pytest.skip(f"brms reference fit {name} not in tests/fixtures yet")
    return fits[name], pd.read_csv(path)


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_prior_table_is_brms_prior_summary(name):
    # brms's prior_summary(fit) rows (class, coef, group) in its order, and where brms writes a prior
    # (its inherited rows are empty: printed as "(vectorized)") the same text and bounds
    from multilevel.bayes.model import build_layout
    from multilevel.bayes.prior_table import prior_rows

    ref, data = _reference(name)
    design, likelihood = brm_fit.design_and_likelihood(ref["formula"], data, ref["family"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = prior_rows(build_layout(design, likelihood, []), [])
    assert [(r["class"], r["coef"], r["group"]) for r in ours] == \
        [(r["class"], r["coef"], r["group"]) for r in ref["priors"]]
    for row, theirs in zip(ours, ref["priors"]):
        if theirs["prior"]:
            assert (row["prior"], row["lb"], row["ub"]) == (theirs["prior"], theirs["lb"], theirs["ub"]), row


@pytest.mark.slow
@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_posterior_means_agree_with_brms(name):
    # |ours - brms| <= 4 sqrt(mcse_ours^2 + mcse_brms^2) for every parameter brms reports (the
    # fixture's rule); MCSE of the mean from ArviZ (arviz_stats), brms's from posterior
    import arviz_stats

    ref, data = _reference(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm(ref["formula"], data, family=ref["family"], chains=4, warmup=1000, draws=1000, seed=1,
                     refresh=0)
    draws = fit.draws_by_chain()
    worst = {}
    for param, values in ref["params"].items():
        if param not in draws or values["mcse_mean"] == "NA":
            continue
        ours = np.asarray(draws[param], dtype=float)
        mcse = float(arviz_stats.mcse(ours, method="mean"))
        worst[param] = abs(ours.mean() - values["mean"]) / np.hypot(mcse, float(values["mcse_mean"]))
    assert worst and all(v <= 4 for v in worst.values()), worst
