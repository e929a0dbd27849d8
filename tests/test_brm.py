"""ml.brm against brms 2.18 (shared/reference/brms.json, copied to fixtures/brms_reference.json).

Means are compared by |ours - brms| <= 4 * sqrt(mcse_ours^2 + mcse_brms^2) (the reference's own
rule), or 3% of the posterior sd where both MCSEs are tiny; posterior sds by the same rule with
the MCSE of an sd estimate, sd * sqrt(1 / (2 ESS)).
"""
import warnings

import arviz_stats
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from conftest import load_fixture

BRMS = load_fixture("brms_reference.json")["fits"]
# every r_ (and b_, sd_, sigma) of three fits, brms 2.18, 4 x 2000 draws (benchmarks/r/brms_ranef_refs.R)
BRMS_RANEF = load_fixture("brms_ranef.json")["fits"]


def reedfrogs():
    data = ml.datasets.load("reedfrogs")
    data["tank"] = np.arange(1, len(data) + 1)
    return data


MODELS = {
    "sleepstudy_default": ("Reaction ~ Days + (Days|Subject)", lambda: ml.datasets.load("sleepstudy"), "gaussian", None),
    "reedfrogs_pp": ("surv | trials(density) ~ 1 + (1|tank)", reedfrogs, "binomial",
                     lambda: [ml.prior("normal(0, 1.5)", class_="Intercept"), ml.prior("exponential(1)", class_="sd")]),
    "bangladesh_slopes_default": ("use.contraception ~ urban + (1 + urban|district)",
                                  lambda: ml.datasets.load("bangladesh"), "bernoulli", None),
    "mlm_week_slopes_default": ("con ~ 1 + week + (1 + week|id)", lambda: ml.datasets.load("mlm"), "gaussian", None),
    "penicillin_crossed": ("diameter ~ 1 + (1|plate) + (1|sample)", lambda: ml.datasets.load("penicillin"), "gaussian", None),
}
_FITS = {}


def bayes_fit(key):
    if key not in _FITS:
        formula, data, family, priors = MODELS[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = ml.brm(formula, data(), family=family, priors=priors() if priors else None, seed=11)
    return _FITS[key]


@pytest.mark.parametrize("key", list(BRMS))
def test_posterior_agrees_with_brms(key):
    table = bayes_fit(key).parameter_summary()
    for name, ref in BRMS[key]["params"].items():
        ours = table.loc[name]
        mcse = ours["Est.Error"] / np.sqrt(ours["Bulk_ESS"])
        bound = max(4 * np.sqrt(mcse**2 + ref["mcse_mean"] ** 2), 0.03 * ref["sd"])
        assert abs(ours["Estimate"] - ref["mean"]) < bound, (name, ours["Estimate"], ref["mean"], bound)
        sd_mcse = np.sqrt(ours["Est.Error"] ** 2 / (2 * ours["Bulk_ESS"]) + ref["sd"] ** 2 / (2 * ref["ess_bulk"]))
        assert abs(ours["Est.Error"] - ref["sd"]) < max(4 * sd_mcse, 0.03 * ref["sd"]), (name, ours["Est.Error"], ref["sd"])


@pytest.mark.parametrize("key", list(BRMS_RANEF))
def test_group_effects_agree_with_brms(key):
    # sleepstudy's and penicillin's (crossed) effects are integrated out and drawn afterwards,
    # reedfrogs' partially centered: either way the posterior of each r_ is brms's (rule as above)
    draws = bayes_fit(key).draws()
    z_scores = []
    for name, ref in BRMS_RANEF[key].items():
        values = draws[name].to_numpy().reshape(4, -1)
        mcse = float(arviz_stats.mcse(values, method="mean"))
        z_scores.append((values.mean() - ref["mean"]) / np.hypot(mcse, ref["mcse_mean"]))
        # sd: 5 x its normal-theory MC error, sd * sqrt(1 / (2 ESS)) on each side (~6.5% at ESS 5000)
        sd_bound = 5 * ref["sd"] * np.sqrt(1 / (2 * float(arviz_stats.ess(values))) + 1 / (2 * ref["ess_bulk"]))
        assert abs(values.std() - ref["sd"]) < sd_bound, (name, values.std(), ref["sd"], sd_bound)
    z_scores = np.array(z_scores)
    assert np.max(np.abs(z_scores)) < 4.5, z_scores  # effects share MC error (with b_Intercept): no test of their mean


def test_default_priors_as_brms():
    # brms's prior_summary for sleepstudy: student_t(3, 288.7, 59.3) Intercept, student_t(3, 0, 59.3) sd, sigma
    priors = bayes_fit("sleepstudy_default").prior_summary()
    by_class = dict(zip(priors["class"], priors["prior"]))
    assert by_class["Intercept"] == "student_t(3, 288.7, 59.3)"
    assert by_class["sd"] == "student_t(3, 0, 59.3)" and by_class["sigma"] == "student_t(3, 0, 59.3)"
    assert by_class["L"] == "lkj_corr_cholesky(1)" and by_class["b"] == "(flat)"
    bern = dict(zip(*bayes_fit("bangladesh_slopes_default").prior_summary()[["class", "prior"]].T.values))
    assert bern["Intercept"] == "student_t(3, 0, 2.5)" and bern["sd"] == "student_t(3, 0, 2.5)"
    user = bayes_fit("reedfrogs_pp").prior_summary()
    assert set(user[user.source == "user"]["prior"]) == {"normal(0, 1.5)", "exponential(1)"}


@pytest.mark.parametrize("key", list(BRMS))
def test_prior_summary_rows_as_brms(key):
    # rows (class, coef, group) in brms 2.18's order and its non-empty prior texts (brms_reference.json,
    # from prior_summary(fit) in R); brms prints inherited rows as "(vectorized)" and empty priors as "(flat)"
    ours = bayes_fit(key).prior_summary()
    reference = BRMS[key]["priors"]
    assert [tuple(r) for r in ours[["class", "coef", "group"]].to_numpy()] == \
        [(r["class"], r["coef"], r["group"]) for r in reference]
    for row, ref in zip(ours.itertuples(), reference):
        if ref["prior"]:
            assert row.prior == ref["prior"]
        else:
            assert row.source in ("(vectorized)", "default") and row.prior
    assert list(ours.columns) == ["prior", "class", "coef", "group", "resp", "dpar", "nlpar", "lb", "ub", "source"]
    text = str(ours).splitlines()
    assert text[0].split() == list(ours.columns) and len(text) == len(ours) + 1
    assert "<td>" in ours._repr_html_()


def test_draws_names_and_layout():
    fit = bayes_fit("sleepstudy_default")
    draws = fit.draws()
    for name in ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
                 "cor_Subject__Intercept__Days", "sigma", "r_Subject[308,Intercept]", "r_Subject[372,Days]",
                 ".chain", ".iteration", ".draw"]:
        assert name in draws.columns
    assert len(draws) == 4000 and draws[".chain"].nunique() == 4
    tidy = fit.spread_draws("r_Subject")
    assert set(tidy.columns) >= {"Subject", "term", "r_Subject", ".draw"} and len(tidy) == 4000 * 36


def test_summary_text_like_brms():
    text = str(bayes_fit("sleepstudy_default").summary())
    for piece in [" Family: gaussian", "Links: mu = identity; sigma = identity", "Formula: Reaction ~ Days + (Days | Subject)",
                  "Number of observations: 180", "Draws: 4 chains, each with iter = 2000; warmup = 1000",
                  "Multilevel Hyperparameters:", "~Subject (Number of levels: 18)", "sd(Intercept)", "cor(Intercept,Days)",
                  "Regression Coefficients:", "Further Distributional Parameters:", "Rhat Bulk_ESS Tail_ESS"]:
        assert piece in text
    assert "<table" in bayes_fit("sleepstudy_default")._repr_html_()


def test_fixef_ranef_coef_varcorr():
    fit = bayes_fit("sleepstudy_default")
    fixef = fit.fixef()
    assert list(fixef.index) == ["Intercept", "Days"] and list(fixef.columns) == ["Estimate", "Est.Error", "l-95% CI", "u-95% CI"]
    ranef = fit.ranef()["Subject"]
    assert ranef.shape == (18, 8) and ("Days", "Estimate") in ranef.columns
    coef = fit.coef()["Subject"]
    assert np.allclose(coef[("Days", "Estimate")], fixef.loc["Days", "Estimate"] + ranef[("Days", "Estimate")], atol=1e-8)
    assert "sigma" in fit.varcorr().index


def test_predictions_and_new_levels():
    fit = bayes_fit("sleepstudy_default")
    new = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "999"]})
    with pytest.raises(ml.DataError, match="new levels of 'Subject'.*999"):
        fit.posterior_epred(new)
    with pytest.raises(ml.DataError, match="lacks column.*Days"):
        fit.posterior_epred(pd.DataFrame({"Subject": ["308"]}))
    # a missing grouping value: a DataError naming the column (was a TypeError), or a new level
    missing = pd.DataFrame({"Days": [0, 9], "Subject": ["308", None]})
    with pytest.raises(ml.DataError, match="Subject"):
        fit.posterior_epred(missing)
    assert np.isfinite(fit.posterior_epred(missing, allow_new_levels=True, ndraws=20, seed=1)).all()
    with pytest.raises(ml.DataError, match="newdata must be a pandas DataFrame"):
        fit.posterior_epred([0, 9])
    for how in ["uncertainty", "gaussian", "old_levels"]:
        epred = fit.posterior_epred(new, allow_new_levels=True, sample_new_levels=how, ndraws=200, seed=1)
        assert epred.shape == (200, 2)
    population = fit.posterior_epred(new, re_formula="~0")
    assert np.allclose(population.mean(0)[0], fit.fixef().loc["Intercept", "Estimate"], rtol=1e-9)
    pp = fit.posterior_predict(ndraws=100, seed=2)
    assert pp.shape == (100, 180) and pp.std() > fit.posterior_epred(ndraws=100, seed=2).std()
    linpred = fit.posterior_linpred(ndraws=50, seed=3)
    assert np.allclose(linpred, fit.posterior_epred(ndraws=50, seed=3))  # identity link


def test_binomial_epred_counts_successes():
    fit = bayes_fit("reedfrogs_pp")
    epred = fit.posterior_epred()
    assert epred.shape == (4000, 48)
    data = reedfrogs()
    assert np.all(epred <= data["density"].to_numpy()[None, :])


def test_loo_waic_r2_and_compare():
    fit = bayes_fit("sleepstudy_default")
    loo = fit.loo()
    assert np.isfinite(loo.elpd_loo) and loo.p_loo > 5
    assert np.isfinite(fit.waic().elpd_waic)
    r2 = fit.bayes_r2()
    assert 0.6 < r2.loc["R2", "Estimate"] < 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simpler = ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), seed=3,
                         chains=2, draws=500, warmup=500)
    table = ml.loo_compare(fit, simpler, names=["slopes", "intercepts"])
    assert list(table.columns[:2]) == ["elpd_diff", "se_diff"]
    assert table.index[0] == "slopes" and table["elpd_diff"].iloc[0] == 0


def test_same_seed_same_draws():
    data = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ml.brm("Reaction ~ Days + (1|Subject)", data, seed=5, chains=2, draws=100, warmup=100)
        b = ml.brm("Reaction ~ Days + (1|Subject)", data, seed=5, chains=2, draws=100, warmup=100)
    assert np.array_equal(a.draws().to_numpy(), b.draws().to_numpy())


def test_to_arviz():
    idata = bayes_fit("reedfrogs_pp").to_arviz()
    assert "b_Intercept" in idata.posterior and "y" in idata.log_likelihood


@pytest.mark.parametrize("family, formula, make", [
    ("student", "Reaction ~ Days + (1|Subject)", lambda: ml.datasets.load("sleepstudy")),
    ("lognormal", "Reaction ~ Days + (1|Subject)", lambda: ml.datasets.load("sleepstudy")),
    ("gamma", "Reaction ~ Days + (1|Subject)", lambda: ml.datasets.load("sleepstudy")),
    pytest.param("negbinomial", "TICKS ~ YEAR + (1|BROOD)", lambda: ml.datasets.load("grouseticks"),
                 marks=pytest.mark.slow),  # ~13 s
    ("poisson", "TICKS ~ YEAR + (1|BROOD)", lambda: ml.datasets.load("grouseticks")),
    ("binomial", "cbind(incidence, size - incidence) ~ period + (1|herd)", lambda: ml.datasets.load("cbpp")),
])
def test_other_families_sample_and_agree_with_ml_fits(family, formula, make):
    data = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm(formula, data, family=family, seed=4, chains=2, draws=400, warmup=400)
    table = fit.parameter_summary()
    assert np.all(np.isfinite(table["Estimate"]))
    params = {"student": {"sigma", "nu"}, "lognormal": {"sigma"}, "gamma": {"shape"}, "negbinomial": {"shape"}}
    assert params.get(family, set()) <= set(table.index)
    if family in ("poisson", "binomial"):  # weak default priors: close to the Laplace fit
        glmm_family = "poisson" if family == "poisson" else "binomial"
        laplace = ml.glmer(formula, data, family=glmm_family)
        assert np.allclose(fit.fixef()["Estimate"], laplace.fixef(), atol=3 * fit.fixef()["Est.Error"].max())


def test_sample_prior_yes_keeps_prior_draws():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), seed=6, chains=2,
                     draws=300, warmup=300, sample_prior="yes",
                     priors=[ml.prior("normal(0, 20)", class_="b")])
    assert "b_Days" in fit.prior_draws.columns
    assert fit.prior_draws["b_Days"].std() > 5 * fit.draws()["b_Days"].std()


def test_summary_header_reports_iter_warmup_and_thin_as_run():
    # brms prints "Draws: 4 chains, each with iter = 4000; warmup = 2000; thin = 2; total post-warmup draws = 4000"
    import copy
    import dataclasses

    fit = copy.copy(bayes_fit("sleepstudy_default"))
    settings = dict(fit.run.settings, iter=4000, warmup=2000, thin=2, draws=1000)
    fit.run = dataclasses.replace(fit.run, settings=settings)
    text = str(fit.summary())
    assert "each with iter = 4000; warmup = 2000; thin = 2;" in text
    assert "total post-warmup draws = 4000" in text


def test_model_code_of_an_integrated_out_model():
    code = bayes_fit("sleepstudy_default").model_code()
    assert "cholesky_factor_corr[2] L_1;" in code and "real<lower=0> sigma;" in code
    assert "effects integrated out exactly" in code and "u_1" not in code
    assert "b_Intercept = Intercept - dot(column means of X, b);" in code
