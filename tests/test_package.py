"""Data sets, the command line, and the public face of the package."""
import subprocess
import sys

import pandas as pd
import pytest

import multilevel as ml
from multilevel.cli import main

REQUIRED = ["sleepstudy", "dyestuff", "penicillin", "pastes", "insteval", "classroom", "mathachieve",
            "mathachieveschool", "blp-short2", "alcohol", "gapminder", "mlm", "reedfrogs", "bangladesh",
            "rats", "cbpp", "grouseticks", "eightschools", "wine"]


def test_required_datasets_ship_with_sources():
    names = ml.datasets.names()
    for name in REQUIRED:
        assert name in names
        assert name + ".csv" in ml.datasets.sources()
    assert ml.datasets.load("insteval").shape == (73421, 7)
    assert ml.datasets.load("sleepstudy").Subject.cat.categories[0] == "308"


def test_unknown_dataset_suggests_names():
    with pytest.raises(KeyError, match="sleepstudy"):
        ml.datasets.load("sleepstudi")


def test_cli_fit_prints_summary(capsys):
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]) == 0
    out = capsys.readouterr().out
    assert "REML criterion at convergence: 1743.6" in out and "Data: sleepstudy" in out


def test_cli_ml_and_csv_path(tmp_path, capsys):
    path = tmp_path / "dye.csv"
    ml.datasets.load("dyestuff").to_csv(path, index=False)
    assert main(["fit", "Yield ~ 1 + (1|Batch)", "--data", str(path), "--ml"]) == 0
    out = capsys.readouterr().out
    assert "maximum likelihood" in out and "327.3" in out


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["fit", "Reacton ~ Days + (1|Subject)", "--data", "sleepstudy"]) == 2
    err = capsys.readouterr().err
    assert "Reacton" in err and "Traceback" not in err


def test_console_script_entry_point():
    result = subprocess.run([sys.executable, "-m", "multilevel.cli", "datasets"], capture_output=True, text=True)
    assert result.returncode == 0 and "insteval" in result.stdout


def test_public_names():
    for name in ["lmer", "anova", "datasets", "LmerFit", "FormulaError", "DataError"]:
        assert hasattr(ml, name)
    assert isinstance(ml.datasets.load("cbpp"), pd.DataFrame)


def test_cli_glmer(capsys):
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomial"]) == 0
    out = capsys.readouterr().out
    assert "Family: binomial  ( logit )" in out and "Data: cbpp" in out
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomal"]) == 2
    assert "Valid families" in capsys.readouterr().err


def test_progress_bars_on_request_only(capfd, monkeypatch):
    import warnings

    import numpyro.infer

    data = ml.datasets.load("sleepstudy")
    ml.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert "evals" not in capfd.readouterr().err  # not a terminal: quiet by default
    ml.lmer("Reaction ~ Days + (Days | Subject)", data, progress=True)
    assert "lmer: REML" in capfd.readouterr().err
    # NumPyro draws the sampling bars (and itself hides them where CI is set): check what it is asked
    asked = []
    original = numpyro.infer.MCMC

    class Asked(Exception):
        pass

    class Recording(original):  # records what brm asks for, then stops: no sampler is compiled or run
        def __init__(self, *args, **kwargs):
            asked.append(kwargs.get("progress_bar"))
            raise Asked

    monkeypatch.setattr(numpyro.infer, "MCMC", Recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for progress in (True, None):
            with pytest.raises(Asked):
                ml.brm("Reaction ~ Days + (1 | Subject)", data, chains=1, draws=50, warmup=50, seed=1,
                       progress=progress)
    assert asked == [True, False]


def test_import_is_light():
    """``import multilevel`` leaves the engines' heavy dependencies for first use: JAX and NumPyro
    (brm/ulam), ArviZ and scipy.stats (summaries, tests), matplotlib (plots). Measured: 2.1 s -> 1.4 s
    on the 2-core CI machine when scipy.stats moved into the functions that use it."""
    code = ("import sys, multilevel; "
            "print(' '.join(m for m in ('jax', 'numpyro', 'arviz_stats', 'scipy.stats', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
