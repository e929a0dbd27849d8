"""Bad input to glmer: each gets a clear message naming what is wrong."""
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


@pytest.fixture
def cbpp():
    return ml.datasets.load("cbpp")


def test_binomial_response_outside_unit_interval(cbpp):
    with pytest.raises(ml.DataError, match=r"binomial response 'incidence' must lie in \[0, 1\]"):
        ml.glmer("incidence ~ period + (1 | herd)", cbpp)


def test_binomial_non_integer_successes(cbpp):
    cbpp["rate"] = cbpp.incidence / cbpp["size"]
    with pytest.raises(ml.DataError, match="successes .* must be whole numbers"):
        ml.glmer("rate ~ period + (1 | herd)", cbpp, weights=cbpp["size"] + 0.5)


def test_poisson_negative_counts():
    data = ml.datasets.load("grouseticks")
    data.loc[3, "TICKS"] = -2
    with pytest.raises(ml.DataError, match="poisson response 'TICKS' has negative counts"):
        ml.glmer("TICKS ~ YEAR + (1 | BROOD)", data, family="poisson")


def test_cbind_negative_failures(cbpp):
    cbpp.loc[0, "size"] = 0  # size - incidence < 0 in row 0
    with pytest.raises(ml.DataError, match=r"negative failures count in 'size - incidence'"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)


def test_unknown_family_lists_valid_ones(cbpp):
    with pytest.raises(ml.MultilevelError, match="unknown family 'binomal'.*Did you mean 'binomial'.*Valid families: binomial, poisson"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomal")


def test_unknown_link(cbpp):
    with pytest.raises(ml.MultilevelError, match="unknown link 'logt'"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, link="logt")


def test_perfect_separation_is_named():
    rng = np.random.default_rng(4)
    group = np.repeat(np.arange(20), 10)
    x = rng.normal(size=200)
    data = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": group})
    with pytest.warns(ml.SeparationWarning, match="perfect separation: the estimates of .*x"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.SingularFitWarning)  # the groups explain nothing here
            with pytest.warns(ml.ConvergenceWarning, match="standard errors ignore the uncertainty in theta"):
                fit = ml.glmer("y ~ x + (1 | g)", data)
    assert any("perfect separation" in m for m in fit.messages)
    assert any("Hessian of the deviance is not invertible" in m for m in fit.messages)


def test_agq_needs_one_scalar_term():
    data = ml.datasets.load("grouseticks")
    with pytest.raises(ValueError, match="single scalar random-effects term"):
        ml.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", data, family="poisson", nagq=5)


def test_non_numeric_response_for_poisson():
    data = ml.datasets.load("grouseticks")
    data["TICKS"] = data["TICKS"].astype(str)
    with pytest.raises(ml.DataError, match="response 'TICKS' is not numeric"):
        ml.glmer("TICKS ~ YEAR + (1 | BROOD)", data, family="poisson")
