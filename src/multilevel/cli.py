"""Command line: ``multilevel fit FORMULA --data NAME_OR_PATH [--ml]`` prints the fit's summary.

Every failure the user can fix (a missing or unreadable file, an unknown data set, a bad option, a
model that cannot be fitted, an ``--out`` that cannot be written) prints ``multilevel: error: ...``
on stderr and exits with status 2, as argparse does for its own usage errors; warnings print as
``multilevel: warning: ...``. Options and the output path are checked before anything is fitted.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from . import datasets
from .errors import ArgumentError, MultilevelError

PROG = "multilevel"
_FILE_SUFFIXES = {".csv", ".parquet", ".pq"}


class CommandLineError(MultilevelError):
    """A problem with the command line's files or options (printed as ``multilevel: error:``)."""


def read_data(source: str) -> tuple[pd.DataFrame, str]:
    """A bundled data set name, or a path to a CSV or Parquet file; :class:`CommandLineError` otherwise."""
    if not source.strip():
        raise CommandLineError("--data is empty: give a bundled data set name or a CSV/Parquet path")
    path = Path(source)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name with a NUL byte, or one too long for the file system
        exists = False
    looks_like_path = path.suffix.lower() in _FILE_SUFFIXES or os.sep in source or "/" in source
    if not exists and not looks_like_path:
        try:
            return datasets.load(source), source
        except KeyError as exc:  # the message names close matches and the available data sets
            raise CommandLineError(exc.args[0]) from None
    if not exists:
        raise CommandLineError(f"data file {source!r} does not exist")
    if path.is_dir():
        raise CommandLineError(f"data file {source!r} is a directory, not a CSV or Parquet file")
    return _read_file(path, source), path.stem


def _read_file(path: Path, source: str) -> pd.DataFrame:
    parquet = path.suffix.lower() in {".parquet", ".pq"}
    if not parquet and _looks_binary(path, source):
        raise CommandLineError(f"data file {source!r} is not a text CSV file (it contains NUL bytes: binary?)")
    try:
        frame = pd.read_parquet(path) if parquet else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise CommandLineError(f"data file {source!r} is empty") from None
    except UnicodeDecodeError:
        raise CommandLineError(f"data file {source!r} is not a text CSV file (is it binary?)") from None
    except ImportError as exc:
        raise CommandLineError(f"reading {source!r} needs a Parquet engine (pip install pyarrow): "
                               f"{_first_line(exc)}") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:  # pyarrow's errors derive from these
        kind = "Parquet" if parquet else "CSV"
        raise CommandLineError(f"data file {source!r} cannot be read as {kind}: {_first_line(exc)}") from None
    if frame.shape[0] == 0:
        raise CommandLineError(f"data file {source!r} has no rows (columns: {', '.join(map(str, frame.columns))})")
    return frame


def _looks_binary(path: Path, source: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"\0" in handle.read(8192)
    except OSError as exc:
        raise CommandLineError(f"data file {source!r} cannot be read: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_output_path(out: str) -> Path:
    """The report's path, checked before the fit: its folder exists and can be written to."""
    if not out.strip():
        raise CommandLineError("--out is empty: give the HTML file to write")
    path = Path(out)
    try:
        is_dir, parent = path.is_dir(), path.parent
        parent_ok = parent.is_dir()
    except (OSError, ValueError) as exc:
        raise CommandLineError(f"--out {out!r} is not a usable path: {_first_line(exc)}") from None
    if is_dir or out.endswith(("/", os.sep)):
        raise CommandLineError(f"--out {out!r} is a directory; give a file name such as report.html")
    if not parent_ok:
        raise CommandLineError(f"--out {out!r}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CommandLineError(f"--out {out!r} cannot be written (permission denied)")
    return path


def _nagq(text: str) -> int:
    """argparse type for --nagq: 0 (lme4's fast fit), 1 (Laplace) or quadrature nodes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (0, 1 or quadrature nodes), not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0, 1 (Laplace) or a number of quadrature nodes, not {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with every usage error (of a subcommand too) as ``multilevel: error: ...``, status 2."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Multilevel (mixed-effects) models.")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a linear mixed model and print its summary")
    fit.add_argument("formula", help='lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--data", required=True, help=f"bundled data set ({', '.join(datasets.names())}) or a CSV/Parquet path")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--family", help="fit a GLMM (glmer) with this family: binomial, poisson, ...")
    fit.add_argument("--nagq", type=_nagq, default=None, help="GLMM: 0, 1 (Laplace, the default) or quadrature nodes")
    report = commands.add_parser("report", help="fit a model and write a self-contained HTML report")
    report.add_argument("formula")
    report.add_argument("--data", required=True, help="bundled data set or a CSV/Parquet path")
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--bayes", action="store_true", help="fit with brm (NUTS) instead of lmer/glmer")
    report.add_argument("--family", help="GLMM or brm family, e.g. binomial, poisson")
    report.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML (lmer)")
    math = commands.add_parser("math", help="print a model's equations as LaTeX (an align* block)")
    math.add_argument("formula")
    math.add_argument("--data", required=True, help="bundled data set or a CSV/Parquet path")
    math.add_argument("--style", choices=["levels", "rethinking", "matrix"], default=None,
                      help="levels (Level 1 / Level 2; the default), rethinking (the default with --bayes) or matrix")
    math.add_argument("--bayes", action="store_true", help="a brm model: its priors (brms's defaults) are shown")
    math.add_argument("--family", help="GLMM or brm family, e.g. binomial, poisson")
    math.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML (lmer, with --numbers)")
    math.add_argument("--numbers", action="store_true", help="fit the model and fill in the estimates")
    commands.add_parser("datasets", help="list the bundled data sets")
    return parser


def _check_options(args) -> None:
    """Options that contradict each other or name an unknown family, before data are read."""
    bayes = getattr(args, "bayes", False)
    nagq = getattr(args, "nagq", None)
    if nagq is not None and (not args.family or _is_gaussian(args.family)):
        raise ArgumentError("--nagq applies to GLMMs only: give a non-gaussian --family as well "
                            "(e.g. --family binomial); gaussian models are fitted by lmer")
    if bayes and args.ml:
        raise ArgumentError("--ml applies to lmer; a --bayes fit has no REML/ML choice")
    if args.family is not None:
        if bayes:
            from .bayes.likelihood import make_likelihood

            make_likelihood(args.family)
        else:
            from .families import get_family

            get_family(args.family)


def _fit(args, data: pd.DataFrame, name: str):
    if getattr(args, "bayes", False):
        from .bayes.fit import brm

        return brm(args.formula, data, family=args.family or "gaussian", data_name=name)
    from .ml import glmer, lmer

    if args.family and not _is_gaussian(args.family):
        nagq = 1 if getattr(args, "nagq", None) is None else args.nagq
        return glmer(args.formula, data, family=args.family, nagq=nagq, data_name=name)
    return lmer(args.formula, data, reml=not args.ml, data_name=name)


def _equations(args, data: pd.DataFrame, name: str):
    """``multilevel math``: the equations from the design alone, or from a fit (``--numbers``, ``--bayes``:
    brm's priors are the fit's)."""
    from .equations import formula_equations

    style = args.style or ("rethinking" if args.bayes else "levels")
    if args.numbers or args.bayes:
        return formula_equations(_fit(args, data, name), style=style, numbers=args.numbers)
    from types import SimpleNamespace

    from .design import build_design
    from .families import get_family

    family = get_family(args.family) if args.family and not _is_gaussian(args.family) else None
    return formula_equations(SimpleNamespace(design=build_design(args.formula, data, family=family),
                                             family=family), style=style)


def _is_gaussian(family: str) -> bool:
    """A gaussian GLMM (identity link) is a linear mixed model: lme4's glmer hands it to lmer too."""
    return family == "gaussian"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 after ``multilevel: error: ...``)."""
    args = build_parser().parse_args(argv)  # usage errors: argparse prints them and exits with 2
    if args.command == "datasets":
        print("\n".join(datasets.names()))
        return 0
    try:
        out = check_output_path(args.out) if args.command == "report" else None
        _check_options(args)
        data, name = read_data(args.data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.command == "math":
                print(_equations(args, data, name).latex)
                return 0
            result = _fit(args, data, name)
    except MultilevelError as exc:
        return _error(exc)
    for w in caught:
        print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    if out is not None:
        from .report import write_report

        try:
            print(f"wrote {write_report(result, out)}")
        except OSError as exc:  # the folder was checked; the disk may still be full or vanish
            return _error(CommandLineError(f"could not write {str(out)!r}: {exc.strerror or exc}"))
        return 0
    print(result.summary())
    return 0


def _error(exc: BaseException) -> int:
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
