"""The HTML report: built from a fit, every image embedded, and rendered by headless Chromium."""
import os
import shutil
import subprocess
import warnings
from html.parser import HTMLParser

import numpy as np
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
    # equations, plate diagram, coefficients, caterpillar, shrinkage, predictions, pp_check
    assert text.count("data:image/png;base64,") == 7
    assert "<h2>Model</h2>" in text and "\\begin{align*}" in text
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


def _dump_dom(page, tmp_path) -> subprocess.CompletedProcess:
    """The page's DOM after its scripts ran, from headless Chromium (console messages on stderr)."""
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )


def test_report_renders_in_headless_chromium(report_path, tmp_path):
    result = _dump_dom(report_path, tmp_path)
    assert 'data-images="ok:7"' in result.stdout, result.stderr[-2000:]
    console_errors = [line for line in result.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    assert not console_errors


# ---- user text is shown as text, never run (issue 10) -------------------------------------------
# Each payload marks the page if the browser runs it; the report must show it as plain text instead.
PAYLOAD_FILE = "<img src=x onerror=document.body.dataset.pwned='file'>"
PAYLOAD_RESPONSE = "<script>document.body.dataset.pwned='column'</script>"
PAYLOAD_PREDICTOR = "<img src=x onerror=\"document.title='pwned';document.body.append(document.createElement('pwned'))\">"
PAYLOAD_GROUP = "<svg onload=document.body.dataset.pwned='group'>"
PAYLOADS = [PAYLOAD_FILE, PAYLOAD_RESPONSE, PAYLOAD_PREDICTOR, PAYLOAD_GROUP]


class _Page(HTMLParser):
    """Tags, attributes and visible text of an HTML page (the text unescaped, as a reader sees it)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text, self.title = [], [], [], ""
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name) for name, _ in attrs]
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data


def assert_inert(html_text: str, payloads=PAYLOADS) -> None:
    """No tag or attribute came from user text, and every payload is there as text."""
    page = _Page(html_text)
    assert not {"svg", "pwned"} & set(page.tags)
    assert not [a for a in page.attributes if a[1].startswith("on") or a[1] == "data-pwned"], page.attributes
    text = "".join(page.text)
    for payload in payloads:
        assert payload in text


def _crafted_data():
    import multilevel as ml

    data = ml.datasets.load("sleepstudy").rename(
        columns={"Reaction": PAYLOAD_RESPONSE, "Days": PAYLOAD_PREDICTOR, "Subject": PAYLOAD_GROUP})
    data[PAYLOAD_GROUP] = "<b>" + data[PAYLOAD_GROUP].astype(str)  # level names, shown in plots and ranef
    data.loc[[0, 7], PAYLOAD_RESPONSE] = np.nan
    return data


CRAFTED_FORMULA = f"`{PAYLOAD_RESPONSE}` ~ `{PAYLOAD_PREDICTOR}` + (1 | `{PAYLOAD_GROUP}`)"


@pytest.fixture(scope="module")
def crafted_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted")
    csv = folder / f"{PAYLOAD_FILE}.csv"
    _crafted_data().to_csv(csv, index=False)
    path = folder / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["report", CRAFTED_FORMULA, "--data", str(csv), "--out", str(path)]) == 0
    return path


def test_crafted_names_are_escaped_in_the_report(crafted_report):
    text = crafted_report.read_text()
    assert_inert(text)
    assert "Rows dropped for missing values: 2" in text


def test_crafted_names_show_as_text_in_headless_chromium(crafted_report, tmp_path):
    result = _dump_dom(crafted_report, tmp_path)
    dom = _Page(result.stdout)
    assert "body" in dom.tags, result.stderr[-2000:]
    assert ("body", "data-images") in dom.attributes  # the page's own script ran to the end
    assert ("body", "data-pwned") not in dom.attributes  # no payload ran
    assert "pwned" not in dom.tags and "svg" not in dom.tags
    assert dom.title.startswith("multilevel report: ") and dom.title != "pwned"
    text = "".join(dom.text)
    for payload in PAYLOADS:
        assert payload in text  # shown to the reader, literally
    assert 'data-images="ok:7"' in result.stdout  # no broken <img> injected


def test_lmer_and_glmer_html_summaries_escape_user_text():
    import multilevel as ml

    data = _crafted_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(CRAFTED_FORMULA, data, data_name=PAYLOAD_FILE)
    fit.messages = fit.messages + [f"note about {PAYLOAD_RESPONSE}"]
    html_text = fit._repr_html_()
    assert_inert(html_text)
    assert "Rows dropped for missing values: 2" in html_text
    data["y"] = (data[PAYLOAD_RESPONSE] > 300).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glmm = ml.glmer(f"y ~ `{PAYLOAD_PREDICTOR}` + (1 | `{PAYLOAD_GROUP}`)", data.dropna(), family="binomial",
                        data_name=PAYLOAD_FILE)
    glmm.messages = glmm.messages + [f"note about {PAYLOAD_RESPONSE}"]
    assert_inert(glmm._repr_html_(), [PAYLOAD_FILE, PAYLOAD_PREDICTOR, PAYLOAD_GROUP, PAYLOAD_RESPONSE])


def test_html_table_and_messages_escape_every_cell():
    from multilevel.results.format import html_messages, html_table

    text = html_table([PAYLOAD_GROUP], [[PAYLOAD_RESPONSE]], caption=PAYLOAD_FILE) + "".join(html_messages([PAYLOAD_PREDICTOR]))
    assert_inert(text)


def test_brm_summary_escapes_user_text_and_reports_dropped_rows():
    import multilevel as ml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.brm(CRAFTED_FORMULA, _crafted_data(), chains=1, draws=100, warmup=100, seed=1,
                     data_name=PAYLOAD_FILE, progress=False)
    fit.messages = [f"note about {PAYLOAD_RESPONSE}"]
    assert fit.nobs == 178
    text = str(fit.summary())
    assert f"Rows dropped for missing values: 2 ({PAYLOAD_RESPONSE}: 2)" in text
    assert "(Number of observations: 178)" in text
    html_text = fit._repr_html_()
    assert_inert(html_text)
    assert "Rows dropped for missing values: 2" in "".join(_Page(html_text).text)


def test_ulam_html_escapes_parameter_names():
    """ulam's HTML comes from pandas' to_html, which escapes; parameter names come from the model text."""
    import types

    import pandas as pd

    from multilevel.rethinking.fit import UlamFit

    table = pd.DataFrame({"mean": [0.1], "sd": [1.0]}, index=[PAYLOAD_RESPONSE])
    fake = types.SimpleNamespace(precis=lambda depth: table,
                                 run=types.SimpleNamespace(settings={"chains": 4, "draws": 1000}))
    assert_inert(UlamFit._repr_html_(fake), [PAYLOAD_RESPONSE])
