"""Fuzz ``ml.prior``: random text and a grammar of brms priors with awkward numbers.

Every prior text either raises the library's own error (``is_own_exception``) when the prior is made,
or is accepted; an accepted prior must build its NumPyro distribution (or LKJ density) without error
and have a finite log density somewhere in its support, in double precision as ``brm`` samples.
Run long with ``HYPOTHESIS_PROFILE=slow FUZZ_MINUTES=10 python -m pytest -q -s tests/test_fuzz_priors.py``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.bayes.priors import CORRELATION, DISTRIBUTIONS, POSITIVE_CLASSES, PRIOR_CLASSES  # noqa: E402
from multilevel.errors import is_own_exception  # noqa: E402

from fuzzing import run_fuzzer, time_limit  # noqa: E402

SECONDS_PER_EXAMPLE = 10


# ---- strategies -----------------------------------------------------------------------------------
AWKWARD_NUMBERS = ["0", "-0", "1", "-1", "0.5", ".5", "5.", "+3", "1e999", "-1e999", "1e-999", "1e308", "1e100",
                   "1e101", "-1e100", "1e-300", "5e-324", "nan", "NaN", "inf", "-inf", "Infinity", "1e", "e5",
                   "1.2.3", "0x10", "1_000", "", " ", "--1", "1e+100", "700", "701", "-700", "1000", "(1)", "a"]


def _number_text(value: float) -> st.SearchStrategy:
    return st.sampled_from([repr(value), f"{value:g}", f"{value:.17g}", f"{value:e}"])


numbers = st.one_of(
    st.sampled_from(AWKWARD_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).flatmap(_number_text),
    st.floats(min_value=-1e3, max_value=1e3).flatmap(_number_text),
    st.integers(min_value=-10**6, max_value=10**6).map(str),
)
names = st.one_of(st.sampled_from(list(DISTRIBUTIONS)), st.sampled_from(["norml", "Normal", "lkjcorr", "half_normal",
                                                                          "__import__", "student"]),
                  st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))
separators = st.sampled_from([",", ", ", " , ", ",\n", ";", " "])


@st.composite
def grammar_priors(draw) -> str:
    name = draw(names)
    wanted = len(DISTRIBUTIONS.get(name, ())) or 2
    count = draw(st.one_of(st.just(wanted), st.integers(min_value=0, max_value=5)))
    arguments = [draw(numbers) for _ in range(count)]
    text = f"{name}({draw(separators).join(arguments)})"
    return draw(st.sampled_from([text, f"  {text} ", text[:-1], text + ")", text + " x", text.upper()]))


prior_texts = st.one_of(grammar_priors(), st.text(max_size=40),
                        st.text(alphabet="normal_tudexpkjcy(),.0123456789e+-naif ", max_size=30))
classes = st.one_of(st.sampled_from(PRIOR_CLASSES), st.sampled_from(["beta", "", "B"]))


# ---- the property ---------------------------------------------------------------------------------
def _candidate_points(name: str, a: tuple[float, ...], positive: bool) -> list[float]:
    """Points inside the support where the density should be finite: centers and plain values."""
    points = [1.0, 0.5, 2.0, 1e-3, 1e-100]
    if name in ("normal", "cauchy", "logistic", "double_exponential"):
        points += [a[0], a[0] + a[1]]
    elif name == "student_t":
        points += [a[1], a[1] + a[2]]
    elif name == "uniform":
        points += [a[0] / 2 + a[1] / 2, a[0] + (a[1] - a[0]) / 4, max(a[0], 0.0) / 2 + a[1] / 2]
    elif name == "lognormal":
        points += [math.exp(a[0])]
    elif name in ("gamma", "inv_gamma"):
        points += [a[0] / a[1], a[1] / (a[0] + 1)]
    elif name == "exponential":
        points += [1 / a[0]]
    elif name == "weibull":
        points += [a[1]]
    if positive:  # the half distribution of a positive class: its support is (0, inf)
        points = [p for p in points if p > 0] + [abs(p) for p in points if p < 0]
    return [p for p in points if np.isfinite(p)]


def check_prior(text: str, class_: str) -> None:
    try:
        made = ml.prior(text, class_=class_)
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        if not is_own_exception(exc):
            raise AssertionError(f"ml.prior({text!r}, class_={class_!r}) raised a foreign "
                                 f"{type(exc).__name__}: {exc}") from exc
        return
    if not made.text:
        return  # brms's flat prior
    name, a = made.distribution
    if name in CORRELATION:
        from multilevel.bayes.lkj import lkj_cholesky_log_density

        value = float(lkj_cholesky_log_density(np.eye(3), a[0]))
        assert np.isfinite(value), f"{text!r}: LKJ log density at the identity is {value}"
        return
    import jax.numpy as jnp

    from multilevel.bayes.model import prior_log_density

    points = _candidate_points(name, a, made.class_ in POSITIVE_CLASSES)
    # a JAX array, as the sampler passes (a Python float would make NumPyro compute in Python floats)
    values = [float(prior_log_density(made, jnp.asarray(p))) for p in points]
    assert any(np.isfinite(values)), f"{text!r}: no finite log density at {points}: {values}"


def test_fuzz_priors():
    from multilevel.bayes.sampler import prepare_devices

    prepare_devices()  # double precision, as brm samples

    @given(text=prior_texts, class_=classes)
    def fuzz(text, class_):
        with time_limit(SECONDS_PER_EXAMPLE):
            check_prior(text, class_)

    run_fuzzer("priors", fuzz)


# ---- regressions the fuzzer found -----------------------------------------------------------------
def test_half_distribution_far_below_zero_keeps_a_density():
    from multilevel.bayes.sampler import prepare_devices

    prepare_devices()
    for text in ["normal(-1e50, 1)", "student_t(1e-100, -1e50, 1)", "cauchy(-1e50, 1)", "logistic(-1e50, 1)",
                 "double_exponential(-1e50, 1)"]:
        check_prior(text, "sd")


@pytest.mark.parametrize("text", ["lognormal(701, 1)", "lognormal(-1000, 2)"])
def test_lognormal_whose_median_is_not_a_double(text):
    with pytest.raises(ml.PriorError, match="lognormal's argument mu"):
        ml.prior(text)


def test_lognormal_at_the_edge_of_double_precision_has_a_finite_density():
    from multilevel.bayes.sampler import prepare_devices

    prepare_devices()
    check_prior("lognormal(700, 1e-300)", "sd")
    check_prior("lognormal(-700, 1e100)", "b")
