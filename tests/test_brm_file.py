"""brm's file= (issue 13): a fit written once is read back while nothing that shapes it changed,
as brms's file_refit = "on_change"; the file holds arrays only."""
import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.errors import ArgumentError

SHORT = dict(chains=2, iter=200, seed=3, refresh=0)


def fit(data, tmp_path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.brm("Reaction ~ Days + (1 | Subject)", data, file=tmp_path / "sleep", **{**SHORT, **kw})


@pytest.mark.slow  # five short fits (~9 s)
def test_written_then_read_back_until_something_changes(tmp_path):
    d = ml.datasets.load("sleepstudy")
    first = fit(d, tmp_path)
    assert (tmp_path / "sleep.npz").exists() and not first.run.settings.get("loaded_from_file")
    again = fit(d, tmp_path)
    assert again.run.settings["loaded_from_file"]
    assert np.array_equal(first.draws().to_numpy(), again.draws().to_numpy()) and str(first) == str(again)
    assert np.allclose(first.log_likelihood(), again.log_likelihood())
    # sampler settings or data changed: sampled again, and the file replaced
    assert not fit(d, tmp_path, seed=4).run.settings.get("loaded_from_file")
    assert fit(d, tmp_path, seed=4).run.settings["loaded_from_file"]
    assert not fit(d, tmp_path, seed=4, file_refit="always").run.settings.get("loaded_from_file")
    assert not fit(d.assign(Reaction=d.Reaction + 1), tmp_path, seed=4).run.settings.get("loaded_from_file")
    # "never": any file of the same formula, as brms's default
    assert fit(d.assign(Reaction=0.5 * d.Reaction), tmp_path, seed=9, file_refit="never").run.settings["loaded_from_file"]


@pytest.mark.slow  # two prior + posterior runs (~10 s)
def test_prior_draws_come_back_too_and_bad_files_are_resampled(tmp_path):
    d = ml.datasets.load("sleepstudy")
    priors = [ml.prior("normal(0, 10)", class_="b")]
    first = fit(d, tmp_path, priors=priors, sample_prior="yes")
    again = fit(d, tmp_path, priors=priors, sample_prior="yes")
    assert again.run.settings["loaded_from_file"] and again.prior_draws.equals(first.prior_draws)
    (tmp_path / "sleep.npz").write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="not a fit this package wrote"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ml.bayes.SamplingWarning)
            ml.brm("Reaction ~ Days + (1 | Subject)", d, file=tmp_path / "sleep", **SHORT)
    with pytest.raises(ArgumentError, match="file_refit"):
        fit(d, tmp_path, file_refit="sometimes")
