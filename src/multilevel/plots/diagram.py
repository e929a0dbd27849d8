"""Plate diagrams drawn with matplotlib, from the graphs of :mod:`multilevel.equations.graphs`.

Layout: each node at its (column, row) where the graph gives one, else by its depth in the graph
(parameters left, the response right) and its plate's depth (population-level nodes on top); each plate
a box around its nodes and its inner plates, its size in the corner (``j = 1..18``). Observed nodes are
shaded, deterministic ones dashed; long edges bend over the nodes between.

Every patch carries a ``gid`` (``plate:<name>``, ``node:<name>``, ``edge:<a>-><b>``) and the figure a
``multilevel_graph`` attribute, so that tests (and users) can read what was drawn.
"""
from __future__ import annotations

import re

from ..equations.graphs import Graph, ranks_of


def draw(graph: Graph, ax=None):
    """Draw ``graph``; returns the Figure (``fig.multilevel_graph`` is the graph drawn)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

    ranks = ranks_of(graph)
    # a column holds the nodes of one rank; within it, nodes sit by plate depth (population on top)
    slots: dict[tuple[int, int], int] = {}
    position = {}
    for node in sorted(graph.nodes, key=lambda n: (ranks[n.name], graph.depth(n.plate), n.name)):
        row = graph.depth(node.plate)
        key = (ranks[node.name], row)
        k = slots.get(key, 0)
        slots[key] = k + 1
        column, level = node.position if node.position is not None else (ranks[node.name] + k * 0.5, row)
        position[node.name] = (column * 1.6, -level * 1.5)
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.0 + 1.4 * (max(ranks.values()) + 1), 1.6 + 1.3 * (1 + max(
            graph.depth(p.name) for p in graph.plates))))
    else:
        fig = ax.figure
    radius = 0.38
    boxes = {}
    for plate in sorted(graph.plates, key=lambda p: -graph.depth(p.name)):  # inner plates first
        members = [position[n.name] for n in graph.nodes if n.plate is not None and graph.inside(n.plate, plate.name)]
        inner = [boxes[p.name] for p in graph.plates if p.parent == plate.name and p.name in boxes]
        xs = [x for x, _ in members] or [0.0]
        ys = [y for _, y in members] or [0.0]
        pad = 0.5 + 0.05 * len(inner)
        x0 = min(xs + [b[0] for b in inner]) - pad
        y0 = min(ys + [b[1] for b in inner]) - pad - 0.45  # room for a caption and the plate's label
        x1 = max(xs + [b[2] for b in inner]) + pad
        x1 = max(x1, x0 + 0.11 * len(plate.label) + 0.2)  # the label fits inside
        y1 = max(ys + [b[3] for b in inner]) + pad
        boxes[plate.name] = (x0, y0, x1, y1)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.0, ec="0.3", gid=f"plate:{plate.name}"))
        ax.text(x1 - 0.08, y0 + 0.08, plate.label, ha="right", va="bottom", fontsize=9, color="0.25")
    for node in graph.nodes:
        x, y = position[node.name]
        shaded = node.kind == "observed"
        ax.add_patch(Circle((x, y), radius, fc="0.8" if shaded else "white", ec="black",
                            ls="--" if node.kind == "deterministic" else "-", lw=1.2, zorder=3, gid=f"node:{node.name}"))
        visible = len(re.sub(r"\\[A-Za-z]+|[{}_^$]", "", node.label))  # roughly, the characters shown
        ax.text(x, y, f"${node.label}$", ha="center", va="center", fontsize=11 if visible <= 5 else 8 if visible <= 9
                else 6.5, zorder=4)
        if node.caption:
            ax.text(x, y - radius - 0.05, node.caption, ha="center", va="top", fontsize=7, color="0.2", zorder=4)
    for a, b in graph.edges:  # from circle edge to circle edge
        (xa, ya), (xb, yb) = position[a], position[b]
        length = max(((xb - xa) ** 2 + (yb - ya) ** 2) ** 0.5, 1e-9)
        ux, uy = (xb - xa) / length, (yb - ya) / length
        long = abs(xb - xa) > 1.7  # past another column: bend it over the nodes in between
        ax.add_patch(FancyArrowPatch((xa + radius * ux, ya + radius * uy), (xb - radius * ux, yb - radius * uy),
                                     arrowstyle="-|>", mutation_scale=12, lw=1.0, shrinkA=0, shrinkB=0, zorder=2,
                                     connectionstyle=f"arc3,rad={-0.3 if long else 0.0}", gid=f"edge:{a}->{b}"))
    every = list(boxes.values()) + [(x - radius, y - radius, x + radius, y + radius) for x, y in position.values()]
    ax.set_xlim(min(b[0] for b in every) - 0.3, max(b[2] for b in every) + 0.3)
    ax.set_ylim(min(b[1] for b in every) - 0.3, max(b[3] for b in every) + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.multilevel_graph = graph
    return fig


def show(graph: Graph, format: str | None = None, ax=None):
    """The drawn Figure, or its SVG text for ``format="svg"``."""
    from ..options import choice

    fig = draw(graph, ax=ax)
    if format is None:
        return fig
    choice("format", format, ["svg"])
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()
