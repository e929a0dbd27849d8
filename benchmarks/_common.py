"""What the side-by-side benchmark scripts share: importing the package, running an R script, formatting."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DATA_DIR = SRC / "multilevel" / "datasets" / "data"


def import_multilevel():
    """The installed package, or the source tree when it is not installed."""
    try:
        import multilevel as ml
    except ImportError:
        sys.path.insert(0, str(SRC))
        import multilevel as ml
    return ml


def run_rscript(script: Path, args: list[str], label: str, timeout: float) -> str | None:
    """Run ``Rscript --vanilla script args``; its stdout, or None with a note when R (or ``label``,
    which the script reports with exit code 3) is missing or the run fails."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print(f"  Rscript not found: skipping {label}.")
        return None
    try:
        proc = subprocess.run([rscript, "--vanilla", str(script), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        print(f"  {label} run timed out: skipping {label}.")
        return None
    except OSError as exc:
        print(f"  could not run Rscript ({exc}): skipping {label}.")
        return None
    if proc.returncode == 3:
        print(f"  {proc.stderr.strip() or label + ' is not installed in R'}: skipping {label}.")
        return None
    if proc.returncode != 0:
        print(f"  {label} run failed (rc={proc.returncode}): skipping {label}.\n{proc.stderr[-2000:]}")
        return None
    return proc.stdout


def key_values(text: str, text_keys: tuple[str, ...] = ()) -> dict[str, list]:
    """Lines ``key value`` -> {key: [values]}; values are numbers unless the key ends with ``text_keys``."""
    out: dict[str, list] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) != 2:
            continue
        key, value = parts
        if key.endswith(text_keys) if text_keys else False:
            parsed: object = value.strip()
        else:
            try:
                parsed = float(value)
            except ValueError:
                parsed = value.strip()
        out.setdefault(key, []).append(parsed)
    return out


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def print_table(header: list[str], rows: list[list]) -> None:
    """A results table: first column left-aligned, the others right-aligned, after a blank line."""
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
