"""Bad input to brm and prior(): each with a message naming what is wrong."""
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError


def test_prior_on_class_that_does_not_exist():
    with pytest.raises(ml.PriorError, match="this model has no parameters of class 'sigma'.*valid classes: b, Intercept, sd"):
        ml.brm("use.contraception ~ urban + (1|district)", ml.datasets.load("bangladesh"), family="bernoulli",
               priors=[ml.prior("exponential(1)", class_="sigma")])


def test_prior_on_coefficient_that_does_not_exist():
    with pytest.raises(ml.PriorError, match="no 'b' parameter with coef='Dayz'.*valid: Days"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"),
               priors=[ml.prior("normal(0, 10)", class_="b", coef="Dayz")])


def test_prior_on_group_that_does_not_exist():
    with pytest.raises(ml.PriorError, match="group='Subjet'"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"),
               priors=[ml.prior("exponential(1)", class_="sd", group="Subjet")])


def test_unknown_prior_class():
    # "beta" is a class now (exgaussian's beta); "slope" is no brms class
    with pytest.raises(ml.PriorError, match="unknown prior class 'slope'.*valid classes"):
        ml.prior("normal(0, 1)", class_="slope")


@pytest.mark.parametrize("text, message", [
    ("normal(0, 1", "cannot parse prior"),
    ("norml(0, 1)", "unknown distribution 'norml'"),
    ("normal(0, a)", "argument sigma = 'a' is not a number"),
    ("normal(0)", "normal takes 2 argument"),
    ("normal(0, 1, 2)", r"normal takes 2 argument\(s\) \(mu, sigma\), got 3"),
    ("exponential()", "exponential takes 1 argument"),
    ("normal(0, -1)", r"normal's argument sigma = -1 is outside its range; it must be a number in \[1e-100, 1e100\]"),
    ("normal(0, 0)", "normal's argument sigma = 0 is outside its range"),
    ("normal(0, 1e999)", "normal's argument sigma = 1e999 is outside its range"),
    ("normal(1e101, 1)", r"normal's argument mu = 1e101 is outside its range; it must be a number in \[-1e100, 1e100\]"),
    ("normal(0, 1e-999)", "normal's argument sigma = 1e-999 is outside its range"),  # underflows to 0
    ("exponential(-1)", "exponential's argument rate = -1 is outside its range"),
    ("uniform(1, 0)", r"uniform's lower bound \(1\) must be below its upper bound \(0\)"),
    ("uniform(2, 2)", "uniform's lower bound"),
    ("uniform(0, 1e-310)", "uniform's lower bound .* by at least 1e-100"),  # found by the fuzzer
    ("exponential(2.225073858507e-311)", "exponential's argument rate"),  # subnormal: found by the fuzzer
    ("beta(1.0, 2.225073858507e-311)", "beta's argument beta"),  # subnormal: found by the fuzzer
    ("gamma(1e-101, 1)", "gamma's argument shape"),
    ("student_t(-3, 0, 1)", "student_t's argument nu = -3 is outside its range"),
    ("student_t(3, 0, 0)", "student_t's argument sigma = 0"),
    ("normal(nan, 1)", "normal's argument mu = 'nan' is not finite"),
    ("normal(0, inf)", "normal's argument sigma = 'inf' is not finite"),
    ("gamma(0, 1)", "gamma's argument shape = 0"),
    ("beta(1, -1)", "beta's argument beta = -1"),
    ("lkj(0)", "lkj's argument eta = 0"),
    ("weibull(2, -1)", "weibull's argument sigma = -1"),
    ("foo(1)", "unknown distribution 'foo'"),
    ("nromal(0, 1)", "unknown distribution 'nromal'.*Did you mean 'normal'"),
    ("__import__('os')", "unknown distribution '__import__'"),
])
def test_prior_text_that_does_not_parse(text, message):
    with pytest.raises(ml.PriorError, match=message):
        ml.prior(text)


def test_negative_counts_for_poisson():
    data = ml.datasets.load("grouseticks")
    data.loc[0, "TICKS"] = -1
    with pytest.raises(ml.DataError, match="negative counts"):
        ml.brm("TICKS ~ YEAR + (1|BROOD)", data, family="poisson")


def test_non_binary_bernoulli():
    data = ml.datasets.load("grouseticks")
    with pytest.raises(ml.DataError, match="binomial response 'TICKS' must lie in \\[0, 1\\]|bernoulli response"):
        ml.brm("TICKS ~ YEAR + (1|BROOD)", data, family="bernoulli")


def test_unknown_family():
    with pytest.raises(ArgumentError, match="unknown family 'gausian' for brm; Did you mean 'gaussian'.*valid families: gaussian"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), family="gausian")


def test_sample_prior_only_with_flat_prior():
    with pytest.raises(ml.PriorError, match="needs proper priors, but these are flat: b Days"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), sample_prior="only")


def test_gamma_needs_positive_response():
    data = pd.DataFrame({"y": np.r_[0.0, np.ones(19)], "g": np.repeat([1, 2, 3, 4], 5)})
    with pytest.raises(ml.DataError, match="gamma response 'y' must be positive"):
        ml.brm("y ~ 1 + (1|g)", data, family="gamma")


@pytest.mark.parametrize("text", ["normal(0, 1.5)", "student_t(3, 0, 2.5)", "cauchy(0, 1)", "exponential(1)",
                                  "gamma(0.01, 0.01)", "gamma(2, 0.1)", "lognormal(0, 1)", "uniform(-1, 1)",
                                  "beta(2, 2)", "logistic(0, 1)", "double_exponential(0, 1)", "inv_gamma(1, 1)",
                                  "weibull(2, 1)", "normal(-1e100, 1e100)", " normal( 0 , .5 ) ", "normal(+1, 1E2)", ""])
def test_valid_priors_are_kept(text):
    assert ml.prior(text).text == text.strip()


@pytest.mark.parametrize("text, class_, message", [
    ("lkj(2)", "b", "prior 'lkj\\(2\\)' is for correlation matrices \\(class 'cor'\\), not class 'b'"),
    ("normal(0, 1)", "cor", "class 'cor' needs an lkj prior"),
    ("uniform(-2, -1)", "sd", "class 'sd': the parameter is positive, but uniform's upper bound -2|upper bound -1"),
    ("uniform(-2, 0)", "sigma", "uniform's upper bound 0 leaves it no positive values"),
    ("uniform(-1, 5e-324)", "sd", "uniform's upper bound 4.94066e-324 leaves it no positive values"),  # fuzzer
    ("normal(-1e100, 1e-100)", "sd", "location lies 1e\\+200 scales below zero"),
    ("cauchy(-1e60, 1)", "sigma", "location lies 1e\\+60 scales below zero"),
    ("student_t(3, -1e100, 1)", "nu", "scales below zero"),
])
def test_prior_that_does_not_fit_its_class(text, class_, message):
    with pytest.raises(ml.PriorError, match=message):
        ml.prior(text, class_=class_)


def test_correlation_and_positive_priors_that_fit():
    assert ml.prior("lkj(2)", class_="cor").class_ == "cor"
    assert ml.prior("lkj_corr_cholesky(1)", class_="L").class_ == "cor"
    assert ml.prior("uniform(-1, 5)", class_="sd").text == "uniform(-1, 5)"  # truncated at 0, as brms
    assert ml.prior("normal(-3, 1)", class_="sigma").text == "normal(-3, 1)"
    assert ml.prior("normal(-1e40, 1)", class_="sd").text == "normal(-1e40, 1)"  # extreme, but has a density
    assert ml.prior("normal(-1e100, 1)", class_="b").text == "normal(-1e100, 1)"  # real parameter: no truncation


@pytest.mark.parametrize("args, message", [
    ((None,), "text must be a string, not NoneType"),
    ((1.5,), "text must be a string, not float"),
    (("normal(0, 1)", "b", 3), "coef must be a string"),
    (("normal(0, 1)", ["b"]), "class_ must be a string"),
])
def test_prior_arguments_that_are_not_strings(args, message):
    with pytest.raises(ml.PriorError, match=message):
        ml.prior(*args)


def test_prior_made_directly_is_checked_by_brm():
    from multilevel.bayes.priors import Prior

    with pytest.raises(ml.PriorError, match="normal's argument sigma = -1"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), priors=[Prior("normal(0, -1)")])


@pytest.mark.parametrize("option, value, message", [
    ("chains", 0, "chains must be at least 1, not 0"),
    ("chains", 1.5, r"chains must be a whole number, not 1.5 \(float\)"),
    ("chains", 4.0, "chains must be a whole number, not 4.0"),
    ("chains", "4", "chains must be a whole number, not '4'"),
    ("chains", True, "chains must be a whole number, not True"),
    ("draws", 0, "draws must be at least 1, not 0"),
    ("draws", -5, "draws must be at least 1"),
    ("draws", 10.5, "draws must be a whole number, not 10.5"),
    ("warmup", -1, "warmup must be at least 0, not -1"),
    ("warmup", None, "warmup must be a whole number, not None"),
    ("cores", 0, "cores must be at least 1, not 0"),
    ("cores", -2, "cores must be at least 1"),
    ("seed", -1, "seed must be from 0 to"),
    ("seed", 1.5, "seed must be a whole number"),
    ("seed", 2**64, "seed must be from 0 to"),
    ("max_tree_depth", 0, "max_tree_depth must be from 1 to 30, not 0"),
    ("target_accept", 1.5, r"target_accept \(brms's adapt_delta\) must be a number strictly between 0 and 1, not 1.5"),
    ("target_accept", 0, "target_accept .* not 0"),
    ("target_accept", 1, "target_accept .* not 1"),
    ("target_accept", float("nan"), "target_accept .* not nan"),
    ("target_accept", "0.9", "target_accept .* not '0.9'"),
    ("sample_prior", "maybe", "sample_prior must be one of 'no', 'yes', 'only', not 'maybe'"),
    ("progress", "yes", "progress must be True, False or None"),
    ("data_name", 3, "data_name must be a string"),
    ("priors", "normal(0, 1)", "priors must be a list of ml.prior"),
    ("priors", 3, "priors must be a list of ml.prior"),
    ("family", None, "family must be a family name"),
    ("family", ["gaussian"], "family must be a family name"),
])
def test_bad_sampler_options_are_refused_before_compiling(option, value, message, monkeypatch):
    import multilevel.bayes.fit as brm_module

    def no_sampling(*args, **kwargs):
        raise AssertionError("brm started sampling with a bad option")

    monkeypatch.setattr(brm_module, "_sample", no_sampling)
    with pytest.raises(ArgumentError, match=message):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), **{option: value})


def test_a_single_prior_is_accepted_as_brms_does(monkeypatch):
    import multilevel.bayes.fit as brm_module

    seen = {}

    def capture(design, layout, *args, **kwargs):
        seen["layout"] = layout
        raise RuntimeError("stop before sampling")

    monkeypatch.setattr(brm_module, "_sample", capture)
    with pytest.raises(RuntimeError, match="stop before sampling"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), priors=ml.prior("normal(0, 5)"))
    assert seen["layout"].priors["b", "Days", ""].text == "normal(0, 5)"


def test_infinite_response_is_a_data_error():
    data = ml.datasets.load("sleepstudy")
    data.loc[0, "Reaction"] = np.inf
    with pytest.raises(ml.DataError, match="Reaction"):
        ml.brm("Reaction ~ Days + (1|Subject)", data, chains=1, draws=20, warmup=20)


@pytest.mark.slow  # a 4 x 1000 fit (~7 s)
def test_population_only_model_samples_as_brms_does():
    """A formula without a (x | g) term is a plain Bayesian regression in brms too: it samples."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("Reaction ~ Days", ml.datasets.load("sleepstudy"), chains=1, draws=200, warmup=200, seed=1,
                     progress=False)
    text = str(fit.summary())
    assert "Multilevel Hyperparameters" not in text and "Regression Coefficients:" in text
    assert abs(fit.fixef().loc["Days", "Estimate"] - 10.467) < 1.5  # lm(Reaction ~ Days): 10.467
    assert fit.run.settings["parameterization"] == "no group-level effects"
