"""tidybayes's verbs (spread_draws, gather_draws, get_variables, add_*_draws) and ggdist's point_interval
family and interval plots, on brm and ulam fits. Values are checked against the fits' own arrays
(numpy indexing) and the summaries against numpy/brute force."""
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import multilevel as ml
from multilevel.draws import SpecError, VariableNotFound
from multilevel.draws.point_interval import hdi
from multilevel.errors import DataError, MultilevelError
from multilevel.results.protocol import answers

FAST = {"chains": 2, "draws": 300, "warmup": 300}
N_DRAWS = 600


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


@pytest.fixture(scope="module")
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep):
    return _quiet(ml.brm, "Reaction ~ Days + (Days | Subject)", sleep, seed=1, progress=False, **FAST)


@pytest.fixture(scope="module")
def id_fit(sleep):
    """The grouping column is an integer id: levels come back as int64."""
    data = sleep.assign(id=sleep.Subject.astype(int))
    return _quiet(ml.brm, "Reaction ~ Days + (1 | id)", data, seed=2, progress=False, **FAST)


def _r(fit):
    """brms's r_Subject as (draws, levels, terms)."""
    r = fit.group_effects()[0]
    return r.reshape(-1, *r.shape[2:])


# ---- variables -----------------------------------------------------------------------------------
def test_posterior_variables_carry_brms_names_and_the_datas_levels(fit, sleep):
    variables = fit.posterior_variables()
    assert list(variables)[:7] == ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
                                   "cor_Subject__Intercept__Days", "sigma", "Intercept"]
    r = variables["r_Subject"]
    assert r.dims == ("Subject", "term") and list(r.coords[1]) == ["Intercept", "Days"]
    assert isinstance(r.coords[0].dtype, pd.CategoricalDtype)
    assert list(r.coords[0].categories) == list(sleep.Subject.cat.categories)
    assert list(r.coords[0]) == list(sleep.Subject.cat.categories)  # all 18 used, in the data's order
    np.testing.assert_array_equal(r.values, fit.group_effects()[0])


def test_get_variables_in_brms_order(fit):
    names = ml.get_variables(fit)
    # brms: variables(as_draws(fit)) lists arrays with the first index fastest, then lprior (not
    # computed here) and the sampler columns
    assert names[:8] == ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
                         "cor_Subject__Intercept__Days", "sigma", "Intercept", "r_Subject[308,Intercept]"]
    assert names[8] == "r_Subject[309,Intercept]" and names[7 + 18] == "r_Subject[308,Days]"
    assert names[-7:] == ["lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__",
                          "divergent__", "energy__"]
    assert len(names) == 7 + 36 + 7


# ---- spread_draws --------------------------------------------------------------------------------
def test_scalar_draws_with_draw_indices(fit):
    frame = ml.spread_draws(fit, "b_Intercept")  # was a ValueError
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "b_Intercept"]
    np.testing.assert_array_equal(frame["b_Intercept"], fit.draws_by_chain()["b_Intercept"].reshape(-1))
    np.testing.assert_array_equal(frame[".draw"], np.arange(1, N_DRAWS + 1))
    np.testing.assert_array_equal(frame[".chain"], np.repeat([1, 2], 300))
    np.testing.assert_array_equal(frame[".iteration"], np.tile(np.arange(1, 301), 2))


def test_indexed_rows_follow_levels_then_terms_then_draws(fit, sleep):
    frame = fit.spread_draws("r_Subject[Subject, term]")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "Subject", "term", "r_Subject"]
    assert frame["Subject"].dtype == sleep["Subject"].dtype  # categorical, the data's categories
    r = _r(fit)
    k = np.arange(len(frame))
    level, term, draw = k // (2 * N_DRAWS), (k // N_DRAWS) % 2, k % N_DRAWS
    np.testing.assert_array_equal(frame["r_Subject"], r[draw, level, term])
    np.testing.assert_array_equal(frame[".draw"], draw + 1)
    assert list(frame["Subject"].iloc[[0, 2 * N_DRAWS]]) == ["308", "309"]
    assert list(frame["term"].iloc[[0, N_DRAWS]]) == ["Intercept", "Days"]
    # rows agree with brms's flat names
    wide = fit.draws()
    row = frame[(frame.Subject == "330") & (frame.term == "Days")]
    np.testing.assert_array_equal(row["r_Subject"], wide["r_Subject[330,Days]"])


def test_integer_ids_query_as_integers(id_fit):
    frame = ml.spread_draws(id_fit, "r_id[id, term]")
    assert frame["id"].dtype == np.int64
    six = frame.query("id == 308")
    assert len(six) == N_DRAWS
    np.testing.assert_array_equal(six["r_id"], _r(id_fit)[:, 0, 0])


def test_dimension_names_are_the_users(fit):
    frame = ml.spread_draws(fit, "r_Subject[s,t]")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "s", "t", "r_Subject"]
    # a bare name keeps the variable's own dimension names (tidybayes would ask for them)
    assert list(fit.spread_draws("r_Subject").columns) == list(ml.spread_draws(fit, "r_Subject[Subject, term]").columns)


def test_a_flat_name_from_get_variables_is_one_column(fit):
    frame = ml.spread_draws(fit, "r_Subject[330,Days]", "sigma")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "r_Subject[330,Days]", "sigma"]
    np.testing.assert_array_equal(frame["r_Subject[330,Days]"], fit.draws()["r_Subject[330,Days]"])


def test_blank_dimension_is_dropped(fit):
    frame = ml.spread_draws(fit, "r_Subject[Subject, ]")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "Subject", "r_Subject"]
    assert len(frame) == 18 * 2 * N_DRAWS


def test_wide_dimensions(fit):
    r = _r(fit)
    wide = ml.spread_draws(fit, "r_Subject[Subject, term] | term")
    assert list(wide.columns) == [".chain", ".iteration", ".draw", "Subject", "Intercept", "Days"]
    np.testing.assert_array_equal(wide["Days"], r[:, :, 1].T.reshape(-1))
    dots = ml.spread_draws(fit, "r_Subject[Subject, ..]")
    assert list(dots.columns)[-2:] == ["r_Subject.Intercept", "r_Subject.Days"]
    np.testing.assert_array_equal(dots["r_Subject.Intercept"], wide["Intercept"])


def test_scalar_and_indexed_join_per_draw(fit):
    frame = ml.spread_draws(fit, "b_Intercept", "r_Subject[Subject, term]")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "Subject", "term", "b_Intercept", "r_Subject"]
    assert len(frame) == N_DRAWS * 36
    # tidybayes's inner_join keeps the first spec's order: draws slowest
    np.testing.assert_array_equal(frame[".draw"], np.repeat(np.arange(1, N_DRAWS + 1), 36))
    b = fit.draws_by_chain()["b_Intercept"].reshape(-1)
    np.testing.assert_array_equal(frame["b_Intercept"], b[frame[".draw"] - 1])
    mu = frame.b_Intercept + frame.r_Subject  # the tidybayes idiom: a subject's intercept per draw
    assert np.isfinite(mu).all()


def test_variables_sharing_indices_join_on_them(fit):
    frame = ml.spread_draws(fit, "c(b_Intercept, b_Days)", "sigma")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "b_Intercept", "b_Days", "sigma"]
    assert len(frame) == N_DRAWS


def test_sampler_columns(fit):
    frame = ml.spread_draws(fit, "lp__", "divergent__")
    np.testing.assert_array_equal(frame["lp__"], np.asarray(fit.sampler_stats()["lp__"]).reshape(-1))
    assert set(np.unique(frame["divergent__"])) <= {0, 1}


def test_regex(fit):
    frame = ml.spread_draws(fit, "^b_", regex=True)
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "b_Intercept", "b_Days"]
    indexed = ml.spread_draws(fit, "^r_[Subject, term]", regex=True)
    assert list(indexed.columns)[-1] == "r_Subject"


def test_subset_of_draws(fit):
    frame = ml.spread_draws(fit, "b_Intercept", "r_Subject[Subject, term]", ndraws=20, seed=4)
    assert frame[".draw"].nunique() == 20 and len(frame) == 20 * 36
    again = ml.spread_draws(fit, "b_Intercept", ndraws=20, seed=4)
    assert set(again[".draw"]) == set(frame[".draw"])


def test_errors_name_the_problem(fit):
    with pytest.raises(VariableNotFound, match="b_Intercept.*get_variables") as info:
        ml.spread_draws(fit, "b_Intercpt")
    assert isinstance(info.value, MultilevelError)
    with pytest.raises(SpecError, match="'extra'"):
        ml.spread_draws(fit, "r_Subject[Subject, term, extra]")
    with pytest.raises(SpecError, match="2"):
        ml.spread_draws(fit, "r_Subject[Subject]")
    with pytest.raises(SpecError, match="no dimensions"):
        ml.spread_draws(fit, "sigma[i]")
    with pytest.raises(VariableNotFound):
        ml.spread_draws(fit, "^zzz", regex=True)
    with pytest.raises(SpecError, match="twice"):
        ml.spread_draws(fit, "r_Subject[a, a]")


# ---- gather_draws --------------------------------------------------------------------------------
def test_gather_draws_long_form(fit):
    frame = ml.gather_draws(fit, "b_Intercept", "sigma", "r_Subject[Subject, term]")
    assert list(frame.columns) == [".chain", ".iteration", ".draw", "Subject", "term", ".variable", ".value"]
    assert len(frame) == N_DRAWS * (2 + 36)
    assert list(frame[".variable"].unique()) == ["b_Intercept", "sigma", "r_Subject"]
    sigma = frame[frame[".variable"] == "sigma"]
    np.testing.assert_array_equal(sigma[".value"], fit.draws_by_chain()["sigma"].reshape(-1))
    assert sigma["Subject"].isna().all()
    assert frame["Subject"].dtype == fit.posterior_variables()["r_Subject"].coords[0].dtype


def test_old_wide_draws_still_work(fit):
    wide = fit.draws()
    assert {"b_Intercept", "r_Subject[308,Intercept]", ".draw"} <= set(wide.columns)


# ---- add_*_draws ---------------------------------------------------------------------------------
def test_add_epred_draws_rows_align_with_posterior_epred(fit, sleep):
    newdata = sleep.iloc[[0, 15, 31, 170]].reset_index(drop=True)
    frame = ml.add_epred_draws(newdata, fit)
    assert list(frame.columns) == list(newdata.columns) + [".row", ".chain", ".iteration", ".draw", ".epred"]
    assert (frame.dtypes[list(newdata.columns)] == newdata.dtypes).all()
    assert len(frame) == 4 * N_DRAWS
    epred = fit.posterior_epred(newdata)
    means = frame.groupby(".row")[".epred"].mean().to_numpy()
    np.testing.assert_allclose(means, epred.mean(0), rtol=1e-12)
    np.testing.assert_array_equal(frame.loc[frame[".row"] == 3, ".epred"], epred[:, 2])
    np.testing.assert_array_equal(frame.loc[frame[".row"] == 3, "Subject"], newdata.Subject[2])


def test_add_draws_subset_is_shared_by_rows_and_reproducible(fit, sleep):
    newdata = sleep.iloc[[0, 40]]
    one = fit.add_epred_draws(newdata, ndraws=25, seed=7)
    two = ml.add_epred_draws(newdata, fit, ndraws=25, seed=7)
    pd.testing.assert_frame_equal(one, two)
    draws = one.groupby(".row")[".draw"].apply(tuple)
    assert draws.iloc[0] == draws.iloc[1] and len(draws.iloc[0]) == 25
    # each value is that of its own draw: the full set of draws, indexed by .draw
    full = fit.epred_draws(newdata)
    np.testing.assert_allclose(one[".epred"], full[one[".draw"] - 1, one[".row"] - 1], rtol=1e-12)
    assert one[".draw"].is_monotonic_increasing is False and (np.diff(one[".draw"][:25]) > 0).all()
    # the same draws as spread_draws with the same seed
    assert set(ml.spread_draws(fit, "sigma", ndraws=25, seed=7)[".draw"]) == set(one[".draw"])


def test_add_linpred_and_predicted_draws(fit, sleep):
    newdata = sleep.iloc[[3, 50]]
    linpred = ml.add_linpred_draws(newdata, fit)
    np.testing.assert_array_equal(linpred.loc[linpred[".row"] == 2, ".linpred"], fit.posterior_linpred(newdata)[:, 1])
    predicted = ml.add_predicted_draws(newdata, fit, seed=3)
    assert ".prediction" in predicted.columns and len(predicted) == 2 * N_DRAWS
    # predictions scatter around the expected value by about sigma
    spread = predicted.groupby(".row")[".prediction"].std().to_numpy()
    assert np.all((spread > 15) & (spread < 50))


def test_new_levels(fit):
    newdata = pd.DataFrame({"Days": [2, 2], "Subject": ["new", "308"]})
    with pytest.raises(DataError, match="new levels"):
        ml.add_epred_draws(newdata, fit)
    frame = ml.add_epred_draws(newdata, fit, allow_new_levels=True, seed=1)
    epred = fit.posterior_epred(newdata, allow_new_levels=True, seed=1)
    np.testing.assert_allclose(frame.groupby(".row")[".epred"].mean().to_numpy(), epred.mean(0))
    new = frame[frame.Subject == "new"][".epred"]
    assert new.std() > frame[frame.Subject == "308"][".epred"].std()  # a new subject is less certain


def test_add_draws_needs_a_bayesian_fit(sleep):
    lmer = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    with pytest.raises(MultilevelError, match="epred_draws"):
        ml.add_epred_draws(sleep.iloc[:2], lmer)
    with pytest.raises(MultilevelError, match="posterior_variables"):
        ml.spread_draws(lmer, "b_Intercept")


# ---- point_interval ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    return pd.DataFrame({".chain": 1, ".iteration": np.tile(np.arange(1, 401), 3),
                         ".draw": np.tile(np.arange(1, 401), 3),
                         "g": pd.Categorical(np.repeat(["c", "a", "b"], 400), categories=["c", "a", "b"]),
                         "x": rng.gamma(3.0, 1.0, 1200), "y": rng.normal(0, 1, 1200)})


def _brute_force_hdi(x, width):
    """The narrowest [x_i, x_j] of the sorted draws holding floor(width * n) + 1 of them (HDInterval)."""
    x = np.sort(x)
    k = int(np.floor(width * len(x)))
    best = min(range(len(x) - k), key=lambda i: x[i + k] - x[i])
    return x[best], x[best + k]


def test_mean_qi_groups_by_the_index_columns(toy):
    table = ml.mean_qi(toy[[".chain", ".iteration", ".draw", "g", "x"]], width=[0.66, 0.95])
    assert list(table.columns) == ["g", "x", ".lower", ".upper", ".width", ".point", ".interval"]
    assert len(table) == 6 and list(table[".width"]) == [0.66] * 3 + [0.95] * 3
    assert list(table["g"][:3]) == ["c", "a", "b"] and table["g"].dtype == toy["g"].dtype
    for _, row in table.iterrows():
        x = toy.loc[toy.g == row.g, "x"].to_numpy()
        assert row.x == pytest.approx(x.mean(), rel=1e-12)
        lower, upper = np.quantile(x, [(1 - row[".width"]) / 2, (1 + row[".width"]) / 2])
        assert (row[".lower"], row[".upper"]) == (pytest.approx(lower, rel=1e-12), pytest.approx(upper, rel=1e-12))
        assert row[".point"] == "mean" and row[".interval"] == "qi"


def test_several_variables_get_suffixed_bounds(toy):
    table = ml.median_qi(toy, "x", "y", by="g")
    assert list(table.columns) == ["g", "x", "x.lower", "x.upper", "y", "y.lower", "y.upper",
                                   ".width", ".point", ".interval"]
    y = toy.loc[toy.g == "a", "y"]
    assert table.loc[table.g == "a", "y"].item() == pytest.approx(np.median(y))


def test_hdi_is_the_narrowest_window(toy):
    x = toy["x"].to_numpy()
    for width in (0.5, 0.8, 0.95):
        assert hdi(x, width) == pytest.approx(_brute_force_hdi(x, width), rel=1e-12)
    table = ml.mode_hdi(toy, "x", width=0.8, by="g")
    for _, row in table.iterrows():
        lower, upper = _brute_force_hdi(toy.loc[toy.g == row.g, "x"].to_numpy(), 0.8)
        assert (row[".lower"], row[".upper"]) == (pytest.approx(lower), pytest.approx(upper))
    # skewed draws: the hdi is narrower than the qi and sits further left
    qi = ml.median_qi(x, width=0.8)
    lo, hi = hdi(x, 0.8)
    assert hi - lo < qi.ymax[0] - qi.ymin[0] and lo < qi.ymin[0]


def test_mode_is_the_density_peak():
    rng = np.random.default_rng(1)
    x = rng.gamma(4.0, 1.0, 20000)  # mode (k - 1) * theta = 3
    assert ml.mode_qi(x)["y"][0] == pytest.approx(3.0, abs=0.15)
    counts = rng.poisson(2.5, 5000).astype(float)  # whole numbers: the most frequent value
    values, freq = np.unique(counts, return_counts=True)
    assert ml.mode_hdi(counts)["y"][0] == values[np.argmax(freq)]


def test_summaries_of_tidy_frames(fit):
    table = ml.median_qi(ml.spread_draws(fit, "r_Subject[Subject, term]"))
    assert list(table.columns) == ["Subject", "term", "r_Subject", ".lower", ".upper", ".width", ".point", ".interval"]
    assert len(table) == 36
    r = _r(fit)
    assert table["r_Subject"].iloc[1] == pytest.approx(np.median(r[:, 0, 1]))
    gathered = ml.mean_hdi(ml.gather_draws(fit, "b_Intercept", "sigma"))
    assert list(gathered[".variable"]) == ["b_Intercept", "sigma"] and ".value" in gathered.columns


def test_width_is_checked(toy):
    with pytest.raises(MultilevelError, match="width"):
        ml.mean_qi(toy, "x", width=1.5)


# ---- interval plots ------------------------------------------------------------------------------
def _artist(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert found, gid
    return found[0]


@pytest.mark.parametrize("plot", ["pointinterval", "halfeye", "gradient_interval"])
def test_interval_plots_draw_the_qi_bounds(toy, plot):
    import matplotlib.pyplot as plt

    ax = getattr(ml.plots, plot)(toy, "x", by="g", widths=(0.66, 0.95))
    try:
        assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a", "b"]
        for k, g in enumerate(["c", "a", "b"]):
            x = toy.loc[toy.g == g, "x"].to_numpy()
            for width in (0.66, 0.95):
                line = _artist(ax, f"interval:{g}:{width:g}")
                np.testing.assert_allclose(line.get_xdata(), np.quantile(x, [(1 - width) / 2, (1 + width) / 2]))
                assert line.get_ydata()[0] == 2 - k  # first group on top
            assert _artist(ax, f"interval:{g}:0.66").get_linewidth() > _artist(ax, f"interval:{g}:0.95").get_linewidth()
            assert _artist(ax, f"point:{g}").get_xdata()[0] == pytest.approx(np.median(x))
            if plot != "pointinterval":
                _artist(ax, f"slab:{g}")
    finally:
        plt.close(ax.figure)


def test_gradient_follows_the_cdf(toy):
    import matplotlib.pyplot as plt

    ax = ml.plots.gradient_interval(toy, "x", by="g")
    try:
        image = _artist(ax, "slab:a").get_array()
        alpha = np.asarray(image)[0, :, 3]
        assert alpha.max() > 0.97 and alpha[0] < 0.01 and alpha[-1] < 0.01
        x = np.sort(toy.loc[toy.g == "a", "x"].to_numpy())
        peak = np.linspace(x[0], x[-1], len(alpha))[np.argmax(alpha)]
        assert abs(np.mean(x <= peak) - 0.5) < 0.02  # darkest at the median
    finally:
        plt.close(ax.figure)


def test_halfeye_of_spread_draws(fit):
    import matplotlib.pyplot as plt

    draws = ml.spread_draws(fit, "r_Subject[Subject, term]").query("term == 'Intercept'")
    ax = ml.plots.halfeye(draws, "r_Subject", by="Subject")
    try:
        assert len(ax.get_yticklabels()) == 18
        first = draws[draws.Subject == "308"]["r_Subject"].to_numpy()
        np.testing.assert_allclose(_artist(ax, "interval:308:0.95").get_xdata(), np.quantile(first, [0.025, 0.975]))
    finally:
        plt.close(ax.figure)


# ---- ulam ----------------------------------------------------------------------------------------
FROGS = """
    surv ~ dbinom(density, p)
    logit(p) <- a[tank]
    a[tank] ~ dnorm(a_bar, sigma)
    a_bar ~ dnorm(0, 1.5)
    sigma ~ dexp(1)
"""


@pytest.fixture(scope="module")
def ulam_fit():
    data = ml.datasets.load("reedfrogs")
    data["tank"] = np.arange(1, len(data) + 1)
    return _quiet(ml.ulam, FROGS, data, seed=1, **FAST)


def test_ulam_spread_and_get_variables(ulam_fit):
    assert answers(ulam_fit, "posterior_variables")
    names = ml.get_variables(ulam_fit)
    assert {"a_bar", "sigma", "a[1]", "a[48]"} <= set(names)
    frame = ml.spread_draws(ulam_fit, "a[tank]", "a_bar")
    assert len(frame) == 48 * N_DRAWS and frame["tank"].dtype.kind in "iu"
    a = ulam_fit.draws_by_chain()["a"]
    first = frame[frame.tank == frame.tank.iloc[0]]
    np.testing.assert_allclose(np.sort(first["a"]), np.sort(np.asarray(a)[..., 0].reshape(-1)))
    table = ml.mean_qi(ml.spread_draws(ulam_fit, "a[tank]"))
    assert len(table) == 48


def test_ulam_add_epred_draws_align_with_its_draws(ulam_fit):
    assert answers(ulam_fit, "posterior_variables")
    newdata = ml.datasets.load("reedfrogs").assign(tank=np.arange(1, 49)).iloc[[0, 5, 40]]
    frame = ml.add_epred_draws(newdata, ulam_fit, ndraws=30, seed=2)
    assert len(frame) == 3 * 30 and list(frame.columns[:len(newdata.columns)]) == list(newdata.columns)
    full = np.asarray(ulam_fit.epred_draws(newdata))
    np.testing.assert_allclose(frame[".epred"], full[frame[".draw"] - 1, frame[".row"] - 1], rtol=1e-10)
    assert set(frame[".draw"]) == set(ml.spread_draws(ulam_fit, "a_bar", ndraws=30, seed=2)[".draw"])


def test_other_variables_of_a_spread_are_not_groups(fit):
    # tidybayes groups spread_draws(fit, b_Days, r_Subject[Subject, term]) by Subject and term only:
    # summarizing r_Subject must not split by the b_Days draws that share its rows
    draws = ml.spread_draws(fit, "b_Days", "r_Subject[Subject, term]")
    table = ml.mean_qi(draws, "r_Subject")
    assert len(table) == 18 * 2 and "b_Days" not in table.columns
    one = draws.query("Subject == '308' and term == 'Days'")["r_Subject"].to_numpy()
    row = table[(table.Subject == "308") & (table.term == "Days")].iloc[0]
    assert np.isclose(row["r_Subject"], one.mean()) and np.isclose(row[".lower"], np.quantile(one, 0.025))


def test_empty_draws_are_refused_and_missing_draws_stay_missing():
    # ggdist: an NA draw gives NA summaries (na.rm = FALSE); nothing to summarize is an error of ours
    with pytest.raises(ml.MultilevelError, match="empty"):
        ml.mean_qi(pd.DataFrame({"x": []}))
    with pytest.raises(ml.MultilevelError, match="empty"):
        ml.median_qi(np.array([]))
    table = ml.mean_qi(pd.DataFrame({"g": ["a", "a", "b", "b"], "x": [1.0, np.nan, 2.0, 3.0]}), "x", by="g")
    assert np.isnan(table.loc[table.g == "a", "x"]).all() and table.loc[table.g == "b", "x"].iloc[0] == 2.5
