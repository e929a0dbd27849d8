"""Number formatting and text/HTML tables in the style R users read every day."""
from __future__ import annotations

import html
import math

import numpy as np


def decimals_for(values, digits: int) -> int:
    """Decimals R's ``format(x, digits=)`` uses: enough for every value to show ``digits`` significant."""
    best = 0
    for v in np.asarray(values, dtype=float).ravel():
        if not np.isfinite(v) or v == 0:
            continue
        needed = digits - 1 - math.floor(math.log10(abs(v)))
        text = f"{v:.{max(needed, 0)}f}".rstrip("0")
        actual = len(text.split(".")[1]) if "." in text else 0
        best = max(best, min(actual, 15))
    return best


def format_column(values, digits: int) -> list[str]:
    dec = decimals_for(values, digits)
    return ["" if not np.isfinite(v) else f"{v:.{dec}f}" for v in np.asarray(values, dtype=float)]


def format_fixed(values, decimals: int) -> list[str]:
    return ["" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in np.asarray(values, dtype=float)]


def coefficient_decimals(estimates, std_errors) -> int:
    """Decimals printCoefmat uses for estimates and standard errors: 6 minus the digits before the
    point of the largest of them (at least 1)."""
    values = np.abs(np.concatenate([np.asarray(estimates, float), np.asarray(std_errors, float)]))
    finite = values[np.isfinite(values) & (values != 0)]
    digmin = 1 + int(np.floor(np.log10(finite.max()))) if finite.size else 1
    return max(1, 6 - digmin)


def format_pvalue(p: float, digits: int = 4) -> str:
    """R's format.pval: ``digits`` significant digits; tiny values as '<2e-16'."""
    if not np.isfinite(p):
        return ""
    if p < 2.2e-16:
        return "<2e-16"
    if p < 1e-4:
        return f"{p:.{digits - 1}e}"
    return f"{p:.{digits}g}"


def significance_stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return ""


def abbreviate(name: str, minlength: int = 6) -> str:
    """R's ``abbreviate()``: drop lower-case vowels from the right, then lower-case letters."""
    if len(name) <= minlength:
        return name
    chars = list(name)
    for predicate in (lambda c: c in "aeiou", lambda c: c.islower()):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if predicate(chars[i]) and chars[i - 1] != " ":
                del chars[i]
            i -= 1
    return "".join(chars[: max(minlength, 1)]) if len(chars) > minlength else "".join(chars)


def text_table(header: list[str], rows: list[list[str]], align: list[str] | None = None, indent: str = "",
               gap: str = " ") -> str:
    """Columns padded to their widest cell; ``align`` holds 'l' or 'r' per column."""
    columns = list(zip(header, *rows)) if rows else [(h,) for h in header]
    widths = [max(len(c) for c in col) for col in columns]
    align = align or ["l"] + ["r"] * (len(header) - 1)
    lines = []
    for row in [header] + rows:
        cells = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        lines.append(indent + gap.join(cells))
    return "\n".join(line.rstrip() for line in lines)


def html_table(header: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    """A table with every cell escaped: names come from the user's data (columns, levels, groups)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{html.escape(str(caption))}</caption>" if caption else ""
    return f'<table class="multilevel">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_messages(messages) -> list[str]:
    """Warnings and notes as HTML paragraphs, escaped (they quote column names and formulas)."""
    return [f"<p><i>{html.escape(str(m))}</i></p>" for m in messages]
