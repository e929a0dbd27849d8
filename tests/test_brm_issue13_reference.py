"""brm's se() and weights() against brms 2.18 fits (issue 13).

Reference: tests/fixtures/brms_issue13.json, made by benchmarks/r/brms_reference_issue13.R (brms
2.18.0, rstan 2.21.7, R 4.2.2; 4 chains x 2000 post-warm-up draws, seed 1). Means agree when
|ours - brms| <= 4 sqrt(mcse_ours^2 + mcse_brms^2) (the fixture's rule); posterior sds by the same
rule with the MCSE of an sd, sd sqrt((kurtosis - 1) / (4 ESS)).
"""
import warnings

import numpy as np
import pytest

import multilevel as ml
from conftest import assert_agrees_with_brms, load_fixture

FITS = load_fixture("brms_issue13.json")["fits"]
CASES = {
    "eight_schools": ("y | se(sigma) ~ 1 + (1 | school)", lambda: ml.datasets.load("eightschools"), None),
    "eight_schools_cauchy": ("y | se(sigma) ~ 1 + (1 | school)", lambda: ml.datasets.load("eightschools"),
                             lambda: [ml.prior("normal(0, 10)", class_="Intercept"), ml.prior("cauchy(0, 5)", class_="sd")]),
    "weights_gaussian": ("Reaction | weights(w) ~ Days + (1 | Subject)",
                         lambda: ml.datasets.load("sleepstudy").assign(w=lambda d: 1 + d.Days % 3), None),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == "eight_schools" else [pytest.mark.slow])
                                  for n in CASES])  # one fit (~4 s) in the default run, all three with -m slow
def test_posterior_agrees_with_brms(name):
    formula, data, priors = CASES[name]
    ref = FITS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm(formula, data(), priors=priors() if priors else None, seed=5,
                     control=ref.get("control") or None, refresh=0)
    assert fit.run.settings.get("divergent", 0) == 0 or np.sum(fit.run.stats["divergent__"]) < 10
    draws = fit.draws_by_chain()
    effects = {f"r_school[{level},Intercept]": i for i, level in enumerate(fit.design.terms[0].levels)}
    for param, want in ref["params"].items():
        if param.startswith("theta["):
            continue  # brms's b_Intercept + r_school: implied by the two checked here
        if param in effects:
            values = np.asarray(fit.run.samples[f"r_{0}"])[..., effects[param], 0]
        else:
            values = np.asarray(draws[param])
        assert_agrees_with_brms(param, values, want)
    # brms's prior_summary rows with a prior of their own have ours beside them (sigma has no row with se())
    ours = {(c, coef, g): prior for prior, c, coef, g in
            zip(fit.prior_summary()["prior"], fit.prior_summary()["class"], fit.prior_summary()["coef"],
                fit.prior_summary()["group"])}
    for row in ref["priors"]:
        if row["prior"] or row["class"] == "b":
            assert ours[row["class"], row["coef"], row["group"]] == (row["prior"] or "(flat)"), row
    assert set(ours) == {(r["class"], r["coef"], r["group"]) for r in ref["priors"]}
