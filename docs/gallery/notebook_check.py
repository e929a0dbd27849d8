"""The lecture models' equations and diagrams in a real Jupyter notebook, checked in a headless browser
(issue 15): writes ``models.ipynb`` here, executed, and says whether every equation typesets.

    python docs/gallery/notebook_check.py [--mathjax PATH/TO/tex-svg.js] [--keep-html FILE]

Steps: the notebook is built with nbformat (one cell per model and dialect: ``fit.math(style)`` as the
cell's value, then ``fit.diagram()``), run by a Jupyter kernel (nbclient + ipykernel), exported to HTML
by nbconvert, and that page is opened in headless Chromium with MathJax 3 (the typesetter JupyterLab
uses) from a local copy: ``npm install mathjax@3`` gives ``node_modules/mathjax/es5/tex-svg.js``. The
check passes when MathJax typesets as many displays as the notebook has equation outputs, none with a
TeX error, and every diagram's PNG is in the page. Needs: nbformat, nbclient, ipykernel, nbconvert,
Chromium, MathJax 3 (none of them is a dependency of the package).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

SETUP = """\
import warnings
import numpy as np
import multilevel as ml
warnings.simplefilter("ignore")
sleep = ml.datasets.load("sleepstudy")
frogs = ml.datasets.load("reedfrogs").assign(tank=np.arange(1, 49))
"""
MODELS = [  # (title, code that makes `fit`, dialects)
    ("Sleep study: correlated varying intercepts and slopes (lmer)",
     'fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)', ("levels", "rethinking")),
    ("Pastes: casks nested in batches (lmer)",
     'fit = ml.lmer("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes"))', ("levels", "rethinking")),
    ("Penicillin: crossed plates and samples (lmer)",
     'fit = ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))',
     ("levels", "rethinking")),
    ("Tadpoles: binomial with trials (glmer)",
     'fit = ml.glmer("surv | trials(density) ~ 1 + (1 | tank)", frogs)', ("levels", "rethinking")),
    ("Sleep study with brms's default priors (brm)",
     'fit = ml.brm("Reaction ~ Days + (Days | Subject)", sleep, seed=1, refresh=0)', ("levels", "rethinking")),
    ("Wine ratings: ordinal (brm cumulative)",
     'fit = ml.brm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), family="cumulative", seed=1, '
     'refresh=0)', ("levels", "rethinking")),
    ("Tadpoles as Statistical Rethinking writes them (ulam)",
     'fit = ml.ulam("""\n    surv ~ dbinom(density, p)\n    logit(p) <- a[tank]\n    a[tank] ~ dnorm(a_bar, sigma)\n'
     '    a_bar ~ dnorm(0, 1.5)\n    sigma ~ dexp(1)\n""", frogs, chains=2, draws=400, warmup=400, seed=1, refresh=0)',
     ("rethinking",)),
]


def build_notebook():
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# The lecture models as mathematics and as pictures\n\n"
                                           "Made by `docs/gallery/notebook_check.py`: each model's `fit.math(style)` "
                                           "and `fit.diagram()`, as Jupyter shows them."),
             nbformat.v4.new_code_cell(SETUP)]
    for title, make, styles in MODELS:
        cells.append(nbformat.v4.new_markdown_cell(f"## {title}"))
        cells.append(nbformat.v4.new_code_cell(make))
        for style in styles:
            cells.append(nbformat.v4.new_code_cell(f'fit.math("{style}")'))
        cells.append(nbformat.v4.new_code_cell("fig = fit.diagram()"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(notebook) -> None:
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()


def equation_outputs(notebook) -> int:
    return sum(1 for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
               if "text/latex" in output.get("data", {}))


def image_outputs(notebook) -> int:
    return sum(1 for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
               if "image/png" in output.get("data", {}))


def to_html(notebook, mathjax: Path) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(mathjax_url=mathjax.as_uri())
    body, _ = exporter.from_notebook_node(notebook)
    return body


def typeset(page: Path) -> str:
    """The page's DOM after MathJax ran in headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                 "--allow-file-access-from-files", f"--user-data-dir={profile}",
                                 "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
                                capture_output=True, text=True, timeout=300)
    return result.stdout


def find_mathjax(given: str | None) -> Path:
    candidates = [given, os.environ.get("MATHJAX_JS"), "node_modules/mathjax/es5/tex-svg.js",
                  "/tmp/mj/node_modules/mathjax/es5/tex-svg.js", "/usr/share/nodejs/mathjax-full/es5/tex-svg.js"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    raise SystemExit("MathJax 3 not found: `npm install mathjax@3` and pass --mathjax node_modules/mathjax/es5/tex-svg.js")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mathjax", default=None)
    parser.add_argument("--keep-html", default=None, help="also write the exported page here")
    args = parser.parse_args(argv)
    mathjax = find_mathjax(args.mathjax)
    notebook = build_notebook()
    execute(notebook)
    import nbformat

    nbformat.write(notebook, HERE / "models.ipynb")
    expected, images = equation_outputs(notebook), image_outputs(notebook)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "models.html"
        html = to_html(notebook, mathjax)
        page.write_text(html)
        if args.keep_html:
            Path(args.keep_html).write_text(html)
        dom = typeset(page)
    displays = len(re.findall(r"<mjx-container[^>]*display=\"true\"", dom))
    errors = re.findall(r"data-mjx-error=\"([^\"]*)\"|<mjx-merror[^>]*>", dom)
    pictures = len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", dom))
    report = {"equation_outputs": expected, "typeset_displays": displays, "tex_errors": errors,
              "diagram_outputs": images, "images_in_page": pictures}
    print(json.dumps(report, indent=1))
    ok = expected > 0 and displays >= expected and not errors and pictures >= images
    print("notebook check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
