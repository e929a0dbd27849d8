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


RADIUS = 0.38  # of a node, in the diagram's units (a column is 1.6 wide, a row 1.5 high)


def draw(graph: Graph, ax=None):
    """Draw ``graph``; returns the Figure (``fig.multilevel_graph`` is the graph drawn)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

    position = _positions(graph)
    boxes = _plate_boxes(graph, position)
    every = list(boxes.values()) + [(x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS) for x, y in position.values()]
    x0, x1 = min(b[0] for b in every) - 0.3, max(b[2] for b in every) + 0.3
    y0, y1 = min(b[1] for b in every) - 0.3, max(b[3] for b in every) + 0.3
    if ax is None:
        fig = plt.figure(figsize=(0.8 * (x1 - x0), 0.8 * (y1 - y0)))  # a unit is 0.8 inch: the labels' sizes hold
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    else:
        fig = ax.figure
    bends = {(a, b): _clear_bend(position[a], position[b], [p for n, p in position.items() if n not in (a, b)])
             for a, b in graph.edges}
    paths = [list(_bezier(position[a], position[b], bend)) for (a, b), bend in bends.items()]
    taken: list = []  # label boxes already placed
    for plate in graph.plates:
        bx0, by0, bx1, by1 = boxes[plate.name]
        ax.add_patch(Rectangle((bx0, by0), bx1 - bx0, by1 - by0, fill=False, lw=1.0, ec="0.3", gid=f"plate:{plate.name}"))
        x, y, ha, va = _label_corner(plate, boxes[plate.name], paths, position, taken)
        ax.text(x, y, plate.label, ha=ha, va=va, fontsize=9, color="0.25", gid=f"label:{plate.name}")
    for node in graph.nodes:
        x, y = position[node.name]
        shaded = node.kind == "observed"
        ax.add_patch(Circle((x, y), RADIUS, fc="0.8" if shaded else "white", ec="black",
                            ls="--" if node.kind == "deterministic" else "-", lw=1.2, zorder=3, gid=f"node:{node.name}"))
        visible = len(re.sub(r"\\[A-Za-z]+|[{}_^$]", "", node.label))  # roughly, the characters shown
        ax.text(x, y, f"${node.label}$", ha="center", va="center", fontsize=11 if visible <= 5 else 8 if visible <= 9
                else 6.5, zorder=4)
        if node.caption:
            ax.text(x, y - RADIUS - 0.05, node.caption, ha="center", va="top", fontsize=7, color="0.2", zorder=4)
    for a, b in graph.edges:  # from circle edge to circle edge, bent where a straight line would cross a node
        (xa, ya), (xb, yb) = position[a], position[b]
        bend = bends[a, b]
        length = max(((xb - xa) ** 2 + (yb - ya) ** 2) ** 0.5, 1e-9)
        ux, uy = (xb - xa) / length, (yb - ya) / length
        ax.add_patch(FancyArrowPatch((xa + RADIUS * ux, ya + RADIUS * uy), (xb - RADIUS * ux, yb - RADIUS * uy),
                                     arrowstyle="-|>", mutation_scale=12, lw=1.0, shrinkA=0, shrinkB=0, zorder=2,
                                     connectionstyle=f"arc3,rad={bend}", gid=f"edge:{a}->{b}"))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.multilevel_graph = graph
    return fig


def _positions(graph: Graph) -> dict:
    """Each node's (x, y): its (column, row) where the graph gives one, else by its rank in the graph."""
    ranks = ranks_of(graph)
    slots: dict[tuple[int, int], int] = {}
    position = {}
    for node in sorted(graph.nodes, key=lambda n: (ranks[n.name], graph.depth(n.plate), n.name)):
        row = graph.depth(node.plate)
        key = (ranks[node.name], row)
        k = slots.get(key, 0)
        slots[key] = k + 1
        column, level = node.position if node.position is not None else (ranks[node.name] + k * 0.5, row)
        position[node.name] = (column * 1.6, -level * 1.5)
    return position


def _plate_boxes(graph: Graph, position: dict) -> dict:
    """(x0, y0, x1, y1) of each plate: around its nodes, its inner plates and the plates it covers."""
    boxes: dict = {}
    pending = list(graph.plates)
    while pending:  # a plate once the plates inside it and those it covers have their boxes
        ready = [p for p in pending if all(q.name in boxes for q in graph.plates if q.parent == p.name)
                 and all(c in boxes for c in p.covers)]
        if not ready:  # a cycle cannot come from our graphs; draw what is left as it stands
            ready = pending[:1]
        for plate in ready:
            pending.remove(plate)
            members = [position[n.name] for n in graph.nodes if n.plate is not None and graph.inside(n.plate, plate.name)]
            inner = [boxes[p.name] for p in graph.plates if p.parent == plate.name and p.name in boxes]
            inner += [boxes[c] for c in plate.covers if c in boxes]
            xs = [x for x, _ in members] or [0.0]
            ys = [y for _, y in members] or [0.0]
            pad = 0.5 + 0.05 * len(inner)
            x0 = min(xs + [b[0] for b in inner]) - pad
            y0 = min(ys + [b[1] for b in inner]) - pad - 0.45  # room for a caption and the plate's label
            x1 = max(xs + [b[2] for b in inner]) + pad
            x1 = max(x1, x0 + 0.11 * len(plate.label) + 0.2)  # the label fits inside
            y1 = max(ys + [b[3] for b in inner]) + pad
            boxes[plate.name] = (x0, y0, x1, y1)
    return boxes


def _label_corner(plate, box, paths, position, taken):
    """Where a plate's size goes: the first inside corner (bottom right, bottom left, top right, top left;
    a crossed plate's bottom left first) whose text no edge, node or other label crosses."""
    x0, y0, x1, y1 = box
    width, height = 0.095 * len(plate.label) + 0.1, 0.25
    corners = [(x1 - 0.08, y0 + 0.08, "right", "bottom"), (x0 + 0.08, y0 + 0.08, "left", "bottom"),
               (x1 - 0.08, y1 - 0.08, "right", "top"), (x0 + 0.08, y1 - 0.08, "left", "top")]
    if plate.covers:
        corners[0], corners[1] = corners[1], corners[0]

    def area(corner):
        x, y, ha, va = corner
        left = x - width if ha == "right" else x
        bottom = y if va == "bottom" else y - height
        return left, bottom, left + width, bottom + height

    def crowded(rect):
        left, bottom, right, top = rect
        points = [p for path in paths for p in path] + list(position.values())
        near = [(px, py) for px, py in points if left - 0.05 < px < right + 0.05 and bottom - 0.05 < py < top + 0.05]
        circles = [c for c in position.values() if left - RADIUS < c[0] < right + RADIUS and bottom - RADIUS < c[1]
                   < top + RADIUS]
        overlaps = [t for t in taken if t[0] < right and left < t[2] and t[1] < top and bottom < t[3]]
        return len(near) + len(circles) + 2 * len(overlaps)

    scored = [(crowded(area(c)), k) for k, c in enumerate(corners)]
    best = min(scored)[1]
    taken.append(area(corners[best]))
    return corners[best]


def _bezier(start, end, rad: float, steps: int = 24):
    """Points of matplotlib's ``arc3`` connection (a quadratic Bezier curve) from ``start`` to ``end``."""
    (x1, y1), (x2, y2) = start, end
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    for k in range(1, steps):
        t = k / steps
        yield ((1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t * t * x2,
               (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t * t * y2)


def _clear_bend(start, end, others, margin: float = 0.12) -> float:
    """The smallest bend (``arc3`` rad) whose curve keeps clear of the other nodes: straight if it can,
    else the first of +-0.15, +-0.3, ... that clears; the least crowded one if none does."""
    def hits(rad):
        return sum(1 for px, py in _bezier(start, end, rad) for ox, oy in others
                   if (px - ox) ** 2 + (py - oy) ** 2 < (RADIUS + margin) ** 2)

    best = None
    for rad in (0.0, -0.15, 0.15, -0.3, 0.3, -0.45, 0.45, -0.6, 0.6):
        count = hits(rad)
        if count == 0:
            return rad
        if best is None or count < best[0]:
            best = (count, rad)
    return best[1]


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
