"""Fuzzers for the formula parser and the design layer (issue 10, "No silent wrong answers").

Whatever text and data go in, ``parse_formula``, ``build_design``, ``lmer``, ``glmer`` and
``predict`` either work or raise one of the library's own errors (``is_own_exception``); any other
exception fails, and so does an example that runs longer than ``EXAMPLE_SECONDS`` (a hang).
Warnings are allowed. Each fuzzer is a ``@given`` function run through ``fuzzing.run_fuzzer``:
a small derandomized budget in CI, ``HYPOTHESIS_PROFILE=slow FUZZ_MINUTES=10`` for long runs.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import pandas as pd
from fuzzing import run_fuzzer, time_limit
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.errors import is_own_exception
from multilevel.formula import parse_formula

EXAMPLE_SECONDS = 30  # generous: a fit here takes under a second, but BLAS threads on a loaded
# 2-core machine can make one of 2,000 evaluations take 10 times longer
EXAMPLES: dict = {}  # examples actually run, per fuzzer (run_fuzzer prints the upper bound)


@contextlib.contextmanager
def only_own_errors(what: str):
    """Run a step: warnings ignored, own errors swallowed, anything else (or a hang) re-raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except Exception as exc:
            if not is_own_exception(exc):
                raise AssertionError(f"{what} raised a foreign {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- data

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, -1e-300]
NUMERIC = ["y", "x", "n", "cnt", "z0", "frac"]


def base_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every column kind: numbers, integers, counts, zeros, categoricals (one ordered), text, bools."""
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "n": rng.integers(-3, 5, size=n),
        "cnt": rng.poisson(2.0, size=n).astype(float),
        "bin": rng.integers(0, 2, size=n),
        "z0": np.zeros(n),
        "frac": rng.uniform(size=n),
        "f": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n)),
        "o": pd.Categorical(rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"], ordered=True),
        "s": rng.choice(["u", "v", "w"], size=n).astype(object),
        "b": rng.integers(0, 2, size=n).astype(bool),
        "g": rng.choice(["g1", "g2", "g3", "g4", "g5", "g6"], size=n).astype(object),
        "h": rng.integers(1, 5, size=n),
        "dt": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 9, size=n), unit="D"),
        "ni": pd.array(rng.integers(0, 4, size=n), dtype="Int64"),
        "st": pd.array(rng.choice(["p", "q"], size=n), dtype="string"),
    })


TEMPLATE = base_frame(60, np.random.default_rng(0))


@st.composite
def frames(draw, n_rows=st.one_of(st.just(24), st.integers(1, 40))):
    """A small frame of every column kind, with some NaN/inf/zero values dropped in."""
    n = draw(n_rows)
    data = base_frame(n, np.random.default_rng(draw(st.integers(0, 2**16))))
    if draw(st.sampled_from([False] * 9 + [True])):  # a column name twice, now and then
        data = pd.concat([data, data[[draw(st.sampled_from(["x", "g", "y"]))]]], axis=1)
    for column, row, value in draw(st.lists(st.tuples(st.sampled_from(NUMERIC + ["s", "g", "f", "ni", "st"]),
                                                      st.integers(0, n - 1), st.sampled_from(SPECIAL)),
                                            max_size=3)):
        if isinstance(data[column], pd.DataFrame):  # the doubled column: leave it alone
            continue
        if column in NUMERIC:
            data[column] = data[column].astype(float)
            data.loc[row, column] = value
        elif np.isnan(value):
            data.loc[row, column] = pd.NA if column in ("ni", "st") else None
    return data


# ---------------------------------------------------------------- (a) formula text, anything

NAMES = ["y", "x", "n", "cnt", "bin", "z0", "frac", "f", "o", "s", "b", "g", "h", "dt", "ni", "st", "nope", "Days",
         "`x`", "np", "T"]
OPERATORS = ["~", "+", "-", "*", ":", "/", "|", "||", "(", ")", "0", "1", "-1", "2", "0.5", "**", "^", ",",
             "==", ">", "%in%", "=", "'a'", ".", "`"]
CALLS = ["log(", "I(", "C(", "offset(", "cbind(", "np.sqrt(", "np.log(", "exp(", "poly(", "scale(", "center(",
         "abs(", "trials(", "weights(", "contr.sum", "ofset(", "np.exp(", "sqrt(", "ar1(", "cs(", "diag(", "homdiag("]
TOKENS = st.sampled_from(NAMES + OPERATORS + CALLS)
FORMULA_ALPHABET = st.sampled_from(list("yxgfs01~+-*:/|()., ^'`=<>!%\t\n") + ["é", "\x00", "$"])

RESPONSES = ["y", "cnt", "bin", "np.log(y)", "cbind(cnt, n)", "cbind(cnt, 4 - cnt)", "s", "f", "b", "o",
             "cnt | trials(n)", "bin | trials(cnt)", "y | weights(frac)", "log(frac)", "ni", "dt", "st", "nope", "z0"]
TERMS = ["x", "n", "f", "o", "s", "b", "z0", "dt", "ni", "st", "nope", "x:f", "x * s", "f / s", "I(x ** 2)",
         "np.log(frac)", "log(x)", "C(h)", "C(f, contr.sum)", "C(o, Helmert)", "poly(x, 3)", "scale(x)",
         "offset(ni)", "offset(np.log(frac))", "offset(s)", "I(x / z0)", "np.sqrt(n)", "0", "1", "- 1",
         "(1 | g)", "(x | g)", "(1 | g/h)", "(x || s)", "(f | b)", "(0 + ni | g)", "(1 | dt)", "(1 | nope)",
         "(1 | st)", "(log(x) | g)", "(1 | g:h:s)", "(0 | g)", "(- 1 | g)", "(z0 | g)", "ar1(0 + f | g)",
         "cs(f | g/h)", "diag(x | g)", "homdiag(0 + s | g)", "ar1(1 | g)", "toeplitz(x | g)", "cs(x || g)"]


@st.composite
def near_formulas(draw):
    """Formulas from real pieces, then a few tokens inserted, deleted or replaced."""
    response = draw(st.one_of(st.sampled_from(["y", "cnt", "bin"]), st.sampled_from(RESPONSES)))
    words = f"{response} ~ {' + '.join(draw(st.lists(st.sampled_from(TERMS), min_size=1, max_size=5)))}"
    words = words.replace("+ - 1", "- 1").split(" ")
    for action, where, token in draw(st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]),
                                                        st.integers(0, 40), TOKENS), max_size=2)):
        where = where % (len(words) + 1)
        if action == "insert":
            words.insert(where, token)
        elif words and where < len(words):
            words[where:where + 1] = [] if action == "delete" else [token]
    return " ".join(words)


formula_texts = st.one_of(
    near_formulas(),
    near_formulas(),
    st.text(max_size=40),
    st.text(FORMULA_ALPHABET, max_size=40),
    st.lists(TOKENS, max_size=14).map(" ".join),
    st.tuples(st.lists(TOKENS, max_size=4), st.lists(TOKENS, min_size=1, max_size=12)).map(
        lambda parts: " ".join(parts[0] + ["~"] + parts[1])),
)


@given(text=formula_texts, data=frames(), family=st.sampled_from([None, "gaussian", "poisson", "binomial"]),
       weights=st.sampled_from([None, "frac", "n", "s", "z0", "dt", "ni"]),
       offset=st.sampled_from([None, "x", "s", "ni", "dt"]))
def _formula_text_fuzz(text, data, family, weights, offset):
    EXAMPLES["formula text"] = EXAMPLES.get("formula text", 0) + 1
    with time_limit(EXAMPLE_SECONDS):
        parsed = None
        with only_own_errors(f"parse_formula({text!r})"):
            parsed = parse_formula(text)
            parsed.display  # noqa: B018 - the deparsed text must not fail either
        if parsed is None:
            return
        EXAMPLES["formula text parsed"] = EXAMPLES.get("formula text parsed", 0) + 1
        fam = None if family is None else ml.families.get_family(family)
        with only_own_errors(f"build_design({text!r}, family={family}, weights={weights}, offset={offset})"):
            build_design(parsed, data, family=fam, weights=weights, offset=offset)
            EXAMPLES["formula text built"] = EXAMPLES.get("formula text built", 0) + 1


def test_fuzz_formula_text():
    run_fuzzer("formula text", _formula_text_fuzz)
    print(f"fuzz formula text: {EXAMPLES.get('formula text', 0)} examples run, "
          f"{EXAMPLES.get('formula text parsed', 0)} parsed, {EXAMPLES.get('formula text built', 0)} designs built")


# ---------------------------------------------------------------- (b) formulas that parse, fitted

FIXED_TERMS = ["x", "n", "f", "o", "s", "b", "x:f", "x*s", "I(x ** 2)", "np.log(frac)", "C(h)", "np.log(x)",
               "np.sqrt(x)", "log(cnt)", "I(x / z0)", "z0", "I(2 * x)", "scale(x)", "center(x)", "poly(x, 2)",
               "C(f, contr.sum)", "exp(x)", "abs(n)", "offset(x)", "offset(np.log(frac))", "I(x > 0)", "ni", "st",
               "dt"]
BAR_LHS = ["1", "x", "1 + x", "0 + x", "f", "0 + s", "np.log(frac)", "I(x / z0)", "b", "n"]
GROUPS = ["g", "h", "g:h", "g/h", "s", "f", "b", "st", "ni"]


MAX_TERMS, MAX_THETA = 3, 6  # keeps one fit well under a second: (f || g/h) alone is 6 terms


def _complexity(bars: list[str]) -> tuple[int, int]:
    """(random terms, theta parameters) of some bars, from the design on clean data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            design = build_design("y ~ 1 + " + " + ".join(bars), TEMPLATE)
        except Exception:
            return 0, 0
    return len(design.terms), sum(t.covariance.n_theta for t in design.terms)


@st.composite
def model_formulas(draw, max_theta: int = MAX_THETA):
    """Fixed terms (some collinear, some non-finite) and one or two bars, small enough to fit quickly."""
    fixed = draw(st.lists(st.sampled_from(FIXED_TERMS), max_size=3, unique=True))
    if draw(st.booleans()):
        fixed = [draw(st.sampled_from(["0", "1", "-1"]))] + fixed
    bars = []
    for _ in range(draw(st.integers(1, 2))):
        bar = draw(st.sampled_from(['|', '||']))
        # glmmTMB's structures around some '|' terms (ar1/cs of one column: our DataError)
        structure = draw(st.sampled_from(["", "", "", "cs", "ar1", "diag", "homdiag"])) if bar == "|" else ""
        bars.append(f"{structure}({draw(st.sampled_from(BAR_LHS))} {bar} {draw(st.sampled_from(GROUPS))})")
    n_terms, n_theta = _complexity(bars)
    if n_terms > MAX_TERMS or n_theta > max_theta:
        bars = bars[:1]
        n_terms, n_theta = _complexity(bars)
        if n_terms > MAX_TERMS or n_theta > max_theta:
            bars = [f"(1 | {draw(st.sampled_from(['g', 'h', 'g:h', 's']))})"]
    return " + ".join(fixed + bars).replace("+ -1", "- 1")


@st.composite
def newdata_for(draw, data: pd.DataFrame):
    """Rows of the fitted data, changed: unseen levels, text for numbers, missing values, dropped columns."""
    new = data.head(draw(st.integers(1, 5))).copy()
    for change in draw(st.lists(st.sampled_from(
            ["new-group", "none-group", "nan-group-h", "new-factor", "text-x", "nan-x", "none-factor", "drop-x",
             "drop-g", "new-s", "inf-x"]), max_size=3)):
        column = {"new-group": "g", "none-group": "g", "nan-group-h": "h", "new-factor": "f", "text-x": "x",
                  "nan-x": "x", "inf-x": "x", "none-factor": "f", "drop-x": "x", "drop-g": "g", "new-s": "s"}[change]
        if list(new.columns).count(column) != 1:  # dropped already, or the doubled column
            continue
        if change == "new-group":
            new["g"] = "unseen"
        elif change == "none-group":
            new["g"] = new["g"].astype(object)
            new.iloc[0, new.columns.get_loc("g")] = None
        elif change == "nan-group-h":
            new["h"] = new["h"].astype(float)
            new.iloc[0, new.columns.get_loc("h")] = np.nan
        elif change == "new-factor":
            new["f"] = "zz"
        elif change == "text-x":
            new["x"] = "text"
        elif change in ("nan-x", "inf-x"):
            numeric = pd.api.types.is_numeric_dtype(new["x"].dtype)
            new["x"] = new["x"].astype(float) if numeric else new["x"].astype(object)
            new.iloc[0, new.columns.get_loc("x")] = np.nan if change == "nan-x" else np.inf
        elif change == "none-factor":
            new["f"] = new["f"].astype(object)
            new.iloc[0, new.columns.get_loc("f")] = None
        elif change == "new-s":
            new["s"] = "never"
        elif change.startswith("drop-"):
            new = new.drop(columns=[change[5:]])
    return new


def _fit_data(draw):
    return draw(frames(n_rows=st.just(60)))


# A fit per example costs far more than a parse: fewer examples keep both fuzzers near 30 s in CI,
# and keep one slow-profile run to a few minutes, so that run_fuzzer stops close to FUZZ_MINUTES.
MODEL_EXAMPLES = 200 if os.environ.get("HYPOTHESIS_PROFILE") == "slow" else 100


@settings(max_examples=MODEL_EXAMPLES)
@given(glm=st.sampled_from([None, None, None, "poisson", "binomial", "binomial-cbind"]), data=st.data())
def _model_fuzz(glm, data):
    # a glmer fit runs PIRLS at every theta: fewer variance parameters keep it near a second
    formula = data.draw(model_formulas(MAX_THETA if glm is None else 3), label="formula")
    EXAMPLES["model"] = EXAMPLES.get("model", 0) + 1
    frame = _fit_data(data.draw)
    with time_limit(EXAMPLE_SECONDS):
        fit = None
        if glm is None:
            with only_own_errors(f"lmer({formula!r})"):
                fit = ml.lmer(f"y ~ {formula}", frame, reml=data.draw(st.booleans()))
        else:
            response = {"poisson": "cnt", "binomial": "bin", "binomial-cbind": "cbind(cnt, 4)"}[glm]
            family = "poisson" if glm == "poisson" else "binomial"
            with only_own_errors(f"glmer({response} ~ {formula!r}, family={family})"):
                fit = ml.glmer(f"{response} ~ {formula}", frame, family=family, nagq=data.draw(st.sampled_from([0, 1])))
        if fit is None:
            return
        EXAMPLES["model fitted"] = EXAMPLES.get("model fitted", 0) + 1
        new = data.draw(newdata_for(frame))
        allow = data.draw(st.booleans())
        re_form = data.draw(st.sampled_from([None, "~0"]))
        with only_own_errors(f"predict({formula!r}, allow_new_levels={allow}, re_form={re_form})"):
            got = fit.predict(new, allow_new_levels=allow, re_form=re_form)
            assert len(got) == len(new)


def test_fuzz_model_fit_and_predict():
    run_fuzzer("model fit and predict", _model_fuzz)
    print(f"fuzz model fit and predict: {EXAMPLES.get('model', 0)} examples run, "
          f"{EXAMPLES.get('model fitted', 0)} fitted")
