"""The HTML report: built from a fit, every image embedded, and rendered by headless Chromium."""
import os
import shutil
import subprocess

import pytest

from multilevel.cli import main


@pytest.fixture(scope="module")
def report_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--out", str(path)]) == 0
    return path


def test_report_content(report_path):
    text = report_path.read_text()
    for piece in ["<h2>Summary</h2>", "Linear mixed model fit by REML", "<h2>Diagnostics</h2>", "<h2>Plots</h2>"]:
        assert piece in text
    assert text.count("data:image/png;base64,") == 5  # coefficients, caterpillar, shrinkage, predictions, pp_check
    assert "not drawn" not in text


def _chromium():
    """Debian's chromium, installed on first use where apt can (CI runs as root)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser:
        return browser
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    try:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install chromium: {exc}")
    browser = shutil.which("chromium")
    if not browser:
        pytest.skip("chromium did not install")
    return browser


def test_report_renders_in_headless_chromium(report_path, tmp_path):
    browser = _chromium()
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", report_path.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert 'data-images="ok:5"' in result.stdout, result.stderr[-2000:]
    console_errors = [line for line in result.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    assert not console_errors
