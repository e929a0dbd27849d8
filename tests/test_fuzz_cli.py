"""Fuzz the command line: random argument lists through ``cli.main``.

Every run must end with status 0, or status 2 and a ``multilevel: error: ...`` line on stderr
(argparse's own usage errors exit 2 the same way); no other exception may escape. Fits use small
bundled data (sleepstudy, cbpp, dyestuff); ``--bayes`` runs brm up to the sampler and stops there, and
reports are written without their plots, so that each example takes well under a second.
Run long with ``HYPOTHESIS_PROFILE=slow FUZZ_MINUTES=10 python -m pytest -q -s tests/test_fuzz_cli.py``.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from multilevel import cli  # noqa: E402
from multilevel.errors import is_own_exception  # noqa: E402

from fuzzing import run_fuzzer, time_limit  # noqa: E402

SECONDS_PER_EXAMPLE = 30


class StopBeforeSampling(Exception):
    """Raised in place of NUTS: the fuzzer checks what brm does before sampling, not the sampler."""


# ---- strategies -----------------------------------------------------------------------------------
FORMULAS = [
    "Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days || Subject)",
    "Reaction ~ 1 + (1|Subject)", "Reaction ~ Days", "Reaction ~ (1|Subject)", "log(Reaction) ~ Days + (1|Subject)",
    "cbind(incidence, size - incidence) ~ period + (1 | herd)", "incidence ~ period + (1|herd)",
    "Yield ~ 1 + (1|Batch)", "Reaction ~ Days + (1|Days)", "Reaction ~ Subject + (1|Subject)",
    "Reaction ~ Days + (1|Subject) + (1|Subject)", "~ Days", "Reaction ~", "Reaction ~ Days + (Days | )",
    "Reaction ~ poly(Days, 2) + (1|Subject)", "Reaction ~ Days*Subject + (1|Subject)", "y ~ x + (1|g)",
    "Reaction ~ Days + offset(Days) + (1|Subject)", "Reaction ~ Days + (1|Subject/Days)", "Reaction ~ 0 + (1|Subject)",
    "incidence ~ period", "cbind(incidence, size - incidence) ~ 1",
]
DATA = ["sleepstudy", "cbpp", "dyestuff", "sleepstudyy", "", " ", "nosuchdata", "a\x00b", "..", ".", "-"]
FAMILIES = ["binomial", "poisson", "gaussian", "negative.binomial", "bernoulli", "student", "gamma", "poison", "",
            "Binomial", "negbinomial"]

formula = st.one_of(st.sampled_from(FORMULAS), st.sampled_from(FORMULAS), st.text(max_size=30),
                    st.text(alphabet="ReactionDaysSubject ~+*|()/:-01", max_size=40))


@st.composite
def sensible_arguments(draw, files) -> list[str]:
    """A fit or report that may well succeed: known formulas and data, options that belong to the command."""
    command = draw(st.sampled_from(["fit", "report"]))
    argv = [command, draw(st.sampled_from(FORMULAS)), "--data",
            draw(st.sampled_from(["sleepstudy", "cbpp", "dyestuff", files["sleep.csv"], files["gaps.csv"],
                                  files["awkward.csv"]]))]
    if draw(st.booleans()):
        argv += ["--family", draw(st.sampled_from(FAMILIES))]
        if command == "fit" and draw(st.booleans()):
            argv += ["--nagq", str(draw(st.integers(-1, 12)))]
    if draw(st.booleans()):
        argv.append("--ml")
    if command == "report":
        argv += ["--out", draw(st.sampled_from([files["out"], files["existing_out"], files["out_missing"]]))]
        if draw(st.booleans()):
            argv.append("--bayes")
    return argv


@st.composite
def wild_arguments(draw, files) -> list[str]:
    """Any command, formula, data and options, in any order, with junk values and junk words."""
    argv = [draw(st.sampled_from(["fit", "report", "datasets", "fitt", "--help", "", "-h"]))]
    if draw(st.booleans()):
        argv.append(draw(formula))
    options = []
    if draw(st.booleans()):
        options.append(["--data", draw(st.one_of(st.sampled_from(DATA + list(files.values())), st.text(max_size=12)))])
    if draw(st.booleans()):
        options.append(["--family", draw(st.one_of(st.sampled_from(FAMILIES), st.text(max_size=8)))])
    if draw(st.booleans()):
        options.append(["--nagq", draw(st.one_of(st.integers(-3, 30).map(str), st.sampled_from(["x", "1.5", "", "-0"])))])
    for flag in ("--ml", "--bayes"):
        if draw(st.booleans()):
            options.append([flag])
    if draw(st.booleans()):
        options.append(["--out", draw(st.sampled_from([files["out"], files["out_dir"], files["out_missing"],
                                                       files["out_below_file"], "", files["existing_out"]]))])
    if draw(st.booleans()):
        options.append([draw(st.sampled_from(["--bogus", "-x", "--", "--data=", "--out=", "--nagq=2", "-h"]))])
    for option in draw(st.permutations(options)) if options else []:
        argv += option
    if draw(st.booleans()):
        argv.insert(draw(st.integers(0, len(argv))), draw(st.text(max_size=10)))
    return argv


def argument_lists(files):
    return st.one_of(sensible_arguments(files), sensible_arguments(files), wild_arguments(files))


# ---- the property ---------------------------------------------------------------------------------
def run_once(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = cli.main(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        status = exc.code
    except StopBeforeSampling:
        return
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        assert is_own_exception(exc), f"cli.main({argv!r}) raised a foreign {type(exc).__name__}: {exc}"
        raise AssertionError(f"cli.main({argv!r}) let {type(exc).__name__} escape instead of exiting 2: {exc}")
    stderr = err.getvalue()
    assert status in (0, 2), (argv, status, stderr)
    assert "Traceback" not in stderr, (argv, stderr)
    ours = [line for line in stderr.splitlines() if line.startswith("multilevel")]
    if status == 2:
        assert sum(line.startswith("multilevel: error: ") for line in ours) == 1, (argv, stderr)
    else:
        assert all(line.startswith("multilevel: warning: ") for line in ours), (argv, stderr)


@pytest.fixture
def fuzz_files(tmp_path):
    sleep = tmp_path / "sleep.csv"
    import multilevel as ml

    data = ml.datasets.load("sleepstudy")
    data.to_csv(sleep, index=False)
    gaps = data.copy()
    gaps.loc[[0, 3, 50], "Reaction"] = np.nan
    gaps.loc[[7], "Subject"] = np.nan
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    awkward = data.copy()
    awkward.loc[0, "Reaction"] = np.inf
    awkward["Days"] = awkward["Days"].astype(str)
    awkward.loc[1, "Days"] = "n/a"
    awkward.to_csv(tmp_path / "awkward.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("Reaction,Days,Subject\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)))
    (tmp_path / "latin1.csv").write_bytes(b"Reaction,Days,Subject\n\xe9,1,\xff\n")
    (tmp_path / "ragged.csv").write_text('a,b\n1,2,3,4\n"x\n')
    (tmp_path / "fake.parquet").write_text("a,b\n1,2\n")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "existing.html").write_text("old")
    files = {name: str(tmp_path / name) for name in ["sleep.csv", "gaps.csv", "awkward.csv", "empty.csv", "header.csv", "binary.csv",
                                                      "latin1.csv", "ragged.csv", "fake.parquet", "folder.csv"]}
    files.update(missing=str(tmp_path / "missing.csv"), out=str(tmp_path / "report.html"), out_dir=str(tmp_path),
                 out_missing=str(tmp_path / "nope" / "r.html"), out_below_file=str(tmp_path / "file" / "r.html"),
                 existing_out=str(tmp_path / "existing.html"))
    return files


@pytest.fixture
def light_fits(monkeypatch):
    """brm stops where NUTS would start; reports are written without plots (the HTML summary only)."""
    import multilevel.bayes.fit as brm_module
    import multilevel.report

    def no_sampling(*args, **kwargs):
        raise StopBeforeSampling()

    def summary_only(fit, path, title=None):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(fit._repr_html_())
        return str(path)

    monkeypatch.setattr(brm_module, "_sample", no_sampling)
    monkeypatch.setattr(multilevel.report, "write_report", summary_only)


def test_fuzz_cli(fuzz_files, light_fits):
    @given(argv=argument_lists(fuzz_files))
    def fuzz(argv):
        with time_limit(SECONDS_PER_EXAMPLE):
            run_once(argv)

    run_fuzzer("cli", fuzz)


# ---- regressions the fuzzer found -----------------------------------------------------------------
# (the first two were foreign exceptions in ml/ and linalg/, fixed there in a374128)
@pytest.mark.parametrize("argv", [
    ["fit", "Reaction ~ Days", "--data", "sleepstudy"],  # was ValueError from ml/lmm.py
    ["fit", "incidence ~ period", "--data", "cbpp", "--family", "poisson"],  # was IndexError from linalg/crossprod.py
])
def test_model_without_random_effects_is_an_error(capsys, argv):
    from test_cli import assert_error

    assert_error(capsys, argv, "needs at least one random-effects term")


def test_gaussian_family_is_fitted_by_lmer(capsys):
    """Found by the fuzzer: glmer(family='gaussian') raised NotImplementedError (families.py); the command
    line fits a gaussian model with lmer, as lme4's glmer does."""
    from test_cli import run_cli

    status, out, err = run_cli(capsys, "fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy",
                               "--family", "gaussian")
    assert status == 0 and "Linear mixed model fit by REML" in out
