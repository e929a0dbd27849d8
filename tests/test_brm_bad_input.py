"""Bad input to brm and prior(): each with a message naming what is wrong."""
import numpy as np
import pandas as pd
import pytest

import multilevel as ml


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
    with pytest.raises(ml.PriorError, match="unknown prior class 'beta'.*valid classes"):
        ml.prior("normal(0, 1)", class_="beta")


@pytest.mark.parametrize("text, message", [
    ("normal(0, 1", "cannot parse prior"),
    ("norml(0, 1)", "unknown distribution 'norml'"),
    ("normal(0, a)", "argument 'a' is not a number"),
    ("normal(0)", "normal takes 2 argument"),
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
    with pytest.raises(ml.MultilevelError, match="unknown family 'gausian' for brm; valid families: gaussian"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), family="gausian")


def test_sample_prior_only_with_flat_prior():
    with pytest.raises(ml.PriorError, match="needs proper priors, but these are flat: b Days"):
        ml.brm("Reaction ~ Days + (1|Subject)", ml.datasets.load("sleepstudy"), sample_prior="only")


def test_gamma_needs_positive_response():
    data = pd.DataFrame({"y": np.r_[0.0, np.ones(19)], "g": np.repeat([1, 2, 3, 4], 5)})
    with pytest.raises(ml.DataError, match="gamma response 'y' must be positive"):
        ml.brm("y ~ 1 + (1|g)", data, family="gamma")
