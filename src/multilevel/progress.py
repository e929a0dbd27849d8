"""Progress display shared by the engines: on in a terminal or a notebook, off in pipes and tests."""
from __future__ import annotations

import sys


def show_progress(progress: bool | None) -> bool:
    """``None`` means: show in a terminal or a Jupyter notebook, stay quiet otherwise."""
    if progress is not None:
        return bool(progress)
    return bool(getattr(sys.stderr, "isatty", lambda: False)()) or "ipykernel" in sys.modules


class EvaluationCounter:
    """A tqdm counter of objective evaluations with the current best value (total unknown)."""

    def __init__(self, progress: bool | None, description: str):
        self.bar = None
        if show_progress(progress):
            from tqdm.auto import tqdm

            # shown at once when asked for; by default (a terminal or a notebook) only once a fit has taken a
            # second, so that a fast fit leaves no "0 evals" line behind in a notebook's output
            self.bar = tqdm(desc=description, unit=" evals", leave=False, delay=0.0 if progress else 1.0)
        self.best = float("inf")

    def wrap(self, objective):
        if self.bar is None:
            return objective

        def counted(x, *args, **kwargs):
            value = objective(x, *args, **kwargs)
            self.best = min(self.best, float(value))
            self.bar.update(1)
            self.bar.set_postfix(objective=f"{self.best:.6g}", refresh=False)
            return value

        return counted

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
