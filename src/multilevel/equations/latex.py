"""Small LaTeX pieces: data names as text (escaped: user text never reaches LaTeX as markup), Greek
letters, numbers, vectors, and the :class:`Equations` object a fit's ``math()`` returns."""
from __future__ import annotations

import html
import re

_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "#": r"\#",
            "$": r"\$", "%": r"\%", "&": r"\&", "~": r"\~{}"}


def escape(text: str) -> str:
    """``text`` safe inside ``\\text{...}``: LaTeX's special characters escaped, nothing else."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def name(text: str) -> str:
    """A data name (column, level, grouping factor) as upright text."""
    return rf"\text{{{escape(text)}}}"


def number(value: float, digits: int = 3) -> str:
    """An estimate as LaTeX: 3 significant digits by default, a true minus sign."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def column_vector(entries: list[str]) -> str:
    return r"\begin{bmatrix} " + r" \\ ".join(entries) + r" \end{bmatrix}"


def matrix(rows: list[list[str]]) -> str:
    return r"\begin{bmatrix} " + r" \\ ".join(" & ".join(row) for row in rows) + r" \end{bmatrix}"


class Equations:
    """A model written as mathematics: ``.latex`` (an ``align*`` block), ``.lines`` (one
    ``(left, right)`` pair per equation, joined by ``&`` in the block), ``str()`` the LaTeX, and
    ``_repr_latex_``/``_repr_markdown_`` for Jupyter."""

    def __init__(self, lines: list[tuple[str, str]], style: str, notes: list[str] | None = None):
        self.lines = list(lines)
        self.style = style
        self.notes = list(notes or [])

    @property
    def latex(self) -> str:
        body = " \\\\\n".join(f"{left} &{right}" for left, right in self.lines)
        return "\\begin{align*}\n" + body + "\n\\end{align*}"

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex}\n$$"

    def _repr_markdown_(self) -> str:
        notes = "".join(f"\n\n{html.escape(note)}" for note in self.notes)
        return f"$$\n{self.latex}\n$$" + notes

    def __str__(self) -> str:
        return self.latex

    def __repr__(self) -> str:
        return self.latex

    def mathtext_lines(self) -> list[str]:
        """Each equation as matplotlib mathtext (no ``align``): what a test or a figure can render."""
        return [f"${to_mathtext(left)} {to_mathtext(right)}$" for left, right in self.lines]

    def mathtext_rows(self) -> list[tuple[str, str, str]]:
        """Each equation as (label, left side, relation and right side) in mathtext, for a picture that
        aligns the relations as ``align*`` does: the label is a leading ``\\text{Level 1:}\\quad``."""
        rows = []
        for left, right in self.lines:
            label, quad, rest = left.partition(r"\quad")
            if not quad:
                label, rest = "", left
            rows.append((f"${to_mathtext(label.strip())}$" if label.strip() else "", f"${to_mathtext(rest.strip())}$",
                         f"${to_mathtext(right.strip())}$"))
        return rows

    def figure(self, fontsize: float = 12):
        """The equations as a matplotlib Figure, the relations aligned (mathtext: no TeX needed)."""
        from ..plots.equations import draw_equations

        return draw_equations(self, fontsize=fontsize)


def to_mathtext(text: str) -> str:
    """LaTeX of ours as matplotlib mathtext: ``\\operatorname`` as ``\\mathrm``, each ``bmatrix`` as
    bracketed stacks (mathtext has no arrays: each column a stack of ``\\genfrac`` without a bar)."""
    text = re.sub(r"\\operatorname\{([^}]*)\}", r"\\mathrm{\1}", text)
    text = re.sub(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", lambda m: _stacked(m.group(1)), text)
    return text.replace(r"\quad", r"\ \ ")


def _stacked(body: str) -> str:
    rows = [[cell.strip() for cell in row.split("&")] for row in body.split(r" \\ ")]
    width = max(len(row) for row in rows)
    columns = [[row[c] if c < len(row) else "" for row in rows] for c in range(width)]

    def stack(entries):
        if len(entries) == 1:
            return "{" + entries[0] + "}"
        return r"\genfrac{}{}{0}{0}{" + entries[0] + "}{" + stack(entries[1:]) + "}"

    return r"\left[" + r"\ ".join(stack(column) for column in columns) + r"\right]"
