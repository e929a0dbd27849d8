"""Benchmark ``multilevel.brm`` against R's brms, side by side, in one run.

How to run (from the repository root, with the package installed, e.g. editable)::

    python benchmarks/brm_vs_brms.py            # full run (ours + brms if available)
    python benchmarks/brm_vs_brms.py --quick    # ours only
    python benchmarks/brm_vs_brms.py --no-r     # ours only

Models (both sides: ``--chains`` 4 chains x ``--draws`` 1000 draws after ``--warmup`` 1000)
---------------------------------------------------------------------------------------------
1. sleepstudy: ``Reaction ~ Days + (Days | Subject)``, gaussian, default priors.
2. reedfrogs: ``surv | trials(density) ~ 1 + (1 | tank)``, binomial, priors
   ``normal(0, 1.5)`` on the Intercept and ``exponential(1)`` on sd; tank = row 1..48.
3. bangladesh: ``use.contraception ~ urban + (1 + urban | district)``, bernoulli, default
   priors (district a factor, urban numeric 0/1).

What is measured, per model
---------------------------
* Wall time from the call to the fitted model.  Ours: ``time.perf_counter()`` around
  ``ml.brm(...)`` after ``import multilevel.bayes, jax, numpyro`` (JAX imported, backend not
  yet started), so JAX start-up, tracing and XLA compilation are included; the three models
  run one after the other in this process.  brms: ``system.time(brm(...))`` inside R after
  ``library(brms)``, so Stan's C++ compilation is included.  Target: brms / ours >= 10.
* Minimum bulk ESS over the named parameters (b_, sd_, cor_, sigma; not the group-level
  effects r_ nor lp__/lprior).  Ours: ``fit.parameter_summary()["Bulk_ESS"]``; brms:
  ``posterior::summarise_draws``.  Target: ours >= brms.
* Bulk ESS per second of sampling alone (information, no target): ours min Bulk_ESS /
  ``fit.run.seconds_sampling`` (NumPyro gives no separate timing: this is the post-warm-up
  share of ``seconds_total``, JIT included, so it overstates our sampling time); brms: min
  bulk ESS / the post-warmup time of ``rstan::get_elapsed_time`` summed over chains.
* Agreement: for every parameter, (our mean - brms mean) / sqrt(MCSE_ours^2 + MCSE_brms^2),
  with MCSE of the mean from ArviZ (ours) and posterior (brms).  Rule of thumb: max |z| < 4.

brms's side lives in ``benchmarks/r/brms_bench.R`` and reads the bundled CSVs
(``src/multilevel/datasets/data``).  brms runs its chains in parallel on
``--cores`` cores (default: min(chains, CPUs)); ours run one XLA CPU device per chain.
R is optional: if ``Rscript``, brms or posterior is missing (the R script exits with
status 3), or ``--quick``/``--no-r`` is given, only our numbers are printed and the brms
columns show "-".
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_DIR, REPO, SRC, fmt, import_multilevel, key_values, print_table, run_rscript  # noqa: E402,F401

R_SCRIPT = REPO / "benchmarks" / "r" / "brms_bench.R"

MODELS = ["sleepstudy", "reedfrogs", "bangladesh"]
FORMULAS = {
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "reedfrogs": "surv | trials(density) ~ 1 + (1|tank)",
    "bangladesh": "use.contraception ~ urban + (1 + urban|district)",
}
FAMILIES = {"sleepstudy": "gaussian", "reedfrogs": "binomial", "bangladesh": "bernoulli"}

TARGET_RATIO = 10.0
TARGET_Z = 4.0



def load_data(ml, name: str):
    data = ml.datasets.load(name)
    if name == "reedfrogs":
        data["tank"] = range(1, len(data) + 1)
    elif name == "bangladesh":
        data["district"] = data["district"].astype(str)  # a factor, as in R
    return data


def priors_for(ml, name: str):
    if name == "reedfrogs":
        return [ml.prior("normal(0, 1.5)", class_="Intercept"),
                ml.prior("exponential(1)", class_="sd")]
    return None


def run_ours(ml, name: str, chains: int, draws: int, warmup: int, seed: int) -> dict:
    import arviz_stats

    data = load_data(ml, name)
    priors = priors_for(ml, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fit = ml.brm(FORMULAS[name], data, family=FAMILIES[name], priors=priors, chains=chains,
                     draws=draws, warmup=warmup, seed=seed)
        secs = time.perf_counter() - t0
    table = fit.parameter_summary()
    frame = fit.draws(include_group_effects=False)
    n_chains = int(frame[".chain"].max())
    mcse = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in table.index:
            values = frame[p].to_numpy().reshape(n_chains, -1)
            mcse[p] = float(arviz_stats.mcse(values, method="mean"))
    return dict(seconds=secs, total=float(fit.run.seconds_total),
                sampling=float(fit.run.seconds_sampling),
                divergent=int(fit.run.diverging.sum()), table=table, mcse=mcse,
                settings=fit.run.settings, messages=list(fit.messages))


def run_brms(models: list[str], chains: int, draws: int, warmup: int, cores: int, seed: int,
             timeout: float = 3600.0) -> dict | None:
    """Run the R side; return parsed results, or None (with a note) if unavailable."""
    text = run_rscript(R_SCRIPT, [DATA_DIR, chains, draws, warmup, cores, seed, ",".join(models)], "brms", timeout)
    if text is None:
        return None
    proc_stdout = text
    res: dict = {"info": {}, "models": {}}
    for line in proc_stdout.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "par" and len(parts) == 9:
            m = res["models"].setdefault(parts[1], {"pars": {}})
            vals = [float(v) for v in parts[3:]]
            m["pars"][parts[2]] = dict(zip(["mean", "sd", "mcse", "ess_bulk", "ess_tail", "rhat"],
                                           vals))
        elif parts[0] in ("seconds", "warmup_seconds", "sample_seconds", "divergent") \
                and len(parts) == 3:
            res["models"].setdefault(parts[1], {"pars": {}})[parts[0]] = float(parts[2])
        elif len(parts) == 2:
            res["info"][parts[0]] = parts[1]
    return res



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="ours only (skip brms)")
    ap.add_argument("--no-r", action="store_true", help="skip brms")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated subset of {','.join(MODELS)}")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cores", type=int, default=None,
                    help="brms cores (default: min(chains, CPUs))")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)}")
    use_r = not (args.quick or args.no_r)
    cores = args.cores or min(args.chains, os.cpu_count() or 1)

    ml = import_multilevel()
    import multilevel.bayes  # noqa: F401
    import jax  # noqa: F401  (imported, backend not started: ml.brm sets the device count)
    import numpyro
    import numpy as np

    print(f"multilevel {ml.__version__}, Python {platform.python_version()}, jax {jax.__version__}, "
          f"numpyro {numpyro.__version__}, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{args.chains} chains x {args.draws} draws (warmup {args.warmup}), seed {args.seed}")

    # ---------------------------------------------------------------- ours
    ours = {}
    for i, name in enumerate(models, 1):
        print(f"[{i}] {name} {FAMILIES[name]}  {FORMULAS[name]}")
        o = run_ours(ml, name, args.chains, args.draws, args.warmup, args.seed)
        ours[name] = o
        t = o["table"]
        print(f"  ours: {o['seconds']:.2f} s to the fit (sampler {o['total']:.2f} s incl. JIT, "
              f"sampling est. {o['sampling']:.2f} s), {o['settings']['chain_method']} on "
              f"{o['settings']['devices']} device(s), divergent {o['divergent']}, "
              f"max Rhat {t['Rhat'].max():.3f}, min bulk ESS {t['Bulk_ESS'].min():.0f}, "
              f"min tail ESS {t['Tail_ESS'].min():.0f}")
        print(f"    group-level effects: {o['settings'].get('parameterization', '?')}")
        for msg in o["messages"]:
            print(f"    note: {msg}")

    # ---------------------------------------------------------------- brms
    r = None
    if use_r:
        print(f"\n[brms] Rscript {R_SCRIPT.relative_to(REPO)} ({', '.join(models)}; cores={cores}; "
              "this compiles one Stan model per fit and takes minutes)")
        r = run_brms(models, args.chains, args.draws, args.warmup, cores, args.seed)
    if r is not None:
        info = r["info"]
        print(f"  R {info.get('r_version', '?')}, brms {info.get('brms_version', '?')}, "
              f"rstan {info.get('rstan_version', '?')}, posterior {info.get('posterior_version', '?')}, "
              f"cores {info.get('cores', '?')}")
        for name in models:
            b = r["models"].get(name)
            if not b or "seconds" not in b or not b["pars"]:
                print(f"  {name}: no brms result")
                continue
            ess = [p["ess_bulk"] for p in b["pars"].values()]
            print(f"  brms {name}: {b['seconds']:.2f} s to the fit (Stan warmup "
                  f"{b.get('warmup_seconds', float('nan')):.2f} s + sampling "
                  f"{b.get('sample_seconds', float('nan')):.2f} s, summed over chains), "
                  f"divergent {b.get('divergent', float('nan')):.0f}, "
                  f"max Rhat {max(p['rhat'] for p in b['pars'].values()):.3f}, "
                  f"min bulk ESS {min(ess):.0f}, "
                  f"min tail ESS {min(p['ess_tail'] for p in b['pars'].values()):.0f}")

    # ---------------------------------------------------------------- agreement
    zmax: dict[str, float | None] = {name: None for name in models}
    if r is not None:
        print("\nAgreement: z = (ours mean - brms mean) / sqrt(MCSE_ours^2 + MCSE_brms^2)")
        hdr = f"  {'model':<11} {'parameter':<32} {'ours':>11} {'brms':>11} {'MCSE':>9} {'z':>7}"
        print(hdr)
        print("  " + "-" * (len(hdr) - 2))
        for name in models:
            b = r["models"].get(name)
            if not b or not b["pars"]:
                continue
            t, mc = ours[name]["table"], ours[name]["mcse"]
            zs = []
            for p in t.index:
                if p not in b["pars"]:
                    print(f"  {name:<11} {p:<32} {t.loc[p, 'Estimate']:>11.4f} {'-':>11}")
                    continue
                bp = b["pars"][p]
                se = math.sqrt(mc[p] ** 2 + bp["mcse"] ** 2)
                z = (t.loc[p, "Estimate"] - bp["mean"]) / se
                zs.append(abs(z))
                print(f"  {name:<11} {p:<32} {t.loc[p, 'Estimate']:>11.4f} {bp['mean']:>11.4f} "
                      f"{se:>9.4f} {z:>+7.2f}")
            missing = sorted(set(b["pars"]) - set(t.index))
            if missing:
                print(f"  {name}: brms parameters not in ours: {', '.join(missing)}")
            zmax[name] = max(zs) if zs else None

    # ---------------------------------------------------------------- table
    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "FAIL")

    rows = []
    for name in models:
        o = ours[name]
        b = None if r is None else r["models"].get(name)
        if b is not None and ("seconds" not in b or not b["pars"]):
            b = None
        t = o["table"]
        ess_o = float(t["Bulk_ESS"].min())
        ess_b = None if b is None else min(p["ess_bulk"] for p in b["pars"].values())
        ratio = None if b is None else b["seconds"] / o["seconds"]
        rows.append([f"{name}: wall to fit (s)", fmt(o["seconds"], ".2f"),
                     fmt(None if b is None else b["seconds"], ".2f"), fmt(ratio, ".1f"),
                     f"ratio >= {TARGET_RATIO:g}",
                     verdict(None if ratio is None else ratio >= TARGET_RATIO)])
        rows.append([f"{name}: min bulk ESS", fmt(ess_o, ".0f"), fmt(ess_b, ".0f"),
                     fmt(None if ess_b is None else ess_b / ess_o, ".2f"), "ours >= brms",
                     verdict(None if ess_b is None else ess_o >= ess_b)])
        eps_o = ess_o / o["sampling"]
        samp_b = None if b is None else b.get("sample_seconds")
        eps_b = None if (ess_b is None or not samp_b) else ess_b / samp_b
        rows.append([f"{name}: min bulk ESS / s sampling", fmt(eps_o, ".0f"), fmt(eps_b, ".0f"),
                     fmt(None if eps_b is None else eps_b / eps_o, ".2f"), "-", "-"])
        z = zmax[name]
        rows.append([f"{name}: max |z| of means", "-", "-", fmt(z, ".2f"), f"|z| < {TARGET_Z:g}",
                     verdict(None if z is None else z < TARGET_Z)])

    header = ["metric", "ours", "brms", "brms/ours", "target", "result"]
    print_table(header, rows)
    if r is None:
        print("(brms not run: ratios, ESS comparison and agreement not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
