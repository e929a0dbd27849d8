"""brms's hypothesis() (issue 13): tables against brms 2.18 on fixed draws, parsing, errors.

Reference: benchmarks/r/hypothesis_reference.R ran brms 2.18.0's hypothesis() (R 4.2.2) on the draws
in tests/fixtures/hypothesis_draws.csv; its output is tests/fixtures/brms_hypothesis.json.
"""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml
from multilevel.errors import ArgumentError

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "brms_hypothesis.json").read_text())
DRAWS = pd.read_csv(FIXTURES / "hypothesis_draws.csv")
POSTERIOR = DRAWS[["b_a", "b_b", "b_x:z"]].rename(columns={"b_a": "a", "b_b": "b", "b_x:z": "x:z"})
COLUMNS = ["Estimate", "Est.Error", "CI.Lower", "CI.Upper", "Evid.Ratio", "Post.Prob"]


@pytest.mark.parametrize("case", range(len(REFERENCE["results"])))
def test_tables_equal_brms_on_the_same_draws(case):
    expected = REFERENCE["results"][case]
    ours = ml.hypothesis(POSTERIOR, REFERENCE["hypotheses"], class_="", alpha=expected["alpha"],
                         robust=expected["robust"]).hypothesis
    for row, want in zip(ours.to_dict("records"), expected["table"]):
        assert row["Hypothesis"] == want["Hypothesis"]
        assert row["Star"] == want["Star"]
        for column in COLUMNS:
            if want[column] is None:  # brms's NA: a point hypothesis without prior draws
                assert math.isnan(row[column])
            else:  # the same draws, the same sums: to rounding
                assert row[column] == pytest.approx(want[column], rel=1e-9, abs=1e-12)


def test_class_and_group_prefix_and_full_names():
    draws = POSTERIOR.rename(columns=lambda c: f"b_{c}").assign(**{"sd_g__Intercept": DRAWS["b_b"].abs(),
                                                                   "r_g[3,x]": DRAWS["b_a"]})
    by_class = ml.hypothesis(draws, "a > 0").hypothesis
    by_name = ml.hypothesis(draws, "b_a > 0", class_="").hypothesis
    assert by_class["Estimate"].iloc[0] == by_name["Estimate"].iloc[0] == pytest.approx(DRAWS["b_a"].mean())
    assert ml.hypothesis(draws, "Intercept > 0.1", class_="sd", group="g").hypothesis["Estimate"].iloc[0] == \
        pytest.approx(DRAWS["b_b"].abs().mean() - 0.1)
    named = ml.hypothesis(draws, {"level 3": "r_g[3,x] > 0"}, class_="").hypothesis
    assert named["Hypothesis"].tolist() == ["level 3"]


def test_savage_dickey_ratio_with_prior_draws():
    """Point hypotheses use the prior draws (brm(..., sample_prior="yes")): the ratio of kernel
    densities at 0. brms interpolates R's density() grid; ours evaluates the same kernel and
    bandwidth at the point: equal to brms's internal density_ratio() to 1e-5 here (3.516252 vs 3.516240)."""

    class Fit:  # the two attributes hypothesis() reads from a brm fit
        prior_draws = pd.DataFrame({"b_a": DRAWS["prior_a"]})

        @staticmethod
        def draws():
            return DRAWS[["b_a"]]

    table = ml.hypothesis(Fit(), "a = 1").hypothesis
    assert table["Evid.Ratio"].iloc[0] == pytest.approx(REFERENCE["savage_dickey_a_minus_1"], rel=1e-4)
    assert table["Post.Prob"].iloc[0] == pytest.approx(table["Evid.Ratio"].iloc[0] / (1 + table["Evid.Ratio"].iloc[0]))


def test_printing_as_brms_and_html_escaped():
    result = ml.hypothesis(POSTERIOR, {"<b>bold</b> claim": "a > 0"}, class_="")
    text = str(result)
    assert text.startswith("Hypothesis Tests for class :") and "'CI': 90%-CI for one-sided" in text
    assert "<b>bold</b>" not in result._repr_html_() and "&lt;b&gt;" in result._repr_html_()
    assert list(result.samples) == ["H1"] and len(result.samples) == len(POSTERIOR)


@pytest.mark.parametrize("text, message", [
    ("a >> 0", "of the form"),
    ("a", "of the form"),
    ("c > 0", "cannot be found in the model: c"),
    ("system(a) > 0", "unknown function 'system'"),
    ("__import__('os') > 0", "cannot read the hypothesis"),
])
def test_bad_hypotheses_are_our_errors(text, message):
    with pytest.raises(ArgumentError, match=message):
        ml.hypothesis(POSTERIOR, text, class_="")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab()*+-/^=<>0123456789.,[]:_ex'\"; ", max_size=30))
def test_any_text_is_read_or_refused_by_us(text):
    try:
        result = ml.hypothesis(POSTERIOR, text, class_="")
    except ArgumentError:
        return
    assert len(result.hypothesis) == 1 and len(result.samples["H1"]) == len(POSTERIOR)
