"""Bad input to ulam: each error quotes the line or names the data column."""
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.rethinking import UlamSyntaxError, parse_model
from multilevel.rethinking.graph import build_graph

DATA = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "g": [1, 2, 1, 2]})


@pytest.mark.parametrize("model, message", [
    ("y ~ normal(mu, sigma", "expected '\\)'"),
    ("y = normal(0, 1)", "unexpected character '='"),
    ("y ~ 3", "must be a distribution"),
    ("y ~ normal(0, 1) ~ x", "exactly one"),
    ("mu <- a $ b", "unexpected character '\\$'"),
    ("y ~ normal(0, 1) extra", "unexpected 'extra'"),
])
def test_lines_that_do_not_parse(model, message):
    with pytest.raises(UlamSyntaxError) as info:
        parse_model(model)
    assert message.replace("\\", "") in str(info.value)
    with pytest.raises(UlamSyntaxError) as info:
        parse_model(model)
    assert "line 1" in str(info.value) and model.split()[0] in str(info.value)


def test_unknown_distribution_quotes_the_line():
    with pytest.raises(UlamSyntaxError, match="unknown distribution 'dnrom'.*line 2"):
        build_graph(parse_model("y ~ normal(mu, 1)\nmu ~ dnrom(0, 1)"), DATA)


def test_undefined_symbol():
    with pytest.raises(UlamSyntaxError, match="undefined symbol 'sigma'"):
        build_graph(parse_model("y ~ normal(mu, sigma)\nmu ~ normal(0, 1)"), DATA)


def test_size_that_cannot_be_inferred():
    with pytest.raises(UlamSyntaxError, match="cannot infer the size of correlation matrix 'Rho'"):
        build_graph(parse_model("y ~ normal(mu, 1)\nmu ~ normal(0, 1)\nRho ~ lkj_corr(2)"), DATA)


def test_data_missing_a_variable():
    with pytest.raises(UlamSyntaxError, match="undefined symbol 'x'"):
        build_graph(parse_model("y ~ normal(mu, 1)\nmu <- a + b * x\na ~ normal(0, 1)\nb ~ normal(0, 1)"), DATA)


@pytest.mark.parametrize("values, message", [
    ([0, 1, 2, 1], "must hold whole numbers 1..K"),
    ([1.5, 2, 1, 2], "must hold whole numbers 1..K"),
    ([1, np.nan, 1, 2], "has missing values"),
])
def test_bad_index_columns(values, message):
    data = DATA.assign(g=values)
    with pytest.raises(ml.DataError, match=f"(index|data) column 'g' {message}"):
        build_graph(parse_model("y ~ normal(mu, 1)\nmu <- a[g]\na[g] ~ normal(0, 1)"), data)


def test_data_column_with_missing_values():
    data = DATA.assign(y=[1.0, np.nan, 3.0, 4.0])
    with pytest.raises(ml.DataError, match="data column 'y' has missing values"):
        build_graph(parse_model("y ~ normal(mu, 1)\nmu ~ normal(0, 1)"), data)
