"""brms's update() (issue 13): R's update.formula rules and refits with changed parts."""
import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.update import update_formula
from multilevel.errors import ArgumentError, FormulaError


@pytest.mark.parametrize("old, new, expected", [
    ("Reaction ~ Days + (Days | Subject)", "~ . + x", "Reaction ~ Days + (Days | Subject) + x"),
    ("Reaction ~ Days + (Days | Subject)", ". ~ . - (Days | Subject) + (1 | Subject)", "Reaction ~ Days + (1 | Subject)"),
    ("y | se(s) ~ 1 + (1 | g)", "~ . + x", "y | se(s) ~ 1 + (1 | g) + x"),
    ("y ~ x", "log(z) ~ .", "log(z) ~ x"),
    ("y ~ id.f + x", "~ . + 1.5 * z", "y ~ id.f + x + 1.5 * z"),  # '.' inside names and numbers is not R's '.'
    ("y ~ x", "~ w", "y ~ w"),
])
def test_update_formula_as_r(old, new, expected):
    assert update_formula(old, new) == expected


def test_bad_updates_are_our_errors():
    with pytest.raises(FormulaError, match=r"cannot remove \(1\|h\).*it has \(1 \| g\)"):
        update_formula("y ~ x + (1 | g)", "~ . - (1|h)")
    with pytest.raises(ArgumentError, match="with '~'"):
        update_formula("y ~ x", "x")


@pytest.mark.slow  # three fits (~15 s)
def test_refit_with_new_formula_data_and_options():
    d = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm("Reaction ~ Days + (1 | Subject)", d, chains=2, iter=300, seed=3, refresh=0)
        slopes = ml.update(fit, "~ . - (1 | Subject) + (Days | Subject)", chains=1)
        half = fit.update(newdata=d[d.Days < 5])
    assert slopes.design.formula.text == "Reaction ~ Days + (Days | Subject)"
    assert slopes.run.settings["chains"] == 1 and "cor_Subject__Intercept__Days" in slopes.draws()
    assert half.nobs == 90 and half.run.settings["chains"] == 2  # the rest of the call is the original's
    assert np.isfinite(half.fixef().to_numpy()).all()
    with pytest.raises(ArgumentError, match="unknown argument chainz"):
        fit.update(chainz=3)
