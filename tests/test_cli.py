"""The command line: every failure is one line, ``multilevel: error: ...``, and exit status 2."""
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from multilevel import cli

SLEEP = "Reaction ~ Days + (1|Subject)"


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``multilevel argv``; argparse's SystemExit counts as a status."""
    try:
        status = cli.main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2, (status, out, err)
    assert "Traceback" not in err
    # one error line (a formula error adds the formula and a caret below it); usage above it from argparse
    assert sum(line.startswith("multilevel: error: ") for line in err.splitlines()) == 1, err
    assert message in err, err
    return err


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail the test if the command line gets as far as fitting."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command line started a fit")

    monkeypatch.setattr(cli, "_fit", refuse)


def test_fit_prints_the_summary(capsys):
    status, out, err = run_cli(capsys, "fit", SLEEP, "--data", "sleepstudy")
    assert status == 0 and "Linear mixed model fit by REML" in out and err == ""


def test_math_prints_the_equations(capsys, no_fitting):
    status, out, err = run_cli(capsys, "math", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy")
    assert status == 0 and err == "" and out.startswith("\\begin{align*}")
    assert r"\beta_{1j} &= \gamma_{10} + U_{1j}" in out  # from the design alone: no fit
    status, out, _ = run_cli(capsys, "math", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "--data",
                             "cbpp", "--family", "binomial", "--style", "rethinking")
    assert status == 0 and r"\operatorname{Binomial}(\text{size}_{i}, p_{i})" in out
    assert_error(capsys, ["math", "y ~ x + (1 | g)", "--data", "sleepstudy"], "column 'y' is not in the data")


def test_missing_file(capsys, tmp_path):
    assert_error(capsys, ["fit", SLEEP, "--data", str(tmp_path / "nope.csv")], "nope.csv' does not exist")


def test_missing_file_in_missing_folder(capsys, tmp_path):
    assert_error(capsys, ["fit", SLEEP, "--data", str(tmp_path / "no" / "data")], "does not exist")


def test_directory_as_data(capsys, tmp_path):
    assert_error(capsys, ["fit", SLEEP, "--data", str(tmp_path)], "is a directory")
    (tmp_path / "d.csv").mkdir()
    assert_error(capsys, ["fit", SLEEP, "--data", str(tmp_path / "d.csv")], "is a directory")


def test_binary_file(capsys, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(256)) * 4)
    assert_error(capsys, ["fit", SLEEP, "--data", str(path)], "is not a text CSV file (it contains NUL bytes")
    path.write_bytes(b"a,b\n\xd0\xff,\xfe\n")  # not UTF-8, no NUL byte
    assert_error(capsys, ["fit", SLEEP, "--data", str(path)], "is not a text CSV file")


def test_empty_csv(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert_error(capsys, ["fit", SLEEP, "--data", str(path)], "empty.csv' is empty")


def test_csv_with_only_a_header(capsys, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("Reaction,Days,Subject\n")
    assert_error(capsys, ["fit", SLEEP, "--data", str(path)], "has no rows (columns: Reaction, Days, Subject)")


def test_malformed_csv(capsys, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('a,b\n1,2\n3,4,5,6\n"unclosed\n')
    assert_error(capsys, ["fit", "a ~ b + (1|b)", "--data", str(path)], "cannot be read as CSV")


def test_parquet_that_is_not_parquet(capsys, tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("a,b\n1,2\n")
    err = assert_error(capsys, ["fit", "a ~ b + (1|b)", "--data", str(path)], "fake.parquet'")
    assert "cannot be read as Parquet" in err or "needs a Parquet engine (pip install pyarrow)" in err


def test_unreadable_file(capsys, tmp_path, monkeypatch):
    path = tmp_path / "locked.csv"
    path.write_text("a,b\n1,2\n")

    def denied(*args, **kwargs):  # tests may run as root, where chmod 000 does not stop reading
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pd, "read_csv", denied)
    assert_error(capsys, ["fit", "a ~ b + (1|b)", "--data", str(path)], "cannot be read as CSV: [Errno 13] Permission denied")


def test_unknown_data_set_names_close_matches(capsys):
    err = assert_error(capsys, ["fit", SLEEP, "--data", "sleepstudyy"], "no bundled data set named 'sleepstudyy'")
    assert "Did you mean 'sleepstudy'?" in err and not err.startswith('multilevel: error: "')  # not a KeyError repr


@pytest.mark.parametrize("name", ["", "   ", "a\x00b"])
def test_data_name_that_is_neither_file_nor_data_set(capsys, name):
    assert_error(capsys, ["fit", SLEEP, "--data", name], "")


@pytest.mark.parametrize("value, message", [("-1", "argument --nagq: must be 0, 1 (Laplace)"),
                                            ("x", "argument --nagq: must be a whole number"),
                                            ("1.5", "argument --nagq: must be a whole number")])
def test_bad_nagq_is_a_usage_error(capsys, no_fitting, value, message):
    assert_error(capsys, ["fit", "incidence ~ period + (1|herd)", "--data", "cbpp", "--family", "poisson",
                          "--nagq", value], message)


def test_nagq_without_family(capsys, no_fitting):
    assert_error(capsys, ["fit", SLEEP, "--data", "sleepstudy", "--nagq", "2"], "--nagq applies to GLMMs only")
    assert_error(capsys, ["fit", SLEEP, "--data", "sleepstudy", "--family", "gaussian", "--nagq", "2"],
                 "gaussian models are fitted by lmer")


def test_nagq_beyond_what_glmer_allows(capsys):
    assert_error(capsys, ["fit", "incidence ~ period + (1|herd)", "--data", "cbpp", "--family", "poisson",
                          "--nagq", "30"], "nagq")


def test_unknown_family(capsys, no_fitting):
    assert_error(capsys, ["fit", SLEEP, "--data", "sleepstudy", "--family", "poison"],
                 "unknown family 'poison'. Did you mean 'poisson'?")


def test_unknown_family_for_bayes(capsys, no_fitting, tmp_path):
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--bayes", "--family", "gausian",
                          "--out", str(tmp_path / "r.html")], "unknown family 'gausian' for brm")


def test_ml_with_bayes(capsys, no_fitting, tmp_path):
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--bayes", "--ml", "--out", str(tmp_path / "r.html")],
                 "--ml applies to lmer")


@pytest.mark.parametrize("formula, message", [
    ("Reaction ~ Dayz + (1|Subject)", "column 'Dayz' is not in the data. Did you mean 'Days'?"),
    ("Reaction ~ Days + (1|Subject", "unmatched '('"),
    ("", "the formula is empty"),
])
def test_errors_from_the_fit(capsys, formula, message):
    assert_error(capsys, ["fit", formula, "--data", "sleepstudy"], message)


def test_glmer_error_from_the_fit(capsys):
    assert_error(capsys, ["fit", "Reaction ~ Days + (1|Subject)", "--data", "sleepstudy", "--family", "binomial"], "")


def test_out_in_a_missing_folder_is_refused_before_fitting(capsys, no_fitting, tmp_path):
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path / "missing" / "r.html")],
                 "the directory")


def test_out_that_is_a_directory(capsys, no_fitting, tmp_path):
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path)], "is a directory")


def test_out_below_a_file(capsys, no_fitting, tmp_path):
    (tmp_path / "file").write_text("x")
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path / "file" / "r.html")],
                 "does not exist")


def test_out_that_cannot_be_written(capsys, no_fitting, tmp_path, monkeypatch):
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # as root, chmod cannot make a folder read-only
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path / "r.html")],
                 "cannot be written (permission denied)")


def test_report_write_failure_after_the_fit(capsys, tmp_path, monkeypatch):
    import multilevel.report

    def disk_full(fit, path, title=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(multilevel.report, "write_report", disk_full)
    assert_error(capsys, ["report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path / "r.html")],
                 "No space left on device")


def test_warnings_print_with_the_program_name(capsys, tmp_path):
    data = pd.read_csv(shutil.os.path.join(shutil.os.path.dirname(cli.datasets.__file__), "data", "sleepstudy.csv"))
    data.loc[[0, 5], "Reaction"] = np.nan
    path = tmp_path / "gaps.csv"
    data.to_csv(path, index=False)
    status, out, err = run_cli(capsys, "fit", SLEEP, "--data", str(path))
    assert status == 0 and "Rows dropped for missing values: 2" in out
    assert err.startswith("multilevel: warning: ") and "Traceback" not in err


def test_usage_errors_of_subcommands_carry_the_program_name(capsys):
    assert_error(capsys, ["fit", SLEEP], "the following arguments are required: --data")
    assert_error(capsys, [], "the following arguments are required: command")
    assert_error(capsys, ["fit", SLEEP, "--data", "sleepstudy", "--bogus"], "unrecognized arguments: --bogus")


def test_entry_point_in_a_subprocess(tmp_path):
    script = shutil.which("multilevel")
    command = [script] if script else [sys.executable, "-m", "multilevel.cli"]
    result = subprocess.run(command + ["fit", SLEEP, "--data", str(tmp_path / "missing.csv")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"multilevel: error: data file '{tmp_path / 'missing.csv'}' does not exist"
    assert result.stdout == ""
