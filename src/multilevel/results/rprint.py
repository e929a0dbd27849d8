"""R's number printing for coefficient and anova tables: ``format``, ``format.pval``, ``printCoefmat``.

Kept apart from :mod:`multilevel.results.format` (which the mixed-model summaries use) because
these follow R's stats printing rule for rule, so that ``summary(lm)``, ``summary(glm)`` and
``anova`` tables print digit for digit as R's.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from .format import decimals_for, text_table

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
EPS = np.finfo(float).eps


def _sig_needed(value: float, digits: int) -> int:
    """Significant digits (at most ``digits``) that show ``value`` as R would to ``digits``."""
    text = f"{value:.{digits - 1}e}"
    mantissa = text.split("e")[0].replace("-", "").replace(".", "").rstrip("0")
    return max(1, len(mantissa))


def r_format(values, digits: int = 7) -> list[str]:
    """R's ``format(x, digits=)`` of a numeric vector: common decimals, or common scientific notation
    when that is narrower (R's fixed-versus-scientific rule with ``scipen = 0``). NaN -> "NA"."""
    values = np.asarray(values, dtype=float).ravel()
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ["NA" if np.isnan(v) else str(v) for v in values]
    decimals = decimals_for(finite, digits)
    fixed = [f"{v:.{decimals}f}" for v in finite]
    nonzero = finite[finite != 0]
    sig = max((_sig_needed(v, digits) for v in nonzero), default=1)
    sci = [f"{v:.{sig - 1}e}" for v in finite]
    use_sci = max(map(len, fixed)) > max(map(len, sci))
    out, it = [], iter(sci if use_sci else fixed)
    for v in values:
        out.append(next(it) if np.isfinite(v) else ("NA" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")))
    width = max(map(len, out))
    return [s.rjust(width) for s in out]


def r_signif(value: float, digits: int) -> str:
    """``format(signif(x, digits))``: what summary.lm prints for the residual standard error."""
    if not np.isfinite(value):
        return "NaN" if np.isnan(value) else "Inf"
    rounded = float(f"{value:.{digits}g}")
    return r_format([rounded], 7)[0].strip()


def r_formatC(value: float, digits: int) -> str:
    """R's ``formatC(x, digits=)`` for a number: C's ``%.{digits}g``, right-justified to ``digits + 1``
    characters (why summary.lm prints 'Adjusted R-squared:   0.22')."""
    return f"{value:.{digits}g}".rjust(digits + 1)


def format_pvalues(pvalues, digits: int) -> list[str]:
    """R's ``format.pval(pv, digits, eps = .Machine$double.eps)``: fixed and scientific values each
    formatted together, values below eps as '< 2e-16' (or '<2e-16' where R drops the space)."""
    pv = np.asarray(pvalues, dtype=float).ravel()
    out = [""] * len(pv)
    tiny = pv < EPS
    rest = [i for i in range(len(pv)) if not tiny[i] and np.isfinite(pv[i])]
    if rest:
        expo = [math.floor(math.log10(pv[i])) if pv[i] > 0 else -50 for i in rest]
        is_fixed = [e >= -3 or (e == -4 and digits > 1) for e in expo]  # R 4.2's format.pval rule
        fixed = [i for i, f in zip(rest, is_fixed) if f]
        sci = [i for i, f in zip(rest, is_fixed) if not f]
        for group in (fixed, sci):
            if group:
                for i, text in zip(group, r_format(pv[group], digits)):
                    out[i] = text.strip()
    if tiny.any():
        small = max(1, digits - 2)
        if rest:
            nc = max(len(out[i]) for i in rest)
            if small > 1 and small + 6 > nc:
                small = max(1, nc - 7)
            sep = "" if small == 1 and nc <= 6 else " "
        else:
            sep = "" if small == 1 else " "
        eps_text = f"{EPS:.{small - 1}e}".replace("e-16", "e-16")
        for i in np.flatnonzero(tiny):
            out[i] = f"<{sep}{eps_text}"
    return out


def stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return " "


def zapsmall(values, digits: int) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits - log10(max |x|)`` decimals (R rounds that count to an integer)."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0 or finite.max() == 0:
        return values
    return np.round(values, math.floor(max(0.0, digits - math.log10(finite.max())) + 0.5))


def coefmat_lines(table: pd.DataFrame, *, digits: int, cs: list[int] = (), tst: list[int] = (),
                  zap: list[int] = (), has_p: bool = True, na_print: str = "NA") -> list[str]:
    """R's ``printCoefmat``: estimate-like columns ``cs`` rounded together, test statistics ``tst``,
    ``zap`` columns zapsmall-ed, the last column a p-value with significance stars."""
    xm = np.array(table.to_numpy(dtype=float), copy=True)
    nrow, ncol = xm.shape
    cells = [[""] * ncol for _ in range(nrow)]
    dig_tst = max(1, min(5, digits - 1))
    for j in zap:
        xm[:, j] = zapsmall(xm[:, j], digits)
    if cs:
        block = np.abs(xm[:, list(cs)])
        finite = block[np.isfinite(block) & (block != 0)]
        digmin = 1 + math.floor(math.log10(finite.min())) if finite.size else 1
        rounded = np.round(xm[:, list(cs)], max(1, digits - digmin))
        texts = np.array([t.strip() for t in r_format(rounded.ravel(), digits)]).reshape(rounded.shape)
        for k, j in enumerate(cs):  # estimates and standard errors formatted as one block, as R
            for i in range(nrow):
                cells[i][j] = texts[i, k] if np.isfinite(rounded[i, k]) else na_print
    for j in tst:
        for i, text in enumerate(r_format(np.round(xm[:, j], dig_tst), digits)):
            cells[i][j] = text.strip() if np.isfinite(xm[i, j]) else na_print
    last = ncol - 1 if has_p else ncol
    for j in range(last):
        if j in cs or j in tst:
            continue
        for i, text in enumerate(r_format(xm[:, j], digits)):
            cells[i][j] = text.strip() if np.isfinite(xm[i, j]) else na_print
    header = [""] + [str(c) for c in table.columns]
    if has_p:
        for i, text in enumerate(format_pvalues(xm[:, -1], dig_tst)):
            cells[i][-1] = text if np.isfinite(xm[i, -1]) else na_print
        signif = [stars(p) if np.isfinite(p) else "" for p in xm[:, -1]]
        show_stars = any(s.strip() for s in signif)
    rows = []
    for i, name in enumerate(table.index):
        row = [str(name)] + cells[i]
        if has_p and show_stars:
            row.append(signif[i])
        rows.append(row)
    if has_p and show_stars:
        header.append("")
    align = ["l"] + ["r"] * ncol + (["l"] if has_p and show_stars else [])
    lines = text_table(header, rows, align=align).splitlines()
    if has_p and show_stars:
        lines += ["---", SIGNIF_LEGEND]
    return lines


class RTable(pd.DataFrame):
    """A DataFrame that prints as R's ``print.anova``: heading lines, then the table (digits 5)."""

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return RTable

    def __str__(self) -> str:
        columns = list(self.columns)
        has_p = bool(columns) and columns[-1].startswith("Pr(")
        tst = [j for j, c in enumerate(columns) if c.endswith(" value") or c in ("F", "Chisq")]
        zap = [j for j in range(len(columns) - has_p) if j not in tst and not columns[j].endswith("Df")
               and columns[j] != "npar"]
        lines = list(getattr(self, "heading", None) or [])
        lines += coefmat_lines(self, digits=5, tst=tst, zap=zap, has_p=has_p, na_print="")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        heading = "".join(f"<p>{html.escape(line)}</p>" for line in (getattr(self, "heading", None) or []) if line)
        cells = [[html.escape(str(name))] + ["" if not np.isfinite(v) else html.escape(f"{v:.6g}") for v in row]
                 for name, row in zip(self.index, self.to_numpy(dtype=float))]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [""] + list(self.columns))
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)
        return f'<div>{heading}<table class="multilevel"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
