"""Bad input to ``ml.lmer``: every case must fail early, with a message naming what is wrong.

Formula faults are :class:`FormulaError` with the formula echoed and a caret under the fault;
data faults are :class:`DataError` naming the column, factor or response at fault.
"""
from __future__ import annotations

import builtins
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import DataError, FormulaError, MissingValuesWarning

MODEL = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def _sleepstudy() -> pd.DataFrame:
    return ml.datasets.load("sleepstudy")


@pytest.fixture
def sleep(_sleepstudy) -> pd.DataFrame:
    """A fresh copy per test, so that tests may modify it."""
    return _sleepstudy.copy()


def caret_column(message: str, formula: str) -> int:
    """The column of the caret under the echoed formula, relative to the formula's first character."""
    lines = message.splitlines()
    assert len(lines) >= 3, f"no formula/caret lines in message:\n{message}"
    text_line, caret_line = lines[-2], lines[-1]
    assert text_line.strip() == formula.strip(), f"formula not echoed:\n{message}"
    assert caret_line.strip() == "^", f"no caret line:\n{message}"
    indent = len(text_line) - len(text_line.lstrip(" "))
    return caret_line.index("^") - indent


# ---------------------------------------------------------------- 1. misspelt columns


@pytest.mark.parametrize(
    "formula, wrong, right",
    [
        ("Reacton ~ Days + (Days | Subject)", "Reacton", "Reaction"),
        ("Reaction ~ Dyas + (Dyas | Subject)", "Dyas", "Days"),
        ("Reaction ~ Days + (Days | Subjcet)", "Subjcet", "Subject"),
    ],
    ids=["response", "fixed", "grouping"],
)
def test_misspelt_column_names_it_and_suggests_close_match(sleep, formula, wrong, right):
    with pytest.raises(DataError) as info:
        ml.lmer(formula, sleep)
    message = str(info.value)
    assert f"'{wrong}'" in message and "not in the data" in message
    assert f"Did you mean '{right}'" in message
    assert caret_column(message, formula) == formula.index(wrong)


def test_misspelt_column_caret_when_name_is_a_prefix_of_another(sleep):
    formula = "Reaction ~ Days + (1 | Day)"
    with pytest.raises(DataError, match="Did you mean 'Days'") as info:
        ml.lmer(formula, sleep)
    assert caret_column(str(info.value), formula) == formula.rindex("Day")


# ---------------------------------------------------------------- 2. malformed formulas

# (formula, words the message must contain, the substring whose first index the caret must mark)
MALFORMED = {
    "unbalanced-open": ("Reaction ~ Days + (Days | Subject", "unmatched '('", "("),
    "unbalanced-close": ("Reaction ~ Days + Days | Subject)", "unmatched ')'", ")"),
    "trailing-plus": ("Reaction ~ Days +", "'+' is missing a term", "+"),
    "double-plus": ("Reaction ~ Days + + (1 | Subject)", "'+' is missing a term", "+ +"),
    "two-tildes": ("Reaction ~ Days ~ (1 | Subject)", "exactly one '~'", "~ ("),
    "unknown-character": ("Reaction ~ Days$x + (1 | Subject)", "unexpected character '$'", "$"),
    "unknown-character-in-bar": ("Reaction ~ Days + (1 | Sub#ject)", "unexpected character '#'", "#"),
    "grouping-sum": ("Reaction ~ Days + (1 | x + z)", "grouping factor must be a column name", "x + z"),
    "grouping-call": ("Reaction ~ Days + (1 | log(Subject))", "grouping factor must be a column name", "log"),
    "empty-grouping": ("Reaction ~ Days + (1 | )", "needs a grouping factor", "|"),
    "bar-outside-parens": ("Reaction ~ Days | Subject", "must stand alone in parentheses", "|"),
}


@pytest.mark.parametrize("formula, words, at", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_formula_has_caret_at_fault(sleep, formula, words, at):
    with pytest.raises(FormulaError) as info:
        ml.lmer(formula, sleep)
    message = str(info.value)
    assert words in message
    assert info.value.text == formula
    assert caret_column(message, formula) == formula.index(at) == info.value.pos


def test_missing_tilde(sleep):
    # There is no token to point at; the parser marks the start of the formula.
    formula = "Reaction Days + (1 | Subject)"
    with pytest.raises(FormulaError) as info:
        ml.lmer(formula, sleep)
    message = str(info.value)
    assert "exactly one '~'" in message and "response ~ predictors" in message
    assert caret_column(message, formula) == 0


@pytest.mark.parametrize(
    "formula, function",
    [
        ("Reaction ~ os.system(x) + (1 | Subject)", "os.system"),
        ("Reaction ~ Days + eval(x) + (1 | Subject)", "eval"),
        ("Reaction ~ __import__(x) + (1 | Subject)", "__import__"),
        ("os.system(x) ~ Days + (1 | Subject)", "os.system"),
        ("Reaction ~ Days + (exec(x) | Subject)", "exec"),
    ],
    ids=["os.system", "eval", "__import__", "in-response", "in-bar"],
)
def test_disallowed_function_rejected_by_parser_never_evaluated(sleep, monkeypatch, formula, function):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(("os.system", a)) or 0)
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: calls.append(("eval", a)))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: calls.append(("exec", a)))
    data = sleep.assign(x="echo pwned")  # the named argument exists, so only the parser can object
    with pytest.raises(FormulaError) as info:
        ml.lmer(formula, data)
    message = str(info.value)
    assert f"function '{function}' is not supported" in message
    assert caret_column(message, formula) == formula.index(function)
    assert calls == []
    # The parser alone rejects it: no data needed.
    with pytest.raises(FormulaError):
        ml.formula.parse_formula(formula)


# ---------------------------------------------------------------- 3. missing values


@pytest.fixture
def sleep_with_nan(sleep) -> pd.DataFrame:
    sleep["Days"] = sleep["Days"].astype(float)
    sleep.loc[[3, 50, 100], "Days"] = np.nan
    return sleep


def test_missing_values_dropped_counted_and_reported(sleep_with_nan):
    with pytest.warns(MissingValuesWarning) as record:
        fit = ml.lmer(MODEL, sleep_with_nan)
    missing = [w for w in record if issubclass(w.category, MissingValuesWarning)]
    assert len(missing) == 1
    message = str(missing[0].message)
    assert "dropped 3 of 180 rows" in message and "Days: 3" in message
    assert missing[0].filename == __file__  # points at the caller, not at the package
    assert fit.design.n_dropped == 3
    assert fit.design.dropped_by_column == {"Days": 3}
    assert fit.design.nobs == 177
    assert 3 not in fit.design.row_index and 50 not in fit.design.row_index
    summary = str(fit.summary())
    assert "Rows dropped for missing values: 3 (Days: 3)" in summary


def test_missing_values_raise(sleep_with_nan):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingValuesWarning)  # raise must not also warn
        with pytest.raises(DataError) as info:
            ml.lmer(MODEL, sleep_with_nan, na_action="raise")
    message = str(info.value)
    assert "3 rows have missing values" in message and "Days: 3" in message


# ---------------------------------------------------------------- 4-7. unusable data


def test_grouping_factor_with_a_level_per_observation(sleep):
    sleep["obs"] = np.arange(len(sleep))
    with pytest.raises(DataError) as info:
        ml.lmer("Reaction ~ Days + (1 | obs)", sleep)
    message = str(info.value)
    assert "grouping factor 'obs'" in message
    assert "(180)" in message and "number of observations (180)" in message


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["fast", "slow"] * 90),
        pd.Series(["fast", "slow"] * 90, dtype="category"),
        pd.Series([True, False] * 90),
    ],
    ids=["str", "category", "bool"],
)
def test_non_numeric_response(sleep, column):
    sleep["speed"] = column
    with pytest.raises(DataError) as info:
        ml.lmer("speed ~ Days + (1 | Subject)", sleep)
    message = str(info.value)
    assert "response 'speed' is not numeric" in message


def test_empty_data(sleep):
    empty = sleep.iloc[:0]
    assert list(empty.columns) == list(sleep.columns)
    with pytest.raises(DataError, match="no rows"):
        ml.lmer(MODEL, empty)


def test_no_rows_left_after_dropping_missing(sleep):
    sleep["Days"] = np.nan
    with pytest.warns(MissingValuesWarning, match="dropped 180 of 180"):
        with pytest.raises(DataError, match="no rows are left"):
            ml.lmer(MODEL, sleep)


@pytest.mark.parametrize("fill", [np.nan, None], ids=["nan", "None"])
def test_grouping_column_all_missing(sleep, fill):
    sleep["Subject"] = pd.Series([fill] * len(sleep), dtype=object)
    with pytest.raises(DataError) as info:
        ml.lmer(MODEL, sleep)
    assert "grouping column 'Subject' is all missing" in str(info.value)


# ---------------------------------------------------------------- 8. other arguments


@pytest.mark.parametrize("n", [5, 181], ids=["short", "long"])
def test_weights_of_wrong_length(sleep, n):
    with pytest.raises(DataError) as info:
        ml.lmer(MODEL, sleep, weights=np.ones(n))
    message = str(info.value)
    assert "weights must have one value per row (180)" in message and f"({n},)" in message


def test_weights_column_not_in_data(sleep):
    with pytest.raises(DataError, match="'wts'"):
        ml.lmer(MODEL, sleep, weights="wts")


def test_grouping_factor_with_one_level(sleep):
    sleep["Subject"] = "only"
    with pytest.raises(DataError) as info:
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    assert "grouping factor 'Subject' must have more than one level" in str(info.value)


def test_bogus_na_action(sleep):
    with pytest.raises(ValueError) as info:
        ml.lmer(MODEL, sleep, na_action="bogus")
    message = str(info.value)
    assert "'bogus'" in message and "'omit'" in message and "'raise'" in message


# ---------------------------------------------------------------- 9. non-finite values (issue 10)
# lme4 stops with "NA/NaN/Inf in 'x'" where a predictor or the response is not finite; before
# issue 10 such a column was dropped as "rank deficient" and an intercept-only model came back.


def _days_with_inf(sleep):
    sleep["Days2"] = sleep["Days"].astype(float)
    sleep.loc[5, "Days2"] = np.inf
    return sleep


@pytest.mark.parametrize(
    "formula, term, count",
    [
        ("Reaction ~ Days2 + (1 | Subject)", "Days2", 1),
        ("Reaction ~ np.log(Days) + (1 | Subject)", "np.log(Days)", 18),
        ("Reaction ~ log(Days) + (1 | Subject)", "log(Days)", 18),
        ("Reaction ~ I(Days / 0) + (1 | Subject)", "I(Days / 0)", 180),
        ("Reaction ~ np.sqrt(Days - 5) + (1 | Subject)", "np.sqrt(Days - 5)", 90),
        ("Reaction ~ Days + (log(Days) | Subject)", "log(Days)", 18),
        ("Reaction ~ Days + (0 + Days2 | Subject)", "Days2", 1),
    ],
    ids=["inf-in-column", "np.log-of-0", "log-of-0", "divide-by-0", "sqrt-of-negative", "bar-lhs-log-of-0",
         "bar-lhs-inf"],
)
def test_non_finite_predictor_is_named_not_dropped_as_rank_deficient(sleep, formula, term, count):
    sleep = _days_with_inf(sleep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own "divide by zero in log"
        warnings.filterwarnings("error", message=".*rank deficient")
        with pytest.raises(DataError) as info:
            ml.lmer(formula, sleep)
    message = str(info.value)
    assert "NA/NaN/Inf" in message and f"'{term}'" in message
    assert f"{count} of 180 rows are not finite" in message


def test_inf_in_a_column_is_blamed_on_the_column(sleep):
    with pytest.raises(DataError, match=r"column 'Days2' holds 1 infinite value") as info:
        ml.lmer("Reaction ~ Days2 + (1 | Subject)", _days_with_inf(sleep))
    assert "rows 5" in str(info.value)


def test_transform_nan_is_not_missing_data(sleep):
    # sqrt(-1) of a value that is there is an error, never a dropped row
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingValuesWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match="the transform makes them"):
            ml.lmer("Reaction ~ np.sqrt(Days - 5) + (1 | Subject)", sleep)


def test_collinear_columns_still_rank_deficient_but_inf_is_an_error(sleep):
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column / coefficient: I\\(2 \\* Days\\)"):
        fit = ml.lmer("Reaction ~ Days + I(2 * Days) + (1 | Subject)", sleep)
    assert list(fit.fixef().index) == ["(Intercept)", "Days"]
    sleep = _days_with_inf(sleep)
    with pytest.raises(DataError, match="NA/NaN/Inf"):
        ml.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleep)


def test_missing_values_still_dropped_before_transforms(sleep_with_nan):
    with pytest.warns(MissingValuesWarning, match="dropped 3 of 180"):
        fit = ml.lmer("Reaction ~ np.log1p(Days) + (1 | Subject)", sleep_with_nan)
    assert fit.design.nobs == 177


@pytest.mark.parametrize("value", [np.inf, -np.inf], ids=["inf", "-inf"])
def test_non_finite_response_is_named_with_count(sleep, value):
    sleep.loc[[4, 7], "Reaction"] = value
    with pytest.raises(DataError, match=r"NA/NaN/Inf in the response 'Reaction': 2 of 180 rows"):
        ml.lmer(MODEL, sleep)


def test_non_finite_computed_response(sleep):
    sleep.loc[4, "Reaction"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match=r"NA/NaN/Inf in the response 'np.log\(Reaction\)': 1 of 180"):
            ml.lmer("np.log(Reaction) ~ Days + (1 | Subject)", sleep)


@pytest.mark.parametrize("family, response", [("poisson", "count"), ("binomial", "cbind(count, 4 - count)")])
def test_non_finite_glmer_response(sleep, family, response):
    sleep["count"] = (np.arange(len(sleep)) % 4).astype(float)
    sleep.loc[9, "count"] = np.inf
    with pytest.raises(DataError, match=r"NA/NaN/Inf in the response .*1 of 180 rows"):
        ml.glmer(f"{response} ~ Days + (1 | Subject)", sleep, family=family)


# ---------------------------------------------------------------- 10. weights and offsets (issue 10)


def test_all_zero_weights(sleep):
    with pytest.raises(DataError, match="all 180 weights are zero"):
        ml.lmer(MODEL, sleep, weights=np.zeros(len(sleep)))


@pytest.mark.parametrize(
    "weights, words",
    [
        ("text", "weights column 'w' must be numeric"),
        ("inf", "NA/NaN/Inf in the weights: weights column 'w' has 1 infinite value"),
        ("negative", "weights must be non-negative"),
    ],
)
def test_unusable_weights_column(sleep, weights, words):
    sleep["w"] = {"text": pd.Series(["a"] * len(sleep)), "inf": pd.Series([1.0] * 179 + [np.inf]),
                  "negative": pd.Series([1.0] * 179 + [-1.0])}[weights]
    with pytest.raises(DataError, match=words):
        ml.lmer(MODEL, sleep, weights="w")


def test_object_weights_array(sleep):
    with pytest.raises(DataError, match="weights must be numeric; it holds values such as 'a'"):
        ml.lmer(MODEL, sleep, weights=np.array(["a"] * len(sleep), dtype=object))


def test_missing_weights_are_still_dropped(sleep):
    w = np.ones(len(sleep))
    w[3] = np.nan
    with pytest.warns(MissingValuesWarning, match=r"\(weights\): 1"):
        fit = ml.lmer(MODEL, sleep, weights=w)
    assert fit.design.nobs == 179


def test_text_offset(sleep):
    sleep["o"] = "a"
    sleep["count"] = np.arange(len(sleep)) % 5
    with pytest.raises(DataError, match="offset column 'o' must be numeric"):
        ml.glmer("count ~ Days + (1 | Subject)", sleep, family="poisson", offset="o")
    # a one-level text column inside offset() was read as a factor: a column of ones
    with pytest.raises(DataError, match="offset 'o' uses column 'o', which is not numeric"):
        ml.glmer("count ~ Days + offset(o) + (1 | Subject)", sleep, family="poisson")


def test_offset_of_log_zero_is_named(sleep):
    sleep["count"] = np.arange(len(sleep)) % 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DataError, match=r"NA/NaN/Inf in the offset 'offset\(np.log\(Days\)\)': 18 of 180"):
            ml.glmer("count ~ 1 + offset(np.log(Days)) + (1 | Subject)", sleep, family="poisson")


# ---------------------------------------------------------------- 11. prediction on new data (issue 10)


@pytest.fixture(scope="module")
def factor_fit(_sleepstudy):
    data = _sleepstudy.assign(f=np.where(_sleepstudy.Days < 5, "a", "b"))
    return ml.lmer("Reaction ~ Days + f + (1 | Subject)", data), data


def test_new_level_of_fixed_factor(factor_fit):
    fit, data = factor_fit
    new = data.head(3).assign(f=["a", "b", "z"])
    for kwargs in ({}, {"allow_new_levels": True}):
        with pytest.raises(DataError, match="factor 'f' has new levels z"):
            fit.predict(new, **kwargs)


def test_newdata_missing_columns_are_named(factor_fit):
    fit, data = factor_fit
    with pytest.raises(DataError, match=r"newdata lacks column\(s\) .*\['f'\]"):
        fit.predict(data.head(3).drop(columns=["f"]))
    with pytest.raises(DataError, match="'Subject'"):
        fit.predict(data.head(3).drop(columns=["Subject"]))


def test_newdata_text_where_numbers_were_fitted(factor_fit):
    fit, data = factor_fit
    with pytest.raises(DataError) as info:
        fit.predict(data.head(3).assign(Days=["x", "y", "z"]))
    message = str(info.value)
    assert "column 'Days' of newdata is not numeric" in message
    assert "\x1b[" not in message  # formulaic's colour codes never reach the user


def test_newdata_missing_grouping_value(factor_fit):
    fit, data = factor_fit
    new = data.head(3).copy()
    new["Subject"] = new["Subject"].astype(object)
    new.loc[1, "Subject"] = None
    with pytest.raises(DataError, match="grouping column 'Subject' of newdata has 1 missing value"):
        fit.predict(new)
    # lme4 with allow.new.levels=TRUE: an NA level gets a zero random effect
    got = fit.predict(new, allow_new_levels=True)
    population = fit.predict(new, re_form="~0")
    assert got[1] == pytest.approx(population[1], rel=1e-12)
    assert got[0] == pytest.approx(fit.predict(data.head(1))[0], rel=1e-12)


def test_newdata_missing_predictor_gives_nan_row(factor_fit):
    fit, data = factor_fit
    new = data.head(3).copy()
    new["Days"] = new["Days"].astype(float)
    new.loc[1, "Days"] = np.nan
    new["f"] = pd.Series(["a", "b", None], dtype=object)
    got = fit.predict(new)
    assert np.isnan(got[1]) and np.isnan(got[2])  # R: NA, not the reference level
    assert got[0] == pytest.approx(fit.predict(data.head(1))[0], rel=1e-12)


# ---------------------------------------------------------------- 12. other raw exceptions (issue 10)


def test_duplicate_column_names_are_named(sleep):
    doubled = pd.concat([sleep, sleep[["Days"]]], axis=1)
    with pytest.raises(DataError, match="2 columns named 'Days'"):
        ml.lmer(MODEL, doubled)  # was a numpy broadcasting ValueError


@pytest.mark.parametrize("re_form", [True, 0, 1.5], ids=["True", "0", "float"])
def test_re_form_of_the_wrong_type(sleep_fit, re_form):
    from multilevel.errors import ArgumentError

    with pytest.raises(ArgumentError, match="re_form must be None"):
        sleep_fit.predict(ml.datasets.load("sleepstudy").head(2), re_form=re_form)  # was AttributeError


def test_complex_weights(sleep):
    with pytest.raises(DataError, match="weights must be numeric, not dtype complex"):
        ml.lmer(MODEL, sleep, weights=np.ones(len(sleep)) * 1j)
