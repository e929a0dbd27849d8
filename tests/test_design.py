"""The design stage: formulaic matrices with lme4's names, grouping factors, term order, encoding."""
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import build_design, encode_term, lme4_column_name
from multilevel.design.build import drop_rank_deficient, lme4_term_order


@pytest.mark.parametrize("formulaic_name, lme4_name", [
    ("Intercept", "(Intercept)"), ("Days", "Days"), ("period[T.2]", "period2"),
    ("ses:himinty", "ses:himinty"), ("x:f[T.a]", "x:fa"), ("f[b]", "fb"),
    ("C(o, contr.poly)[.L]", "o.L"), ("C(s)[T.v]", "C(s)v"),
])
def test_column_names(formulaic_name, lme4_name):
    assert lme4_column_name(formulaic_name) == lme4_name


def test_lme4_term_order_reverses_ties_like_r():
    # lme4 mkReTrms: ord <- rev(order(nl)) only when some nl increases
    assert lme4_term_order([10, 30]) == [1, 0]
    assert lme4_term_order([30, 10, 10]) == [0, 1, 2]  # no increase: formula order kept
    assert lme4_term_order([5, 10, 5]) == [1, 2, 0]


def test_factor_levels_follow_r():
    design = build_design("y ~ service + (1|dept)", ml.datasets.load("insteval"))
    assert design.fixed.column_names == ("(Intercept)", "service1")
    assert design.terms[0].levels[0] == "15"  # R's level order for InstEval dept


def test_ordered_factor_gets_polynomial_contrasts():
    design = build_design("y ~ studage + (1|dept)", ml.datasets.load("insteval"))
    assert design.fixed.column_names == ("(Intercept)", "studage.L", "studage.Q", "studage.C")
    x = design.fixed.matrix[:, 1:]
    levels = np.unique(x, axis=0)
    assert np.allclose(levels.T @ levels, np.eye(3), atol=1e-12)  # orthonormal, as contr.poly


def test_random_term_stores_codes_and_small_matrix_not_dense_z():
    design = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    term = design.terms[0]
    assert term.codes.shape == (180,) and term.z.shape == (180, 2)
    assert term.column_names == ("(Intercept)", "Days")
    assert term.n_levels == 18 and term.covariance.n_theta == 3


def test_interaction_grouping_levels():
    data = pd.DataFrame({"y": np.arange(8.0), "a": list("xxyyxxyy"), "b": list("ppqqqqpp")})
    design = build_design("y ~ (1 | a:b)", data)
    assert list(design.terms[0].levels) == ["x:p", "x:q", "y:p", "y:q"]
    codes, _ = encode_term(design.terms[0], pd.DataFrame({"a": ["y", "z"], "b": ["q", "q"]}))
    assert list(codes) == [3, -1]


def test_numeric_grouping_levels_sort_numerically():
    data = pd.DataFrame({"y": np.arange(6.0), "g": [10, 9, 10, 9, 100, 100]})
    design = build_design("y ~ (1 | g)", data)
    assert list(design.terms[0].levels) == ["9", "10", "100"]


def test_transforms():
    data = ml.datasets.load("sleepstudy")
    design = build_design("np.log(Reaction) ~ I(Days ** 2) + np.sqrt(Days) + (1 | Subject)", data)
    assert design.fixed.column_names == ("(Intercept)", "I(Days ** 2)", "np.sqrt(Days)")
    assert np.allclose(design.response, np.log(data.Reaction))


def test_rank_deficient_columns_dropped_in_order():
    x = np.column_stack([np.ones(5), np.arange(5.0), 2 * np.arange(5.0), np.arange(5.0) ** 2])
    kept, names, dropped = drop_rank_deficient(x, ("a", "b", "c", "d"))
    assert names == ("a", "b", "d") and dropped == ("c",)
