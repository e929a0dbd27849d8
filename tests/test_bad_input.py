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
