"""Command line: ``multilevel fit FORMULA --data NAME_OR_PATH [--ml]`` prints the fit's summary."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from . import datasets
from .errors import MultilevelError


def read_data(source: str) -> tuple[pd.DataFrame, str]:
    """A bundled data set name, or a path to a CSV or Parquet file."""
    path = Path(source)
    if path.suffix.lower() in {".csv", ".parquet", ".pq"} or path.exists():
        if not path.exists():
            raise MultilevelError(f"data file {source!r} does not exist")
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path), path.stem
        return pd.read_csv(path), path.stem
    return datasets.load(source), source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="multilevel", description="Multilevel (mixed-effects) models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a linear mixed model and print its summary")
    fit.add_argument("formula", help='lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--data", required=True, help=f"bundled data set ({', '.join(datasets.names())}) or a CSV/Parquet path")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--family", help="fit a GLMM (glmer) with this family: binomial, poisson, ...")
    fit.add_argument("--nagq", type=int, default=1, help="GLMM: 0, 1 (Laplace) or quadrature nodes")
    report = commands.add_parser("report", help="fit a model and write a self-contained HTML report")
    report.add_argument("formula")
    report.add_argument("--data", required=True, help="bundled data set or a CSV/Parquet path")
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--bayes", action="store_true", help="fit with brm (NUTS) instead of lmer/glmer")
    report.add_argument("--family", help="GLMM or brm family, e.g. binomial, poisson")
    report.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML (lmer)")
    commands.add_parser("datasets", help="list the bundled data sets")
    args = parser.parse_args(argv)
    if args.command == "datasets":
        print("\n".join(datasets.names()))
        return 0
    from .ml import glmer, lmer

    try:
        data, name = read_data(args.data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if getattr(args, "bayes", False):
                from .bayes.fit import brm

                result = brm(args.formula, data, family=args.family or "gaussian", data_name=name)
            elif args.family:
                result = glmer(args.formula, data, family=args.family, nagq=getattr(args, "nagq", 1), data_name=name)
            else:
                result = lmer(args.formula, data, reml=not args.ml, data_name=name)
    except (MultilevelError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.command == "report":
        from .report import write_report

        print(f"wrote {write_report(result, args.out)}")
        return 0
    print(result.summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
