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


# ---- issue 10: non-finite values and new data, at the design layer every engine shares


def _small():
    return pd.DataFrame({"y": np.arange(8.0), "x": [0.0, 1, 2, 3, 4, 5, 6, 7], "f": list("abababab"),
                         "g": list("ppqqrrss")})


def test_non_finite_matrix_column_is_a_data_error_not_a_dropped_column():
    with pytest.warns(RuntimeWarning), pytest.raises(ml.DataError, match=r"'np.log\(x\)': 1 of 8 rows"):
        build_design("y ~ np.log(x) + (1 | g)", _small())


def test_encode_term_missing_group_value():
    design = build_design("y ~ x + (1 | g)", _small())
    new = pd.DataFrame({"x": [1.0, 2.0], "g": ["p", None]})
    assert list(encode_term(design.terms[0], new)[0]) == [0, -1]  # None: the caller decides
    assert list(encode_term(design.terms[0], new, allow_new_levels=True)[0]) == [0, -1]
    with pytest.raises(ml.DataError, match="grouping column 'g' of newdata has 1 missing value"):
        encode_term(design.terms[0], new, allow_new_levels=False)


def test_encode_term_missing_value_in_one_of_two_grouping_columns():
    data = _small().assign(h=list("uuuuvvvv"))
    design = build_design("y ~ (1 | g:h)", data)
    codes, _ = encode_term(design.terms[0], pd.DataFrame({"g": ["p", np.nan], "h": ["u", "u"]}))
    assert list(codes) == [0, -1]


def test_encode_fixed_new_levels_and_types():
    from multilevel.design import encode_fixed

    design = build_design("y ~ x + C(f) + (1 | g)", _small())
    with pytest.raises(ml.DataError, match="factor 'f' has new levels c"):
        encode_fixed(design, pd.DataFrame({"x": [1.0], "f": ["c"]}))
    with pytest.raises(ml.DataError, match="column 'x' of newdata is not numeric"):
        encode_fixed(design, pd.DataFrame({"x": ["1.5x"], "f": ["a"]}))
    with pytest.raises(ml.DataError, match=r"newdata lacks column\(s\) .*\['f'\]"):
        encode_fixed(design, pd.DataFrame({"x": [1.0]}))
    x = encode_fixed(design, pd.DataFrame({"x": [1.0, np.nan, 2.0], "f": ["b", "a", None]}))
    assert np.allclose(x[0], [1, 1, 1]) and np.isnan(x[1]).all() and np.isnan(x[2]).all()


def test_encode_offset_missing_column():
    from multilevel.design import encode_offset

    design = build_design("y ~ x + offset(np.log1p(x)) + (1 | g)", _small(), family=ml.families.get_family("poisson"))
    with pytest.raises(ml.DataError, match=r"newdata lacks column\(s\) .*\['x'\]"):
        encode_offset(design, pd.DataFrame({"g": ["p"]}))


def test_encode_term_missing_slope_value_gives_nan_row():
    # found by tests/test_fuzz_formula.py: formulaic handed back a read-only array for (0 + x | g)
    design = build_design("y ~ x + (x || g)", _small())
    slope = next(t for t in design.terms if t.column_names == ("x",))
    codes, z = encode_term(slope, pd.DataFrame({"x": [np.nan, 2.0], "g": ["p", "q"]}))
    assert list(codes) == [0, 1] and np.isnan(z[0, 0]) and z[1, 0] == 2.0


def test_nullable_extension_columns():
    # found by tests/test_fuzz_formula.py: a pandas "string" column reached formulaic as numbers
    # (raw "could not convert string to float"); Int64 with pd.NA could not become a float matrix
    data = _small().assign(st=pd.array(list("pqpqpqpq"), dtype="string"),
                           ni=pd.array([1, 2, None, 4, 5, 6, 7, 8], dtype="Int64"))
    with pytest.warns(ml.MissingValuesWarning, match="ni: 1"):
        design = build_design("y ~ st + ni + (1 | g)", data)
    assert design.fixed.column_names == ("(Intercept)", "stq", "ni") and design.nobs == 7
    from multilevel.design import encode_fixed

    x = encode_fixed(design, data.head(3))
    assert np.allclose(x[0], [1, 0, 1]) and np.isnan(x[2]).all()


def test_r_factor_call_makes_a_factor_named_as_r_names_it():
    # R: lm(Reaction ~ factor(D), sleepstudy) has columns (Intercept), factor(D)1, factor(D)2
    import multilevel as ml

    data = ml.datasets.load("sleepstudy").assign(D=lambda d: d.Days % 3)
    for spelling in ("factor", "as.factor"):
        fit = ml.lmer(f"Reaction ~ {spelling}(D) + (1 | Subject)", data)
        assert list(fit.fixef().index) == ["(Intercept)", f"{spelling}(D)1", f"{spelling}(D)2"]
        means = data.groupby("D")["Reaction"].mean()  # balanced design: the fixed effects are cell-mean contrasts
        assert fit.fixef().iloc[1] == pytest.approx(means[1] - means[0], rel=1e-6)
        new = pd.DataFrame({"D": [2, 0], "Subject": ["308", "308"]})
        assert np.allclose(fit.predict(new), fit.fitted()[[2, 0]])
        with pytest.raises(ml.DataError, match="new levels 5"):
            fit.predict(pd.DataFrame({"D": [5], "Subject": ["308"]}))
