"""Equations as a picture: matplotlib's mathtext, one line per equation, the relations (``=``, ``~``)
aligned in one column as LaTeX's ``align*`` aligns them, labels (``Level 1:``) in a column before.
No TeX installation is needed; the report embeds this picture."""
from __future__ import annotations


def draw_equations(equations, fontsize: float = 12):
    """A Figure of ``equations`` (:class:`multilevel.equations.latex.Equations`), sized to its text."""
    import matplotlib.pyplot as plt

    rows = equations.mathtext_rows()
    dpi = 100
    fig = plt.figure(figsize=(4, 1), dpi=dpi)
    renderer = fig.canvas.get_renderer()

    def extent(text: str) -> tuple[float, float]:
        if not text:
            return 0.0, 0.0
        probe = fig.text(0, 0, text, fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        probe.remove()
        return box.width, box.height

    sizes = [tuple(extent(part) for part in row) for row in rows]
    pad, gap, space = 8.0, 0.55 * fontsize, 0.3 * fontsize
    label_width = max((s[0][0] for s in sizes), default=0.0)
    left_width = max((s[1][0] for s in sizes), default=0.0)
    right_width = max((s[2][0] for s in sizes), default=0.0)
    heights = [max(part[1] for part in size) + gap for size in sizes]
    label_gap = space * 2 if label_width else 0.0
    width = 2 * pad + label_width + label_gap + left_width + space + right_width
    height = 2 * pad + sum(heights)
    fig.set_size_inches(width / dpi, height / dpi)
    y = height - pad
    relation = pad + label_width + label_gap + left_width
    for (label, left, right), row_height in zip(rows, heights):
        middle = (y - row_height / 2) / height
        if label:
            fig.text(pad / width, middle, label, fontsize=fontsize, ha="left", va="center")
        fig.text(relation / width, middle, left, fontsize=fontsize, ha="right", va="center")
        fig.text((relation + space) / width, middle, right, fontsize=fontsize, ha="left", va="center")
        y -= row_height
    return fig
