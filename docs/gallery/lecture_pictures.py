"""Reproduce the lecture pictures on the bundled data; writes PNGs next to this script.

    python docs/gallery/lecture_pictures.py

1. tadpole shrinkage: no pooling vs partial pooling, tanks ordered by size (density)
2. gapminder: country intercepts (partial pooling) vs the countries' empirical means
3. sleepstudy: per-subject lines, lmer and brm
4. cafes: intercept/slope shrinkage with the population covariance ellipses
5. LKJ(2) prior vs the posterior of rho (cafes, ulam)
"""
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import multilevel as ml  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from test_ulam import CAFES, cafes  # noqa: E402

warnings.simplefilter("ignore")


def save(fig_or_ax, name):
    fig = fig_or_ax if hasattr(fig_or_ax, "savefig") else fig_or_ax.figure
    fig.savefig(HERE / name, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print("wrote", HERE / name)


frogs = ml.datasets.load("reedfrogs")
frogs["tank"] = np.arange(1, 49)
tadpoles = ml.glmer("surv | trials(density) ~ 1 + (1 | tank)", frogs)
ax = ml.plots.shrinkage(tadpoles, group="tank")
ax.set_title("Tadpoles: no pooling (open) vs partial pooling (filled)")
save(ax, "tadpole_shrinkage.png")

g = ml.datasets.load("gapminder")
g["L"] = (g.lifeExp - g.lifeExp.mean()) / g.lifeExp.std()
gap = ml.lmer("L ~ 1 + (1 | country)", g)
ax = ml.plots.shrinkage(gap, group="country")
ax.set_title("Gapminder: country means (open) vs country intercepts (filled)")
save(ax, "gapminder_intercepts.png")

sleep = ml.datasets.load("sleepstudy")
fig = ml.plots.group_lines(ml.lmer("Reaction ~ Days + (Days | Subject)", sleep), x="Days", group="Subject")
fig.suptitle("sleepstudy, lmer", y=1.02)
save(fig, "sleepstudy_lines_lmer.png")
bayes = ml.brm("Reaction ~ Days + (Days | Subject)", sleep, seed=1)
fig = ml.plots.group_lines(bayes, x="Days", group="Subject")
fig.suptitle("sleepstudy, brm", y=1.02)
save(fig, "sleepstudy_lines_brm.png")

cafe = pd.DataFrame(cafes())
cafe_fit = ml.lmer("wait ~ afternoon + (afternoon | cafe)", cafe)
save(ml.plots.shrinkage_2d(cafe_fit, group="cafe", slope="afternoon"), "cafe_shrinkage.png")

cafe_ulam = ml.ulam(CAFES, cafes(), seed=1)
ax = ml.plots.prior_posterior(cafe_ulam, "Rho[1,2]")
ax.set_title("LKJ(2) prior vs posterior of rho (cafes)")
save(ax, "lkj_prior_posterior.png")
