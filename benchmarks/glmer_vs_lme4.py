"""Benchmark ``multilevel.glmer`` against R's lme4, side by side, in one run.

How to run (from the repository root, with the package installed, e.g. editable)::

    python benchmarks/glmer_vs_lme4.py                     # full run (ours + lme4 if available)
    python benchmarks/glmer_vs_lme4.py --quick             # ours only, 1 repetition
    python benchmarks/glmer_vs_lme4.py --reps 5 --reps-insteval 3

    python benchmarks/glmer_vs_lme4.py --models poisson_slopes --reps 3   # one case, both sides

A full run takes a few minutes, most of it lme4's InstEval fit (~45 s per fit) and the
generated poisson (x|g) model (~1 min per lme4 fit); run it on an otherwise idle machine.

What is measured
----------------
All models are Laplace fits (nAGQ = 1) with default controls on both sides.

1. bangladesh: ``use.contraception ~ urban + (1 + urban | district)``, binomial.
   Target: lme4 time / our time >= 2.
2. grouseticks: ``TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)``,
   poisson.  Target: ratio >= 2.
3. InstEval, binary: ``I(y > 3) ~ service + (1|s) + (1|d)``, binomial.
   Target: ratio >= 4.
4. poisson (x|g) 1e4 levels: ``y ~ x + (x | g)``, poisson, on data generated here
   (:func:`poisson_slopes_data`: 1e4 levels of g, 10 rows each, a correlated random
   intercept and slope). The same rows go to R through a CSV written to a temporary
   folder. Target: ratio >= 4.

Work counts, per model: our deviance evaluations (both stages and the Hessian) and PIRLS
runs/iterations (``fit.optimizer.settings``); lme4's stage-2 evaluations (``optinfo$feval``).

Our time is the wall-clock time of ``ml.glmer`` after import and data loading
(``ml.datasets.load``), best of ``--reps`` (default 3) runs, all runs printed.
lme4's ``glmer(...)`` is timed inside R with ``system.time`` (so R start-up,
loading lme4 and reading the data are excluded), best of ``--reps`` for
bangladesh and grouseticks; for InstEval lme4 runs once (it takes ~45 s) unless
``--reps-insteval N`` is given.

Agreement, per model and from the same run: the relative difference of our
-2 logLik vs lme4's, ``(ours - lme4) / |lme4|``, and the largest relative
difference of the fixed effects, ``max |ours - lme4| / |lme4|`` (matched by name).
These are printed, not judged: lme4's default fits stop early (up to a few 1e-6
relative in -2 logLik, see ``benchmarks/r/glmer_tight_refs.R``), so small
differences in lme4's disfavour are expected.

lme4's side lives in ``benchmarks/r/glmer_bench.R`` and reads the bundled CSVs
(``src/multilevel/datasets/data``; the generated model's CSV from the temporary folder) with the factor conversions of
``benchmarks/r/glmer_tight_refs.R`` (grouseticks INDEX/BROOD/YEAR/LOCATION with
the levels of ``factor_levels_r.json``; bangladesh district, insteval
s/d/service via ``factor()``).  R is optional: if ``Rscript``, lme4 or jsonlite
is missing (or ``--quick``/``--no-r`` is given) only our numbers are printed and
the lme4 columns show "-".

The environment's BLAS settings (e.g. ``OPENBLAS_CORETYPE``) are used as they
are, in this process and in R.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, REPO, SRC, fmt, import_multilevel, key_values, print_table, run_rscript  # noqa: E402,F401

R_SCRIPT = REPO / "benchmarks" / "r" / "glmer_bench.R"


def poisson_slopes_data(levels: int = 10_000, per_level: int = 10, seed: int = 20261130):
    """Counts with a random intercept (sd 0.5) and slope in x (sd 0.3, correlation 0.3) per level of g."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), per_level)
    x = np.round(rng.normal(size=levels * per_level), 4)  # 4 decimals: the CSV carries them exactly
    cov = np.array([[0.5**2, 0.3 * 0.5 * 0.3], [0.3 * 0.5 * 0.3, 0.3**2]])
    b = rng.multivariate_normal([0, 0], cov, size=levels)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + b[g, 0] + b[g, 1] * x))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:05d}" for i in g]})


# generated data sets: key -> (generator, CSV name read by benchmarks/r/glmer_bench.R)
GENERATED = {"poisson_slopes": (poisson_slopes_data, "poisson_slopes.csv")}

# key -> (label, dataset (bundled name, or a GENERATED key), formula, glmer keyword arguments, target ratio)
MODELS = {
    "bangladesh": ("bangladesh binomial", "bangladesh",
                   "use.contraception ~ urban + (1 + urban | district)", {}, 2.0),
    "grouseticks": ("grouseticks poisson", "grouseticks",
                    "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)",
                    {"family": "poisson"}, 2.0),
    "insteval": ("InstEval binary", "insteval", "I(y > 3) ~ service + (1|s) + (1|d)", {}, 4.0),
    "poisson_slopes": ("poisson (x|g) 1e4 levels", "poisson_slopes", "y ~ x + (x | g)", {"family": "poisson"}, 4.0),
}


def run_lme4(reps: int, reps_insteval: int, generated_dir: str, models: list[str],
             timeout: float = 1800.0) -> dict | None:
    """Run the R side; return parsed results, or None (with a note) if unavailable."""
    out = run_rscript(R_SCRIPT, [DATA_DIR, reps, reps_insteval, generated_dir, ",".join(models)], "lme4", timeout)
    return None if out is None else key_values(out, ("_fixef_name", "_warning", "_version"))



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip lme4 and use 1 repetition")
    ap.add_argument("--no-r", action="store_true", help="skip lme4")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of each fit (default 3); lme4's InstEval fit runs once")
    ap.add_argument("--reps-insteval", type=int, default=None,
                    help="repetitions of lme4's InstEval fit (default 1, ~45 s each)")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated models to run (default all: {','.join(MODELS)})")
    args = ap.parse_args(argv)
    models = {key: MODELS[key] for key in args.models.split(",")}
    reps = args.reps or (1 if args.quick else 3)
    reps_insteval = args.reps_insteval or 1
    use_r = not (args.quick or args.no_r)

    ml = import_multilevel()
    import numpy as np

    print(f"multilevel {ml.__version__}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    # ---------------------------------------------------------------- ours
    generated_dir = tempfile.mkdtemp(prefix="glmer_bench_")  # the generated data, for R too
    ours: dict[str, dict] = {}
    for n, (key, (label, dataset, formula, kwargs, _)) in enumerate(models.items(), 1):
        fam = kwargs.get("family", "binomial")
        print(f"\n[{n}] {label}  {formula}  (family={fam}, {reps} run(s))")
        if dataset in GENERATED:
            generate, csv_name = GENERATED[dataset]
            data = generate()
            data.to_csv(Path(generated_dir) / csv_name, index=False)
        else:
            data = ml.datasets.load(dataset)
        times = []
        fit = None
        for i in range(reps):
            t0 = time.perf_counter()
            fit = ml.glmer(formula, data, **kwargs)
            times.append(time.perf_counter() - t0)
            print(f"  ours run {i + 1}: {times[-1]:.3f} s")
        m2ll = -2.0 * float(fit.loglik)
        fixef = fit.fixef()
        settings = fit.optimizer.settings
        ours[key] = {"seconds": min(times), "m2loglik": m2ll,
                     "fixef": dict(zip(fixef.index, fixef.to_numpy(dtype=float))),
                     "evaluations": settings.get("deviance_evaluations"), "pirls": settings.get("pirls_iterations")}
        print(f"  ours: best {min(times):.3f} s, -2 logLik {m2ll:.6f}, converged={fit.converged}, "
              f"theta={np.round(fit.theta, 6).tolist()}")
        print(f"  ours work: {settings.get('deviance_evaluations', '-')} deviance evaluations "
              f"(stage 1 {settings.get('stage1_evaluations', '-')}, stage 2 {fit.optimizer.n_evaluations}, "
              f"Hessian {settings.get('hessian_evaluations', '-')}); {settings.get('pirls_runs', '-')} PIRLS runs, "
              f"{settings.get('pirls_iterations', '-')} iterations")
        for msg in fit.messages:
            print(f"  ours message: {msg}")
        del fit, data

    # ---------------------------------------------------------------- lme4
    r = None
    if use_r:
        print(f"\n[lme4] Rscript {R_SCRIPT.relative_to(REPO)} "
              f"({reps} run(s) each, {reps_insteval} InstEval run(s))")
        r = run_lme4(reps, reps_insteval, generated_dir, list(models))
    theirs: dict[str, dict] = {}
    if r is not None:
        print(f"  R {r.get('r_version', ['?'])[0]}, lme4 {r.get('lme4_version', ['?'])[0]}")
        for key, (label, *_rest) in models.items():
            try:
                secs = r[f"{key}_seconds"]
                entry = {"seconds": min(secs), "m2loglik": r[f"{key}_m2loglik"][0],
                         "fixef": dict(zip(r[f"{key}_fixef_name"], r[f"{key}_fixef"])),
                         "evaluations": r.get(f"{key}_feval", [None])[0]}
            except (KeyError, IndexError, ValueError) as exc:
                print(f"  {label}: could not parse lme4 output ({exc!r}): ignoring it.")
                continue
            theirs[key] = entry
            runs = ", ".join(f"{t:.3f}" for t in secs)
            print(f"  {label}: lme4 runs {runs} s; best {entry['seconds']:.3f} s, "
                  f"-2 logLik {entry['m2loglik']:.6f}, "
                  f"theta={[round(t, 6) for t in r.get(f'{key}_theta', [])]}, "
                  f"stage-2 evaluations {fmt(entry['evaluations'], '.0f')}")
            for msg in r.get(f"{key}_warning", []):
                print(f"    lme4 warning: {msg}")

    # ---------------------------------------------------------------- agreement
    agree: dict[str, tuple[float, float | None]] = {}
    if theirs:
        print("\nAgreement with lme4 (same run): -2 logLik (ours - lme4)/|lme4|; "
              "fixed effects max |ours - lme4|/|lme4|")
    for key, (label, *_rest) in models.items():
        if key not in theirs:
            continue
        o, t = ours[key], theirs[key]
        rel_dev = (o["m2loglik"] - t["m2loglik"]) / abs(t["m2loglik"])
        common = [nm for nm in t["fixef"] if nm in o["fixef"]]
        if len(common) == len(t["fixef"]) == len(o["fixef"]):
            rel_fx = max(abs(o["fixef"][nm] - t["fixef"][nm]) / max(abs(t["fixef"][nm]), 1e-300)
                         for nm in common)
            note = ""
        else:
            rel_fx = None
            note = (f"  (fixed-effect names differ: ours {list(o['fixef'])}, "
                    f"lme4 {list(t['fixef'])})")
        agree[key] = (rel_dev, rel_fx)
        print(f"  {label}: -2 logLik ours {o['m2loglik']:.6f} lme4 {t['m2loglik']:.6f} "
              f"rel {rel_dev:+.2e}; logLik ours - lme4 {(t['m2loglik'] - o['m2loglik']) / 2:+.3e}; "
              f"fixef max rel {fmt(rel_fx, '.2e')}{note}")

    # ---------------------------------------------------------------- table
    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "FAIL")

    rows = []
    for key, (label, _ds, _f, _kw, target) in models.items():
        o_s = ours[key]["seconds"]
        t_s = theirs[key]["seconds"] if key in theirs else None
        ratio = None if t_s is None else t_s / o_s
        rel_dev, rel_fx = agree.get(key, (None, None))
        rows.append([label, fmt(o_s, ".3f"), fmt(t_s, ".3f"), fmt(ratio, ".2f"),
                     f"ratio >= {target:g}", verdict(None if ratio is None else ratio >= target),
                     fmt(rel_dev, "+.2e"), fmt(rel_fx, ".2e"), fmt(ours[key]["evaluations"], "d"),
                     fmt(ours[key]["pirls"], "d"), fmt(theirs.get(key, {}).get("evaluations"), ".0f")])

    header = ["model", "ours (s)", "lme4 (s)", "lme4/ours", "target", "result",
              "-2logLik rel", "fixef max rel", "ours evals", "ours PIRLS its", "lme4 stage-2 evals"]
    print_table(header, rows)
    print(f"(times: best of {reps} for ours; lme4 best of {reps}, InstEval best of {reps_insteval})"
          if theirs else "(lme4 not run: ratios and agreement not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
