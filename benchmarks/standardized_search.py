"""What searching in standardized coordinates costs or saves: each model fitted both ways, side by side.

"standardized" is the library as shipped (multilevel.ml.standardize); "as given" replaces the
standardization by the identity, which is how lmer/glmer searched before (and how lme4 searches).
Also the issue's rescaled models: Days x 1e4 in a random slope and a Poisson predictor x 1e7.
Best of ``--repeats`` runs each, alternating, in one process.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from _common import import_multilevel, print_table

ml = import_multilevel()
from multilevel.ml.standardize import Standardization, standardize  # noqa: E402

LMER = sys.modules["multilevel.ml.lmer"]
GLMER = sys.modules["multilevel.ml.glmer"]


def as_given(design):
    eye = np.eye(design.fixed.matrix.shape[1])
    return design, Standardization(eye, tuple(np.eye(t.dim) for t in design.terms),
                                   tuple(t.covariance for t in design.terms))


def models():
    load = ml.datasets.load
    sleep = load("sleepstudy")
    ticks = load("grouseticks")
    return {
        "sleepstudy (Days|Subject)": lambda: ml.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "sleepstudy Days x 1e4, ML": lambda: ml.lmer("Reaction ~ D + (D | Subject)", sleep.assign(D=sleep.Days * 1e4),
                                                     reml=False),
        "mathachieve (ses|school)": lambda: ml.lmer("mathach ~ ses + sex + (ses | school)", load("mathachieve")),
        "classroom (ses||class)+(ses|school)": lambda: ml.lmer("mathscore ~ ses + (ses || classid) + (ses | schoolid)",
                                                               load("classroom")),
        "bangladesh glmer (age|district)": lambda: ml.glmer(
            "use.contraception ~ age.centered + urban + (age.centered | district)", load("bangladesh")),
        "grouseticks poisson HEIGHT": lambda: ml.glmer(
            "TICKS ~ YEAR + HEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)", ticks, family="poisson"),
        "grouseticks poisson HEIGHT x 1e7": lambda: ml.glmer(
            "TICKS ~ YEAR + H + (1|BROOD) + (1|INDEX) + (1|LOCATION)", ticks.assign(H=ticks.HEIGHT * 1e7),
            family="poisson"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name, fit in models().items():
        seconds, result = {"standardized": [], "as given": []}, {}
        for _ in range(args.repeats):
            for mode, transform in (("standardized", standardize), ("as given", as_given)):
                LMER.standardize = GLMER.standardize = transform
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    start = time.perf_counter()
                    f = fit()
                    seconds[mode].append(time.perf_counter() - start)
                result[mode] = (f.optimizer.n_evaluations, f.loglik, len(caught))
        LMER.standardize = GLMER.standardize = standardize
        best = {mode: min(values) for mode, values in seconds.items()}
        rows.append([name, f"{best['standardized']:.3f}", f"{best['as given']:.3f}",
                     f"{best['standardized'] / best['as given']:.2f}",
                     f"{result['standardized'][0]} / {result['as given'][0]}",
                     f"{result['standardized'][1] - result['as given'][1]:+.2e}",
                     f"{result['standardized'][2]} / {result['as given'][2]}"])
    print_table(["model", "std s", "as given s", "ratio", "evaluations", "logLik std - given", "warnings"], rows)


if __name__ == "__main__":
    main()
