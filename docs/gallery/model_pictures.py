"""The lecture models as mathematics and as pictures (issue 15): writes ``models.md`` and its PNGs here.

    python docs/gallery/model_pictures.py

For each model: the equations in the levels dialect and the rethinking dialect (LaTeX in the page, and
the same rendered by matplotlib's mathtext as a PNG), and the plate diagram.
"""
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.report import equations_figure  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from test_ulam import CAFES, PARTIAL, cafes, frogs  # noqa: E402

warnings.simplefilter("ignore")


def save(fig, name):
    fig.savefig(HERE / name, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return name


sleep = ml.datasets.load("sleepstudy")
reedfrogs = ml.datasets.load("reedfrogs")
reedfrogs["tank"] = np.arange(1, 49)
MODELS = [
    ("Sleep study: correlated varying intercepts and slopes (lmer)",
     ml.lmer("Reaction ~ Days + (Days | Subject)", sleep), ("levels", "rethinking")),
    ("Sleep study, uncorrelated (lmer, ||)", ml.lmer("Reaction ~ Days + (Days || Subject)", sleep), ("levels", "rethinking")),
    ("Pastes: casks nested in batches (lmer, batch/cask)",
     ml.lmer("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes")), ("levels", "rethinking")),
    ("Penicillin: crossed plates and samples (lmer)",
     ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin")), ("levels", "rethinking")),
    ("Tadpoles: binomial with trials, varying intercepts (glmer)",
     ml.glmer("surv | trials(density) ~ 1 + (1 | tank)", reedfrogs), ("levels", "rethinking")),
    ("Sleep study with brms's default priors (brm)",
     ml.brm("Reaction ~ Days + (Days | Subject)", sleep, seed=1, refresh=0), ("levels", "rethinking")),
    ("Wine ratings: ordinal with judges' intercepts (brm cumulative)",
     ml.brm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), family="cumulative", seed=1,
            refresh=0), ("levels", "rethinking")),
    ("Tadpoles as Statistical Rethinking writes them (ulam)",
     ml.ulam(PARTIAL, frogs(), chains=2, draws=400, warmup=400, seed=1, refresh=0), ("rethinking",)),
    ("Cafes: correlated intercepts and slopes (ulam)",
     ml.ulam(CAFES, cafes(), chains=2, draws=400, warmup=400, seed=1, refresh=0), ("rethinking",)),
]

page = ["# The lecture models as mathematics and as pictures", "",
        "Written by `docs/gallery/model_pictures.py` from `fit.math(style)` and `fit.diagram()`. Each block of "
        "LaTeX is what `fit.math(...).latex` returns (Jupyter renders it); the picture beside it is the same "
        "rendered by matplotlib's mathtext, the relations aligned (`fit.math(...).figure()`). The diagrams use the "
        "symbols of the rethinking dialect. `docs/gallery/notebook_check.py` runs the same models in a Jupyter "
        "notebook (`models.ipynb`) and checks in headless Chromium that MathJax typesets every equation.", ""]
for number, (title, fit, styles) in enumerate(MODELS, start=1):
    page += [f"## {number}. {title}", "", "```", fit.model_text if hasattr(fit, "model_text") else fit.formula,
             "```", ""]
    for style in styles:
        equations = fit.math(style)
        image = save(equations_figure(equations), f"model{number}_{style}.png")
        page += [f"**{style}**", "", "$$", equations.latex, "$$", "", f"![{style}]({image})", ""]
        page += [f"*{note}*" for note in equations.notes] + ([""] if equations.notes else [])
    page += [f"![plate diagram]({save(fit.diagram(), f'model{number}_diagram.png')})", ""]
(HERE / "models.md").write_text("\n".join(page))
print("wrote", HERE / "models.md")
