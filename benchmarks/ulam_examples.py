"""Wall time of the lecture models in rethinking's notation, JIT included, 4 chains x 1000 draws.

Run from the repository root with the package installed::

    python benchmarks/ulam_examples.py           # all models
    python benchmarks/ulam_examples.py --quick   # 2 chains x 300 draws

The engine (JAX) is loaded before timing, as R loads rethinking and Stan before ``ulam``. Target:
the tadpole partial-pooling model under 5 s on the 2-core dev machine (brms needs ~40 s).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import multilevel as ml  # noqa: E402
from multilevel.rethinking.fit import ulam  # noqa: E402  (loads JAX: not timed)
from test_ulam import (  # noqa: E402
    BANGLADESH_NONCENTERED, BANGLADESH_SLOPES, BANGLADESH_VECTOR, CAFES, COMPLETE, GAPMINDER_CORRELATED,
    NO_POOLING, PARTIAL, bangladesh, cafes, frogs, gapminder,
)

MODELS = {
    "tadpoles partial pooling": (PARTIAL, frogs),
    "tadpoles no pooling": (NO_POOLING, frogs),
    "tadpoles complete pooling": (COMPLETE, frogs),
    "bangladesh vector[60]:a": (BANGLADESH_VECTOR, bangladesh),
    "bangladesh non-centered save>": (BANGLADESH_NONCENTERED, bangladesh),
    "bangladesh varying slopes": (BANGLADESH_SLOPES, bangladesh),
    "gapminder correlated intercepts/slopes": (GAPMINDER_CORRELATED, gapminder),
    "cafes multi_normal + lkj_corr(2)": (CAFES, cafes),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    settings = dict(chains=2, draws=300, warmup=300) if args.quick else dict(chains=4, draws=1000, warmup=1000)
    rows = []
    for name, (model, make_data) in MODELS.items():
        data = make_data()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ulam(model, data, seed=1, **settings)
        seconds = time.perf_counter() - start
        table = ml.precis(fit, depth=3)
        rows.append((name, seconds, int(np.nanmin(table["n_eff"])), float(np.nanmax(table["Rhat"]))))
    print(f"{'model':42s} {'seconds':>8s} {'min n_eff':>10s} {'max Rhat':>9s}")
    for name, seconds, n_eff, rhat in rows:
        print(f"{name:42s} {seconds:8.2f} {n_eff:10d} {rhat:9.3f}")
    tadpole = rows[0][1]
    verdict = "PASS" if tadpole < 5.0 else "FAIL"
    print(f"\ntadpoles partial pooling: {tadpole:.2f} s (target < 5 s) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
