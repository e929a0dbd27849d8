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
    ("y = normal(0, 1)", "'=' does not define anything here: write '<-'"),
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


# ---- issue 10: no silent wrong answers ------------------------------------------------------------
import warnings  # noqa: E402

from multilevel.errors import ArgumentError, DoubtWarning, ModelError  # noqa: E402
from multilevel.rethinking.logdensity import UlamDensity, initial_log_density  # noqa: E402

TANKS = {"y": np.linspace(-1, 1, 60), "tank": np.tile(np.arange(1, 49), 2)[:60], "t2": np.arange(1, 61)}
INDEXED = "y ~ dnorm(mu, 1)\nmu <- a[{index}]\na[tank] ~ dnorm(0, 1)"


def graph_of(model, data=DATA):
    return build_graph(parse_model(model), data)


@pytest.mark.parametrize("column, message", [
    (np.arange(1, 61), "index column 't2' goes up to 60, but 'a' has only 48 elements"),
    (np.r_[0, np.ones(59)], "index column 't2' must hold whole numbers 1..K .*holds 0"),
    (np.r_[-1, np.ones(59)], "index column 't2' must hold whole numbers 1..K .*holds -1"),
    (np.r_[2.5, np.ones(59)], "index column 't2' must hold whole numbers 1..K, but holds 2.5"),
])
def test_right_hand_side_indices_are_checked(column, message):
    # before: each gathered garbage silently (JAX clamps and wraps out-of-range indices)
    with pytest.raises(ml.DataError, match=message) as info:
        graph_of(INDEXED.format(index="t2"), dict(TANKS, t2=column))
    assert "line 2: mu <- a[t2]" in str(info.value)


@pytest.mark.parametrize("model, error, message", [
    ("y ~ dnorm(mu, 1)\nmu <- a[1.5]\na[tank] ~ dnorm(0, 1)", UlamSyntaxError, "index 1.5 must hold whole numbers"),
    ("y ~ dnorm(mu, 1)\nmu <- a[49]\na[tank] ~ dnorm(0, 1)", ModelError, "index 49 goes up to 49, but 'a' has only 48"),
    ("y ~ dnorm(mu, 1)\nmu <- b[tank]\nb ~ dnorm(0, 1)", ModelError, "'b' is a single number but is indexed"),
    ("y ~ dnorm(mu, 1)\nmu <- a[b]\na[tank] ~ dnorm(0, 1)\nb ~ dnorm(0, 1)", ModelError,
     "depends on 'b', which is not data"),
    ("y ~ dnorm(mu, 1)\nmu <- a[tank + 1]\na[tank] ~ dnorm(0, 1)", ml.DataError, r"index \(tank \+ 1\) goes up to 49"),
    ("y ~ dnorm(mu, 1)\nmu <- y[t2 + 1]", ml.DataError, "goes up to 61, but 'y' has only 60 elements"),
])
def test_indices_written_in_the_model(model, error, message):
    with pytest.raises(error, match=message) as info:
        graph_of(model, TANKS)
    assert "(line 2: mu <- " in str(info.value)


@pytest.mark.parametrize("model, message", [
    ("y ~ dnorm(mu, 1, 99, 99)\nmu ~ dnorm(0, 1)", r"dnorm\(\) takes 2 arguments \(mean, sd\) but got 4 \(line 1\)"),
    ("y ~ dnorm(mu, s)\nmu ~ dnorm(0, 1)\ns ~ dexp()", r"dexp\(\) takes 1 argument \(rate\) but got 0 \(line 3\)"),
    ("y ~ dstudent(mu, 1)\nmu ~ dnorm(0, 1)", r"dstudent\(\) takes 3 arguments \(nu, mean, sd\) but got 2"),
    ("y ~ dnorm(mu, 1)\nmu <- exp(a, a)\na ~ dnorm(0, 1)",
     r"function exp\(\) takes 1 argument \(x\) but got 2 \(line 2\)"),
])
def test_wrong_number_of_arguments(model, message):
    # before: extra arguments were ignored silently; too few gave "dexp() has too few arguments" without the line number
    with pytest.raises(UlamSyntaxError, match=message) as info:
        graph_of(model)
    assert model.splitlines()[int(info.value.line_no) - 1] in str(info.value)


@pytest.mark.parametrize("model", [
    "y ~ dnorm(mu, 1)\nmu <- b * grp\nb ~ dnorm(0, 1)",
    "y ~ dnorm(mu, 1)\nmu <- a[grp] + b * grp\na[grp] ~ dnorm(0, 1)\nb ~ dnorm(0, 1)",  # an index and a number
    "y ~ dnorm(mu, 1)\nmu <- a[grp + 1]\na[grp] ~ dnorm(0, 1)",  # arithmetic on a text index
])
def test_text_columns_used_as_numbers_are_named(model):
    # before: the text column was dropped, so 'grp' became a parameter (or 'not a data column')
    data = DATA.assign(grp=["a", "b", "a", "b"])
    with pytest.raises(ml.DataError, match=r"data column 'grp' holds text.*line 2.*can be an index.*pd.factorize"):
        graph_of(model, data)
    with pytest.raises(ml.DataError, match="data column 'grp' holds text"):
        graph_of(model, data.assign(grp=pd.Categorical(["a", "b", "a", "b"])))


def test_text_and_categorical_index_columns_are_coded_in_level_order():
    # rethinking needs coerce_index() first; here text sorts as R's factor() and a categorical keeps
    # its category order (unused categories dropped, as lme4 and brms drop them)
    data = DATA.assign(grp=["b", "a", "b", "c"],
                       cat=pd.Categorical(["x", "y", "x", "y"], categories=["y", "unused", "x"]))
    graph = graph_of("y ~ dnorm(mu, 1)\nmu <- a[grp] + k[cat]\na[grp] ~ dnorm(0, 1)\nk[cat] ~ dnorm(0, 1)", data)
    assert graph.data["grp"].tolist() == [2, 1, 2, 3] and list(graph.index_levels["grp"]) == ["a", "b", "c"]
    assert graph.data["cat"].tolist() == [2, 1, 2, 1] and list(graph.index_levels["cat"]) == ["y", "x"]
    assert graph.parameters["a"].shape == (3,) and graph.parameters["k"].shape == (2,)
    with pytest.raises(ml.DataError, match="index column 'grp' has missing values"):
        graph_of("y ~ dnorm(mu, 1)\nmu <- a[grp]\na[grp] ~ dnorm(0, 1)", data.assign(grp=["a", None, "b", "a"]))


def test_data_as_a_dict_of_columns_of_different_lengths():
    # rethinking's data=list(...): vectors of different lengths and single numbers
    data = {"y": [0.1, 0.4, -0.2], "g": ["u", "v", "u"], "prior_sd": 2.0, "unused": [1, 2]}
    graph = graph_of("y ~ dnorm(mu, 1)\nmu <- a[g]\na[g] ~ dnorm(0, prior_sd)", data)
    assert graph.nobs == 3 and graph.data["g"].tolist() == [1, 2, 1] and graph.data["prior_sd"].shape == ()
    with pytest.raises(ml.DataError, match="data must be a DataFrame or a dict"):
        graph_of("y ~ dnorm(0, 1)", [[0.1, 0.2]])


def test_unused_text_columns_are_fine():
    graph = graph_of("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, 1)", DATA.assign(name=list("abcd")))
    assert "name" not in graph.data


@pytest.mark.parametrize("model, name, fix", [
    ("y ~ dnorm(mu, sigma)\nmu ~ dnorm(0, 1)\nsigma ~ dnorm(0, 1)", "sigma", "'sigma ~ dhalfnorm(0, 1)'"),
    ("y ~ dnorm(mu, 1)\nmu <- a[g]\na[g] ~ dnorm(0, tau)\ntau ~ dcauchy(0, 5)", "tau", "'tau ~ dhalfcauchy(0, 5)'"),
    ("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, 1)\nnu ~ dnorm(0, 1)\nz ~ dstudent(nu, 0, 1)", "nu", "dhalfnorm"),
    ("y ~ dnorm(mu, 1)\nmu ~ dexp(rate)\nrate ~ dnorm(1, 1)", "rate", "dexp"),
])
def test_scale_with_a_prior_below_zero_is_doubted(model, name, fix):
    # before: sampled silently (negative draws rejected as NaN densities: divergences, no explanation)
    with pytest.warns(DoubtWarning, match=f"'{name}' is the .* allows negative values") as record:
        graph_of(model)
    message = str(record[0].message)
    assert fix in message and "line" in message and record[0].filename == __file__


def test_positive_scale_priors_are_not_doubted():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DoubtWarning)
        graph_of("y ~ dnorm(mu, sigma)\nmu ~ dnorm(0, 1)\nsigma ~ dhalfnorm(0, 1)")
        graph_of("y ~ dnorm(mu, sigma)\nmu ~ dnorm(0, 1)\nsigma ~ dexp(1)")


@pytest.mark.parametrize("model, message", [
    ("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, -1)", r"the sd of dnorm\(\) must be positive, but -1 \(line 2"),
    ("y ~ dnorm(mu, 1)\nmu ~ dexp(0)", r"the rate of dexp\(\) must be positive, but 0 \(line 2"),
    ("y ~ dnorm(mu, y)\nmu ~ dnorm(0, 1)", r"the sd of dnorm\(\) must be positive, but y is -1 \(line 1"),
])
def test_constant_or_data_scales_must_be_positive(model, message):
    with pytest.raises(ModelError, match=message):
        graph_of(model, DATA.assign(y=[1.0, -1.0, 2.0, 3.0]) if "mu, y" in model else DATA)


@pytest.mark.parametrize("model, error, message", [
    ("y ~ dnorm(a, 1)\na <- a", UlamSyntaxError, "'a' is defined in terms of itself"),  # before: KeyError
    ("y ~ dnorm(a, 1)\na <- b + 1\nb <- c * 2\nc <- a", UlamSyntaxError, "cycle: a -> b -> c -> a"),
    ("y ~ dnorm(m, 1)\nm <- 0/0", ModelError, r"constant expression \(0 / 0\) is nan"),  # before: ZeroDivisionError
    ("y ~ dnorm(m, 1)\nm <- 10^1000", ModelError, "is inf, not a finite number"),  # before: OverflowError
    ("y ~ dnorm(m, 1)\nm <- foo(1)", UlamSyntaxError, "unknown function 'foo'.*line 2"),  # before: no line
    ("y ~ dnorm(m, 1)\nm <- dnorm(0, 1)", UlamSyntaxError, r"dnorm\(\) is a distribution"),
    ("y ~ dnorm(m, 1)\nm <- 1e999", UlamSyntaxError, "1e999 is too large"),  # before: NumPyro's invalid loc
    ("y ~ dnorm(m, 1)\nm <- " + "(" * 5000 + "1" + ")" * 5000, UlamSyntaxError, "nested more than"),  # RecursionError
    ("y ~ dnorm(m, 1)\nm <- " + "-" * 5000 + "1", UlamSyntaxError, "nested more than"),
    ("y ~ dnorm(m, 1)\nm <- " + "+".join(["1"] * 5000), UlamSyntaxError, "nested more than"),
    ("y ~ dnorm(m, 1)\nvector[0]:m ~ dnorm(0, 1)", UlamSyntaxError, "vector.*needs a whole number of elements"),
    ("c(y, m) ~ dnorm(0, 1)", ModelError, "'y' on the left of line 1 .* is a data column"),
])
def test_evaluation_crashes_become_errors_that_quote_the_line(model, error, message):
    with pytest.raises(error, match=message) as info:
        density = UlamDensity(graph_of(model))
        initial_log_density(density, gradient=True)
    assert "line" in str(info.value)


def test_shapes_that_do_not_broadcast_quote_the_line():
    data = {"y": np.zeros(4), "x": np.zeros(3)}
    density = UlamDensity(graph_of("y ~ dnorm(mu, 1)\nmu <- a + x\na ~ dnorm(0, 1)", data))
    with pytest.raises(ModelError, match="line 1 cannot be evaluated.*\n  y ~ dnorm"):
        initial_log_density(density)


def test_log_density_at_the_initial_point():
    density = UlamDensity(graph_of("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, 1)"))
    value, gradient = initial_log_density(density, gradient=True)
    # N(y | 0, 1) summed over y = 1..4, plus N(0 | 0, 1): scipy.stats.norm.logpdf
    assert value == pytest.approx(-5 * 0.5 * np.log(2 * np.pi) - 0.5 * 30)
    assert gradient == pytest.approx([10.0])


@pytest.mark.parametrize("option, value, message", [
    ("chains", 0, "chains must be from 1"), ("chains", 2.5, "chains must be a whole number"),
    ("chains", True, "chains must be a whole number"), ("draws", 0, "draws must be at least 1"),
    ("draws", -5, "draws must be at least 1"), ("warmup", -1, "warmup must be at least 0"),
    ("warmup", 10.0, "warmup must be a whole number"), ("seed", "x", "seed must be a whole number"),
    ("seed", -1, "seed must be from 0"), ("target_accept", 1.5, "target_accept must be a number strictly"),
    ("target_accept", 0, "target_accept must be a number strictly"), ("max_tree_depth", 0, "max_tree_depth must be"),
    ("log_lik", "yes", "log_lik must be True or False"), ("progress", 1, "progress must be True, False or None"),
    # issue 11: R's spellings
    ("iter", 0, "iter must be at least 1"), ("iter", 10.0, "iter must be a whole number"),
    ("thin", 0, "thin must be at least 1"), ("cores", 0, "cores must be at least 1"),
    ("refresh", -1, "refresh must be at least 0"), ("control", 0.9, "control must be a dict"),
    ("control", {"adapt_delta": 1.2}, r"control\['adapt_delta'\] must be a number strictly between 0 and 1"),
    ("control", {"max_treedepth": 0}, r"control\['max_treedepth'\] must be from 1 to 30"),
    ("control", {"stepsize": 0.1}, "control has an unknown key 'stepsize'; allowed: 'adapt_delta', 'max_treedepth'"),
])
def test_sampler_options_are_checked_first(option, value, message, monkeypatch):
    # before: NumPyro's ValueError/TypeError/IndexError from deep inside the sampler, after compiling
    import multilevel.rethinking.fit as fit_module

    monkeypatch.setattr(fit_module, "parse_model", lambda model: pytest.fail("parsed before the options were checked"))
    with pytest.raises(ArgumentError, match=message):
        ml.ulam("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, 1)", DATA, **{option: value})


@pytest.mark.parametrize("options, message", [
    ({"iter": 100, "draws": 50}, "give either iter .* or draws .*, not both: iter=100, draws=50"),
    ({"iter": 100, "warmup": 100}, "warmup must be smaller than iter"),
    ({"iter": 100, "thin": 51}, "thin must be at most the 50 post-warm-up iterations"),
    ({"target_accept": 0.9, "control": {"adapt_delta": 0.99}},
     r"target_accept=0.9 and control\['adapt_delta'\]=0.99 set the same thing to different values"),
    ({"max_tree_depth": 8, "control": {"max_treedepth": 12}}, r"max_tree_depth=8 and control\['max_treedepth'\]=12"),
    ({"refresh": 0, "progress": True}, "refresh=0 and progress=True disagree"),
])
def test_conflicting_sampler_spellings_name_both(options, message, monkeypatch):
    import multilevel.rethinking.fit as fit_module

    monkeypatch.setattr(fit_module, "parse_model", lambda model: pytest.fail("parsed before the options were checked"))
    with pytest.raises(ArgumentError, match=message):
        ml.ulam("y ~ dnorm(mu, 1)\nmu ~ dnorm(0, 1)", DATA, **options)


def test_model_must_be_text():
    with pytest.raises(ArgumentError, match="model must be a string"):
        parse_model(None)


@pytest.mark.parametrize("model, error, message", [
    # found while fuzzing and probing: each was evaluated silently before
    ("y ~ dnorm(mu, 1)\nmu <- c(a, b)[3]\na ~ dnorm(0, 1)\nb ~ dnorm(0, 1)", ModelError,
     "line 2 cannot be evaluated: an index of an expression holds values outside 1..2"),
    ("y ~ dnorm(a, 1)\na <- b\na ~ dnorm(0, 1)\nb ~ dnorm(0, 1)", UlamSyntaxError,
     "'a' is defined with '<-' \\(line 2\\) and also given a distribution"),  # a phantom flat parameter 'a'
    ("y[g] ~ dnorm(0, 1)", UlamSyntaxError, "an index on the left of a likelihood"),  # the index was ignored
    ("y ~ dnorm(mu, 1)\nmu[g] <- a[g]\na[g] ~ dnorm(0, 1)", UlamSyntaxError, "an index on the left of '<-'"),
    ("y ~ dnorm(mu, 1)\nmu <- a[g]\nvector[5]:a[g] ~ dnorm(0, 1)", UlamSyntaxError, "vector\\[5\\] does not match"),
    ("y ~ dnorm(mu, 1)\nmu <- rep_vector(1, 2 + 1)", ModelError, "rep_vector\\(x, n\\) needs n written as a whole"),
    # found by the grammar fuzzer (slow profile): a ZeroDivisionError from deep inside NumPyro's reshape
    ("y ~ dnorm(mu, 1)\nmu <- abar + a[g] + b[g]\n"
     "c(a, b)[g] ~ multi_normal(c(abar, abar), Rho, c(0, rep_vector(0, 2)))\nRho ~ lkj_corr(2)\nabar ~ dnorm(0, 1)",
     ModelError, "the sigma of multi_normal\\(\\) must be a vector of 2 scales, not an array shaped \\(2, 2\\)"),
    ("y ~ dnorm(mu, 1)\nmu <- a[g] + b[g]\nc(a, b)[g] ~ multi_normal(c(0, 0), Rho, c(s, s, s))\nRho ~ lkj_corr(2)\n"
     "s ~ dexp(1)", ModelError, "the sigma of multi_normal\\(\\) has 3 elements along its last axis, but the left"),
])
def test_silent_cases_found_by_probing(model, error, message):
    with pytest.raises(error, match=message):
        initial_log_density(UlamDensity(graph_of(model)))


def test_link_with_new_data_checks_its_indices():
    # the index of new data is checked where JAX would clamp it: a[5] of a 2-element vector
    fit = _small_fit()
    with pytest.raises(ModelError, match="an index of 'a' holds values outside 1..2"):
        fit.link(pd.DataFrame({"y": [0.0], "g": [5]}))
    assert fit.link(pd.DataFrame({"y": [0.0], "g": [2]}))["mu"].shape[1] == 1


def _small_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.ulam("y ~ dnorm(mu, 1)\nmu <- a[g]\na[g] ~ dnorm(0, 1)", DATA, chains=1, draws=20, warmup=20,
                       seed=1, progress=False)


@pytest.mark.parametrize("model, data, message", [
    ("y ~ dnorm(mu, 1)\nmu <- Rho[g]\nc(a, b)[g] ~ multi_normal(c(0, 0), Rho, s)\nRho ~ lkj_corr(2)\ns ~ dexp(1)",
     {"y": np.zeros(2), "g": np.array([1, 2])},
     r"'y' has shape \(2,\) but the arguments of dnorm\(\) have shape \(2, 2\)"),
    ("y ~ dnorm(mu, 1)\nmu <- a[g]\na[g] ~ dnorm(0, 1)", {"y": np.float64(0.5), "g": np.array([1, 2])},
     r"'y' has shape \(\) but the arguments of dnorm\(\) have shape \(2,\)"),
])
def test_arguments_that_would_broadcast_silently(model, data, message):
    # before: the log densities of a 2 x 2 (or 2-vector) broadcast were summed, as if there were more data
    with pytest.raises(ModelError, match=message):
        initial_log_density(UlamDensity(graph_of(model, data)))
