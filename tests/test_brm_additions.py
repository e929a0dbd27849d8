"""brm's response additions se() and weights() (issue 13): parsing, the likelihood they define, errors."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.errors import ArgumentError, DataError, FormulaError
from multilevel.formula import parse_formula

SHORT = dict(chains=2, iter=300, seed=3, refresh=0)


def eight_schools() -> pd.DataFrame:
    # Rubin (1981), Gelman et al. BDA table 5.2 (as ../shared/data/eightschools.csv)
    return pd.DataFrame({"school": list("ABCDEFGH"), "y": [28.0, 8, -3, 7, -1, 1, 18, 12],
                         "sigma": [15.0, 10, 16, 11, 9, 11, 10, 18]})


@pytest.mark.parametrize("text, additions", [
    ("y | se(s) ~ 1", (("se", "s"),)),
    ("y | se(s, sigma = TRUE) ~ 1", (("se", "s"), ("se.sigma", "TRUE"))),
    ("y | se(2 * s, sigma = F) + weights(w) ~ x", (("se", "2 * s"), ("se.sigma", "FALSE"), ("weights", "w"))),
])
def test_se_and_weights_parse(text, additions):
    assert parse_formula(text).response_additions == additions


@pytest.mark.parametrize("text, message", [
    ("y | se(s, sd = TRUE) ~ 1", "only sigma = TRUE/FALSE"),
    ("y | se(s, sigma = yes) ~ 1", "must be TRUE or FALSE"),
    ("y | se(, sigma = TRUE) ~ 1", "needs an expression"),
    ("y | weights(w, 2) ~ 1", "takes one expression"),
    ("y | se(s) + se(t) ~ 1", "given twice"),
    ("y | censor(c) ~ 1", "unknown response addition 'censor'"),  # cens() is known since issue 13 point 2
])
def test_bad_additions_name_the_fault(text, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(text)


@pytest.fixture(scope="module")
def schools():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("y | se(sigma) ~ 1 + (1 | school)", eight_schools(), **SHORT)


def test_known_standard_errors_replace_sigma(schools):
    # brms's se(sigma) with sigma = FALSE: y_j ~ N(mu + r_j, se_j), no sigma parameter or prior
    assert "sigma" not in schools.layout.family_params and "sigma" not in schools.draws()
    assert "sigma" not in set(schools.prior_summary()["class"])
    assert schools.run.settings["parameterization"] == "school Intercept: non-centered"
    d = eight_schools()
    mu = schools.posterior_linpred()
    ll = schools.log_likelihood().reshape(mu.shape)
    assert np.max(np.abs(ll - stats.norm.logpdf(d.y.to_numpy(), mu, d.sigma.to_numpy()))) < 1e-10
    # predictions carry the known error: draws spread by at least se around the linear predictor
    predicted = schools.posterior_predict(seed=1)
    assert np.std(predicted - mu, axis=0) == pytest.approx(d.sigma.to_numpy(), rel=0.15)
    with pytest.raises(DataError, match="newdata lacks.*sigma"):
        schools.posterior_predict(newdata=d.drop(columns="sigma"))


@pytest.mark.slow  # a fit of its own (~5 s)
def test_se_with_sigma_adds_the_variances():
    data = eight_schools().assign(x=np.arange(8.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("y | se(sigma, sigma = TRUE) ~ x", data, **SHORT)
    assert "sigma" in fit.draws()
    mu, sigma = fit.posterior_linpred(), fit.draws()["sigma"].to_numpy()[:, None]
    scale = np.sqrt(sigma**2 + data.sigma.to_numpy() ** 2)
    assert np.max(np.abs(fit.log_likelihood().reshape(mu.shape) - stats.norm.logpdf(data.y.to_numpy(), mu, scale))) < 1e-10


def test_weights_multiply_each_rows_log_likelihood():
    d = ml.datasets.load("sleepstudy").assign(w=lambda f: 1.0 + f.Days % 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("Reaction | weights(w) ~ Days + (1 | Subject)", d, **SHORT)
    # the effects are sampled (the integrated-out form assumes equal weights)
    assert "integrated out" not in fit.run.settings["parameterization"]
    mu, sigma = fit.posterior_linpred(), fit.draws()["sigma"].to_numpy()[:, None]
    expected = d.w.to_numpy() * stats.norm.logpdf(d.Reaction.to_numpy(), mu, sigma)
    assert np.max(np.abs(fit.log_likelihood().reshape(mu.shape) - expected)) < 1e-9


@pytest.mark.slow  # a fit of its own (~6 s)
def test_weighted_bernoulli_rows_are_not_summed_into_patterns():
    b = ml.datasets.load("bangladesh").head(200).assign(w=lambda f: 1.0 + np.arange(len(f)) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("use.contraception | weights(w) ~ urban", b, family="bernoulli", **SHORT)
    assert fit.run.settings["likelihood"] == "200 rows"
    p = 1 / (1 + np.exp(-fit.posterior_linpred()))
    y = b["use.contraception"].to_numpy()
    expected = b.w.to_numpy() * stats.bernoulli.logpmf(y, p)
    assert np.max(np.abs(fit.log_likelihood().reshape(p.shape) - expected)) < 1e-9


def test_addition_errors_are_ours():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 2, 3, 4], "s": [1.0, -1, 1, 1], "g": list("abab")})
    with pytest.raises(ArgumentError, match="se\\(\\) in the response is for the gaussian and student"):
        ml.brm("y | se(s) ~ x", data, family="poisson")
    with pytest.raises(DataError, match=r"se\(s\) must not be negative"):
        ml.brm("y | se(s) ~ x", data)
    with pytest.raises(DataError, match="column 'g'.*not numeric"):
        ml.brm("y | weights(g) ~ x", data)
    with pytest.raises(DataError, match="trials"):  # lmer reads no brms additions
        ml.lmer("y | se(s) ~ x + (1 | g)", data)


def test_zero_plus_intercept_is_an_uncentered_coefficient():
    """brms's ``0 + Intercept``: the intercept as a class-b coefficient (b_Intercept), predictors
    uncentered, so a prior on it is a prior on the value at x = 0 (brms's ``coef = Intercept``)."""
    d = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("Reaction ~ 0 + Intercept + Days", d, **SHORT,
                     priors=[ml.prior("normal(250, 50)", class_="b", coef="Intercept")])
    assert not fit.layout.intercept and fit.layout.b_names == ("Intercept", "Days")
    assert np.all(fit.layout.x_means == 0)
    table = fit.prior_summary()
    row = table[(table["class"] == "b") & (table["coef"] == "Intercept")]
    assert row["prior"].tolist() == ["normal(250, 50)"] and "Intercept" not in set(table["class"])
    assert 240 < fit.fixef().loc["Intercept", "Estimate"] < 265  # lm: 251.4
    # new data need no Intercept column: it is added, as at fit time
    assert np.allclose(fit.posterior_epred(newdata=d.head(3)), fit.posterior_epred()[:, :3])
    with pytest.raises(ArgumentError, match="0 \\+ Intercept"):
        ml.brm("Reaction ~ Intercept + Days", d, **SHORT)


def test_model_code_reads_as_the_sampler_runs(schools):
    """fit.model_code(): brms's stancode, as a description of what NumPyro samples."""
    code = schools.model_code()
    assert code.startswith("// y | se(sigma) ~ 1 + (1 | school)")
    assert "matrix[1, 8] u_1;  // non-centered: r = sd u, u ~ N(0, 1)" in code
    assert "target += gaussian_lpdf(y | eta, se);" in code  # no sigma: se() with sigma = FALSE
    assert "sigma" not in code.split("model {")[0].split("parameters {")[1]
    assert "Intercept ~ student_t(3, 7.5, 11.1);" in code and "b_Intercept = Intercept;" in code
