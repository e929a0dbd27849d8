"""brms's ``prior_summary``: every prior row brms lists, in its order, columns and printed layout.

brms lists class-wide rows (``b``, ``sd``), group-wide rows (``sd`` of Subject) and one row per
coefficient; rows that inherit a prior from a wider row say ``(vectorized)`` as their source, rows
without any prior say ``(flat)``. Correlation priors are class ``L`` (the Cholesky factor brms
samples), and ``lb`` holds the lower bound of scale parameters.
"""
from __future__ import annotations

from html import escape

import pandas as pd

from .model import valid_targets

COLUMNS = ["prior", "class", "coef", "group", "resp", "dpar", "nlpar", "lb", "ub", "source"]
_BRMS_CLASS = {"cor": "L"}
_LOWER_BOUND = {"sd": "0", "sigma": "0", "shape": "0", "phi": "0", "nu": "1", "beta": "0", "zi": "0", "hu": "0",
                "ndt": "0"}
_UPPER_BOUND = {"zi": "1", "hu": "1", "ndt": "min_Y"}
# defaults brms prints symbolically: ndt's bound is the smallest response (our text holds its value)
_SHOWN_DEFAULT = {"ndt": "uniform(0, min_Y)"}


def prior_rows(layout, user_priors) -> list[dict]:
    """One dict per brms row: the prior text, class, coef, group, bounds and source."""
    rows = []
    targets = valid_targets(layout)
    if not layout.b_names:
        targets.pop("b", None)  # brms lists class b only when there are population-level coefficients
    # brms's validate_prior orders the rows by class as R sorts strings (case-insensitively in its
    # locale: b, hu, Intercept, L, nu, sd, sigma, zi), then by group and coef
    extra = []
    if layout.predictors is not None:  # bf(): rows with dpar/nlpar, after the main rows of their class
        from .predictors import prior_rows as predictor_rows

        extra = predictor_rows(layout.predictors, user_priors)
        targets.update({r["class"]: targets.get(r["class"], []) for r in extra})
    order = sorted(targets, key=lambda c: _BRMS_CLASS.get(c, c).lower())
    for class_ in order:
        if class_ not in valid_targets(layout) or (class_ == "b" and not layout.b_names):
            rows += [r for r in extra if r["class"] == class_]
            continue
        entries = targets[class_]
        defaults = [p.text for (c, _, _), p in layout.priors.items() if c == class_ and p.source == "default"]
        default_text = defaults[0] if defaults else ""
        for coef, group in sorted(entries, key=lambda cg: (cg[1] != "", cg[1], cg[0] != "", cg[0])):
            exact = [p for p in user_priors if (p.class_, p.coef, p.group) == (class_, coef, group)]
            wider = [p for p in user_priors if p.matches(class_, coef, group)]
            class_wide = coef == "" and group == ""
            if exact:
                text, source = exact[-1].text, "user"
            elif wider:
                text, source = max(wider, key=lambda p: p.specificity()).text, "(vectorized)"
            else:
                text, source = _SHOWN_DEFAULT.get(class_, default_text), "default" if class_wide else "(vectorized)"
            rows.append({"prior": text or "(flat)", "class": _BRMS_CLASS.get(class_, class_), "coef": coef,
                         "group": group, "resp": "", "dpar": "", "nlpar": "", "lb": _LOWER_BOUND.get(class_, ""),
                         "ub": _UPPER_BOUND.get(class_, ""), "source": source})
        rows += [r for r in extra if r["class"] == class_]
    return rows


class PriorSummary(pd.DataFrame):
    """brms's prior_summary table: a DataFrame that prints as R prints it (right-aligned, no row names)."""

    @property
    def _constructor(self):
        return pd.DataFrame  # slices are plain frames

    def __str__(self) -> str:
        cells = [[str(v) for v in row] for row in self.itertuples(index=False)]
        widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(self.columns)]
        lines = [" ".join(str(c).rjust(w) for c, w in zip(self.columns, widths))]
        lines += [" ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(" " + line for line in lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(str(c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in self.itertuples(index=False))
        return f'<table class="multilevel"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
