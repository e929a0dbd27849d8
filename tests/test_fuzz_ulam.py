"""Fuzzing ml.ulam's model language: whatever the text, the library answers with its own errors.

Two fuzzers (hypothesis): random text (arbitrary unicode, and text made of the language's tokens)
fed to the parser and graph builder; and a grammar of statements that parse (likelihood, linear
model with indexed parameters, priors with random distributions and arguments, good and bad) over a
small random data set, so that the log density and its gradient are evaluated at the initial point
(no NUTS). A run fails on any exception that is not ``is_own_exception`` and on a hang (each
example is guarded by a timer). Non-finite log densities of nonsensical models are fine.

CI runs a small derandomized budget; ``HYPOTHESIS_PROFILE=slow FUZZ_MINUTES=10`` runs each fuzzer
for ten minutes (``-m ""`` is not needed: these tests are not marked slow).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzing import ExampleTimeout, run_fuzzer, time_limit  # noqa: E402
from multilevel.errors import is_own_exception  # noqa: E402
from multilevel.rethinking import fit as _ulam_engine  # noqa: E402,F401 - JAX set up as ml.ulam sets it (float64)
from multilevel.rethinking import parse_model  # noqa: E402
from multilevel.rethinking.graph import build_graph  # noqa: E402
from multilevel.rethinking.logdensity import UlamDensity, initial_log_density  # noqa: E402

SECONDS_PER_EXAMPLE = 20  # generous for a loaded 2-core machine; a hang is many times this
CI = os.environ.get("HYPOTHESIS_PROFILE", "ci") != "slow"


def ci_budget(examples: int):
    """Fewer examples in the CI profile (kept derandomized); the slow profile keeps its own."""
    return settings(max_examples=examples, suppress_health_check=list(HealthCheck)) if CI else (lambda f: f)




COUNTS: dict = {}


def attempt(model, data, gradient: bool = True) -> str:
    """Parse, build and evaluate; returns how far it got. Foreign exceptions and hangs propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", category=RuntimeWarning, module="multilevel")
        try:
            with time_limit(SECONDS_PER_EXAMPLE):
                statements = parse_model(model)
                graph = build_graph(statements, data)
                initial_log_density(UlamDensity(graph), gradient=gradient)
            stage = "evaluated"
        except ExampleTimeout:
            pytest.fail(f"ulam hung on the model:\n{model}")
        except Exception as exc:  # noqa: BLE001 - the point of a fuzzer
            if not is_own_exception(exc):
                raise
            stage = type(exc).__name__
    COUNTS[stage] = COUNTS.get(stage, 0) + 1
    return stage


# ---- (a) random text --------------------------------------------------------------------------
TOKENS = ["y", "x", "g", "n", "k", "s", "a", "b", "mu", "sigma", "p", "c", "logit", "log", "vector", "real",
          "save>", "dnorm", "dexp", "dbinom", "normal", "multi_normal", "lkj_corr", "exp", "inv_logit", "foo",
          "0", "1", "-1", "2.5", ".5", "1e3", "1e999", "1e308", "0.0", "48", "+", "-", "*", "/", "^", "**", "~",
          "<-", "(", ")", "[", "]", ",", ":", ">", "#", "\n", " ", "=", "$", "\t", "\u00e9", "\u2212", "_",
          "|", "==", ">=", "custom", "log_mix", "normal_lpdf", "poisson_lpmf", "log1m"]
SEPARATORS = st.sampled_from(["", " ", " ", "\n"])
TOKEN_TEXT = st.lists(st.tuples(st.sampled_from(TOKENS), SEPARATORS), max_size=40).map(
    lambda parts: "".join(t + s for t, s in parts))
TEXT_DATA = pd.DataFrame({"y": [0.5, -1.0, 2.0, 0.0], "x": [1.0, 2.0, 3.0, 4.0], "g": [1, 2, 1, 3],
                          "n": [3, 4, 5, 6], "k": [1, 0, 5, 2], "s": ["u", "v", "u", "w"]})


def test_fuzz_random_text():
    @ci_budget(150)
    @given(st.one_of(st.text(max_size=120), TOKEN_TEXT, st.lists(TOKEN_TEXT, max_size=5)))
    def fuzz(model):
        attempt(model, TEXT_DATA, gradient=False)

    run_fuzzer("ulam random text", fuzz)


# ---- (b) a grammar of statements that parse ----------------------------------------------------
DISTRIBUTIONS = {  # name -> arguments that make sense (mutated below)
    "dnorm": ["LOC", "SCALE"], "normal": ["LOC", "SCALE"], "dcauchy": ["LOC", "SCALE"],
    "dhalfnorm": ["0", "SCALE"], "dhalfcauchy": ["0", "SCALE"], "dstudent": ["2", "LOC", "SCALE"],
    "dexp": ["SCALE"], "dgamma": ["SCALE", "SCALE"], "dbeta": ["SCALE", "SCALE"], "dlnorm": ["LOC", "SCALE"],
    "dbinom": ["n", "PROB"], "bernoulli": ["PROB"], "dpois": ["RATE"], "dgampois": ["RATE", "SCALE"],
    "dbetabinom": ["n", "PROB", "SCALE"], "multi_normal": ["MEANS", "Rho", "SCALE"],
    "lkj_corr": ["2"], "dnrom": ["LOC", "SCALE"],
}
NUMBERS = st.sampled_from(["0", "1", "-1", "2.5", "0.5", "3", "1e3", "1e308", "1e-320", "4", "48"])
PARAMETERS = ["a", "b", "abar", "sigma", "Rho"]
INDEXED = st.builds(lambda v, i: f"{v}[{i}]", st.sampled_from(["a", "b", "x", "Rho", "mu", "abar"]),
                    st.sampled_from(["g", "g", "1", "2", "1.5", "0", "g + 1", "k", "n", "a", "1, 2"]))
LEAVES = st.one_of(NUMBERS, st.sampled_from(["a", "b", "abar", "sigma", "x", "g", "n", "k", "mu", "Rho", "z"]),
                   INDEXED)
FUNCTIONS = ["exp", "log", "inv_logit", "logit", "sqrt", "abs", "sum", "mean", "softmax", "log_sum_exp",
             "cumulative_sum", "inv", "square", "log1p", "expm1", "foo"]


def _expressions(children):
    return st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", children, st.sampled_from(["+", "-", "*", "/", "^"]), children),
        st.builds(lambda a: f"({a})", children),
        st.builds(lambda a: f"-{a}", children),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(FUNCTIONS), children),
        st.builds(lambda a, b: f"pow({a}, {b})", children, children),
        st.builds(lambda a, b: f"c({a}, {b})", children, children),
        st.builds(lambda a, k: f"rep_vector({a}, {k})", children, st.sampled_from(["2", "3", "0", "2.5", "x"])),
    )


EXPRESSIONS = st.recursive(LEAVES, _expressions, max_leaves=6)
ROLES = {"LOC": st.one_of(st.just("mu"), st.just("abar"), EXPRESSIONS),
         "SCALE": st.one_of(st.just("sigma"), st.sampled_from(["1", "0.5", "-1", "0", "x", "n"]), EXPRESSIONS),
         "PROB": st.one_of(st.just("p"), st.sampled_from(["0.5", "2", "x"]), EXPRESSIONS),
         "RATE": st.one_of(st.just("lambda"), st.just("mu"), EXPRESSIONS),
         "MEANS": st.one_of(st.just("c(abar, abar)"), st.just("c(0, 1)"), st.just("abar"), EXPRESSIONS)}


def rarely(usual, unusual, one_in: int = 8):
    """``usual``, and now and then ``unusual`` (hypothesis shrinks towards the usual, listed first)."""
    return st.integers(1, one_in).flatmap(lambda i: unusual if i == one_in else usual)


@st.composite
def calls(draw, names=None, good=None):
    name = draw(st.sampled_from(names or sorted(DISTRIBUTIONS)))
    good = good or PRIOR_ARGUMENTS
    args = [draw(rarely(st.just(good[a]), ROLES[a])) if a in ROLES else a for a in DISTRIBUTIONS[name]]
    change = draw(rarely(st.just(0), st.integers(1, 3), 20))
    if change == 1 and args:
        args = args[:-1]  # one argument too few
    elif change == 2:
        args.append(draw(EXPRESSIONS))  # one too many
    elif change == 3 and args:
        args[draw(st.integers(0, len(args) - 1))] = draw(EXPRESSIONS)
    return f"{name}({', '.join(args)})"


LIKELIHOOD_ARGUMENTS = {"LOC": "mu", "SCALE": "sigma", "PROB": "p", "RATE": "lambda", "MEANS": "c(abar, abar)"}
PRIOR_ARGUMENTS = {"LOC": "0", "SCALE": "1", "PROB": "0.5", "RATE": "1", "MEANS": "c(abar, abar)"}
LIKELIHOODS = {"y": ["dnorm", "normal", "dstudent", "dcauchy", "dlnorm"], "k": ["dbinom", "dpois", "dgampois",
                                                                             "dbetabinom", "bernoulli"]}
LINKS = {"dnorm": "mu", "normal": "mu", "dstudent": "mu", "dcauchy": "mu", "dlnorm": "mu", "dbinom": "logit(p)",
         "dbetabinom": "logit(p)", "bernoulli": "logit(p)", "dpois": "log(lambda)", "dgampois": "log(lambda)"}
PRIORS = ["dnorm", "normal", "dcauchy", "dstudent", "dexp", "dhalfnorm", "dgamma", "dlnorm", "dbeta"]


@st.composite
def models(draw):
    """A likelihood, a linear model, priors for a, b, abar, sigma (each sometimes wrong)."""
    outcome = draw(rarely(st.sampled_from(["y", "k"]), st.sampled_from(["c(y, k)", "x[g]", "mu", "g"])))
    family = draw(rarely(st.sampled_from(LIKELIHOODS.get(outcome, ["dnorm"])), st.sampled_from(sorted(DISTRIBUTIONS))))
    lines = [f"{outcome} ~ {draw(calls([family], LIKELIHOOD_ARGUMENTS))}"]
    target = draw(rarely(st.just(LINKS.get(family, "mu")),
                         st.sampled_from(["mu", "logit(p)", "save> mu", "vector[4]:mu", "mu[g]", "log(lambda)"])))
    linear = draw(rarely(st.sampled_from(["abar + a[g] + b * x", "a[g] + b[g] * x", "abar + b * x"]), EXPRESSIONS, 4))
    lines.append(f"{target} <- {linear}")
    if draw(rarely(st.just(False), st.just(True), 4)):
        lines.append(draw(st.sampled_from(["z <- a * 2", "z <- z", "z <- mu + 1", "x <- x / 10", "p <- mu",
                                           "lambda <- exp(mu)", "a <- b", "b <- a[g]"])))
    correlated = draw(rarely(st.just(False), st.just(True), 4))
    if correlated:
        lines += [f"c(a, b)[g] ~ {draw(calls(['multi_normal']))}", f"Rho ~ {draw(calls(['lkj_corr']))}",
                  f"sigma_ab ~ {draw(calls(PRIORS))}".replace("sigma_ab ~ ", "sigma_ab ~ ")]
        lines = [line.replace("Rho, sigma)", "Rho, sigma_ab)") for line in lines]
    for name in ["a", "b", "abar", "sigma"]:
        if correlated and name in ("a", "b"):
            continue
        usual = f"{name}[g]" if name in ("a", "b") else name
        lhs = draw(rarely(st.just(usual), st.sampled_from([name, f"{name}[g]", f"vector[3]:{name}", f"{name}[k]",
                                                           f"vector[1]:{name}"])))
        lines.append(f"{lhs} ~ {draw(calls(PRIORS if name != 'sigma' else ['dexp', 'dhalfnorm', 'dnorm']))}")
    return "\n".join(draw(rarely(st.just(lines), st.permutations(lines), 3)))


@st.composite
def data_sets(draw):
    rows = draw(st.integers(1, 6))
    floats = st.floats(-5, 5, allow_nan=False)
    n = draw(st.lists(st.integers(1, 6), min_size=rows, max_size=rows))
    def column(usual, unusual):  # now and then one unusual value
        values = draw(st.lists(usual, min_size=rows, max_size=rows))
        if draw(rarely(st.just(False), st.just(True), 10)):
            values[draw(st.integers(0, rows - 1))] = draw(unusual)
        return values

    frame = {
        "y": column(floats, st.sampled_from([np.nan, np.inf, 1e300, -0.0])),
        "x": column(floats, st.sampled_from([1e300, -0.0])),
        "g": column(st.integers(1, 4), st.sampled_from([0, -1, 2.5, 10**6])),
        "n": n,
        "k": [draw(st.integers(0, m)) for m in n],
    }
    kind = draw(rarely(st.just("frame"), st.sampled_from(["text", "ragged dict", "dict"]), 5))
    if kind == "text":
        frame["g"] = [f"level{v}" for v in frame["g"]]
    if kind == "ragged dict":
        return {name: np.asarray(values[: draw(st.integers(1, rows))]) for name, values in frame.items()}
    if kind == "dict":
        return {name: np.asarray(values) for name, values in frame.items()}
    return pd.DataFrame(frame)


def test_fuzz_grammar_reaches_evaluation():
    @ci_budget(60)
    @given(models(), data_sets())
    def fuzz(model, data):
        attempt(model, data)

    COUNTS.clear()
    run_fuzzer("ulam grammar", fuzz)
    print(f"ulam grammar outcomes: {COUNTS}")
    assert COUNTS.get("evaluated", 0) > 0  # the grammar reaches the log density, not only the parser


# ---- (c) custom() lines: Stan's density calls, log_mix, conditions --------------------------------
DENSITY_CALLS = {"normal_lpdf": ["y", "mu", "sigma"], "poisson_lpmf": ["k", "lambda"],
                 "binomial_lpmf": ["k", "n", "p"], "beta_binomial_lpmf": ["k", "n", "sigma", "2"],
                 "neg_binomial_2_lpmf": ["k", "lambda", "sigma"], "student_t_lpdf": ["y", "3", "mu", "sigma"],
                 "normal_lpfd": ["y", "mu", "sigma"], "dnorm": ["y", "mu", "sigma"]}
SEPARATOR = rarely(st.just("|"), st.sampled_from([",", "||", ""]), 10)


@st.composite
def log_densities(draw, depth: int = 0):
    """A log-density expression as custom() takes it (sometimes malformed)."""
    kind = draw(st.sampled_from(["density", "density", "mix", "sum_exp", "log1m", "expression"][: 6 if depth < 2 else 2]))
    if kind == "density":
        name = draw(rarely(st.sampled_from(USUAL_DENSITIES), st.sampled_from(sorted(DENSITY_CALLS))))
        args = [draw(rarely(st.just(a), EXPRESSIONS, 10)) for a in DENSITY_CALLS[name]]
        return f"{name}({args[0]} {draw(SEPARATOR)} {', '.join(args[1:])})"
    if kind == "mix":
        theta = draw(rarely(st.sampled_from(["p", "0.3", "inv_logit(a[g])"]), EXPRESSIONS, 4))
        parts = [draw(log_densities(depth + 1)) for _ in range(draw(rarely(st.just(2), st.sampled_from([1, 3]))))]
        return f"log_mix({theta}, {', '.join(parts)})"
    if kind == "sum_exp":
        return f"log_sum_exp({draw(log_densities(depth + 1))}, log1m(p) + {draw(log_densities(depth + 1))})"
    if kind == "log1m":
        return f"log1m(p) + {draw(log_densities(depth + 1))}"
    return draw(EXPRESSIONS)


CONDITIONS = rarely(st.sampled_from(["", "|y==0", "|k>0", "|k == 0", "|g>=2", "|x <= 1", "|n != 2"]),
                    st.sampled_from(["|mu>0", "|k", "|k=0", "|y==0 | y>0"]), 6)
USUAL_DENSITIES = ["normal_lpdf", "poisson_lpmf", "binomial_lpmf", "beta_binomial_lpmf", "neg_binomial_2_lpmf",
                   "student_t_lpdf"]


@st.composite
def custom_models(draw):
    """One or two custom() likelihood lines (with conditions), definitions and priors."""
    outcome = draw(rarely(st.sampled_from(["y", "k"]), st.sampled_from(["mu", "c(y, k)", "x[g]"])))
    lines = [f"{outcome}{draw(CONDITIONS)} ~ {draw(rarely(st.just('custom'), st.sampled_from(['dcustom', 'custum'])))}"
             f"({draw(log_densities())})" for _ in range(draw(st.integers(1, 2)))]
    lines += ["mu <- abar + a[g] + b * x", "logit(p) <- abar", "log(lambda) <- abar + b * x",
              "a[g] ~ normal(0, 1)", "abar ~ normal(0, 1)", "b ~ normal(0, 1)", "sigma ~ exponential(1)"]
    return "\n".join(draw(rarely(st.just(lines), st.permutations(lines), 3)))


def test_fuzz_custom_lines():
    @ci_budget(20)
    @given(custom_models(), data_sets())
    def fuzz(model, data):
        attempt(model, data)

    COUNTS.clear()
    run_fuzzer("ulam custom lines", fuzz)
    print(f"ulam custom outcomes: {COUNTS}")
    assert COUNTS.get("evaluated", 0) > 0
