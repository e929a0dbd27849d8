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
        out = []
        for left, right in self.lines:
            text = f"{left} {right}"
            text = re.sub(r"\\operatorname\{([^}]*)\}", r"\\mathrm{\1}", text)
            text = re.sub(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", lambda m: "(" + m.group(1).replace(
                r" \\ ", "; ").replace("&", ",") + ")", text)
            text = text.replace(r"\quad", r"\ \ ").replace(r"\left", "").replace(r"\right", "")
            out.append(f"${text}$")
        return out
