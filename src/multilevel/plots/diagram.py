"""Plate diagrams (Bayesian networks) of formula models, drawn with matplotlib.

A :class:`Graph` lists nodes (parameters, observed data shaded, deterministic quantities dashed), plates
(one per grouping factor and one for the observations; a plate inside another where the factors nest)
and edges. :func:`formula_graph` reads it off a fit's design; :func:`draw` lays it out: columns by
the node's depth in the graph (parameters left, the response right), rows by the plate's depth
(population-level nodes on top, the observations at the bottom), and each plate a box around its
nodes and its inner plates, its size in the corner (``j = 1..18``).

Every patch carries a ``gid`` (``plate:<name>``, ``node:<name>``) and the figure a ``multilevel_graph``
attribute, so that tests (and users) can read what was drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import re

import numpy as np

from ..equations.latex import escape


@dataclass(frozen=True)
class Node:
    name: str
    label: str  # mathtext, without the dollars
    kind: str  # "parameter", "observed", "deterministic"
    plate: str | None = None
    position: tuple[float, float] | None = None  # (column, row); None: laid out by rank and plate depth
    caption: str = ""  # a data name under the node (the response's column)


@dataclass(frozen=True)
class Plate:
    name: str
    label: str  # "j = 1..18"
    parent: str | None = None


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    plates: list[Plate] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def plate(self, name: str) -> Plate:
        return next(p for p in self.plates if p.name == name)

    def depth(self, plate: str | None) -> int:
        return 0 if plate is None else 1 + self.depth(self.plate(plate).parent)

    def inside(self, plate: str, outer: str) -> bool:
        """Is ``plate`` (or a plate inside it) within ``outer``?"""
        while plate is not None:
            if plate == outer:
                return True
            plate = self.plate(plate).parent
        return False


def _text(name: str) -> str:
    return r"\mathrm{" + escape(name).replace(" ", r"\ ") + "}"


def formula_graph(fit) -> Graph:
    """The plate diagram of an lmer, glmer or brm fit, from its design.

    Columns from left to right: the fixed effects, one column per grouping factor (outer factors
    first; its scale parameter on top, its effects b in its plate), the predictors, the mean, the
    response (the residual scale on top). Rows: population-level nodes on top, each plate one row
    further down than the plate around it."""
    from ..equations.structure import structure_of

    s = structure_of(fit)
    graph = Graph()
    outer_of = {t.group: t.nested_in for t in s.terms}
    chain = all(sum(1 for u in s.terms if u.nested_in == t.group) <= 1 for t in s.terms) and \
        sum(1 for t in s.terms if t.nested_in is None) == 1
    for term in s.terms:
        graph.plates.append(Plate(term.group, f"{term.group}: {term.index} = 1..{term.n_levels}", outer_of[term.group]))
    innermost = None
    if s.terms and chain:
        innermost = next(t.group for t in s.terms if not any(u.nested_in == t.group for u in s.terms))
    graph.plates.append(Plate("observations", f"i = 1..{fit.design.nobs}", innermost))
    row = graph.depth("observations")
    graph.nodes.append(Node("beta", r"\beta", "parameter", position=(0, 0)))
    graph.edges.append(("beta", "mu"))
    terms = sorted(s.terms, key=lambda t: graph.depth(t.group))  # outer factors first
    for column, term in enumerate(terms, start=1):
        scale = rf"\sigma_{term.index}" if len(term.columns) == 1 else rf"\Sigma_{term.index}"
        graph.nodes.append(Node(f"scale:{term.group}", scale, "parameter", position=(column, 0)))
        graph.nodes.append(Node(f"b:{term.group}", rf"b_{term.index}", "parameter", term.group,
                                position=(column, graph.depth(term.group))))
        graph.edges += [(f"scale:{term.group}", f"b:{term.group}"), (f"b:{term.group}", "mu")]
    column = len(terms) + 1
    if any(c != "(Intercept)" for c in s.fixed):  # below the mean: the way from the group effects stays clear
        graph.nodes.append(Node("x", r"x_i", "observed", "observations", position=(column, row + 0.9)))
        graph.edges.append(("x", "mu"))
    mean = {"binomial": "p", "bernoulli": "p", "poisson": r"\lambda"}.get(s.family, r"\mu")
    graph.nodes.append(Node("mu", mean + "_i", "deterministic", "observations", position=(column, row)))
    graph.nodes.append(Node("y", "y_i", "observed", "observations", position=(column + 1, row),
                            caption=s.response))
    graph.edges.append(("mu", "y"))
    if s.family == "gaussian":
        graph.nodes.append(Node("sigma", r"\sigma", "parameter", position=(column + 1, 0)))
        graph.edges.append(("sigma", "y"))
    if s.trials:
        graph.nodes.append(Node("trials", "n_i", "observed", "observations", position=(column + 1, row + 0.9),
                                caption=s.trials))
        graph.edges.append(("trials", "y"))
    return graph


def ulam_graph(fit) -> Graph:
    """The plate diagram of an ulam model, from its statements: data (shaded) and definitions (dashed)
    per observation in the plate ``i``, parameters indexed by a data column in that column's plate,
    edges from every name an expression uses to what the statement defines or draws."""
    from ..equations.ulam_model import UlamWriter
    from ..rethinking.parse import Index, Name, names_in

    writer = UlamWriter(fit)
    graph = Graph()
    graph.plates.append(Plate("observations", f"i = 1..{fit.graph.nobs}"))
    plate_of: dict[str, str | None] = {}
    for statement in writer.statements:  # parameters indexed in their prior: their column's plate
        index = statement.target.index
        if isinstance(index, Name):
            letter = writer.letter(index.id)
            if index.id not in [p.name for p in graph.plates]:
                levels = len(fit.index_levels.get(index.id, ())) if hasattr(fit, "index_levels") else 0
                levels = levels or int(np.max(fit.graph.data[index.id]))
                graph.plates.append(Plate(index.id, f"{index.id}: {letter} = 1..{levels}"))
            for name in statement.target.names:
                plate_of[name] = index.id
    kinds: dict[str, tuple[str, str | None]] = {}
    for statement in writer.statements:  # what each statement defines or draws
        for target in statement.target.names:
            if writer.is_data(target):
                kinds[target] = ("observed", "observations" if writer.per_row(target) else None)
            elif statement.kind == "<-":
                kinds[target] = ("deterministic", "observations" if writer.per_row(target) else None)
            else:
                kinds.setdefault(target, ("parameter", plate_of.get(target)))
    index_columns = {p.name for p in graph.plates}
    edges = []
    for statement in writer.statements:
        used = names_in(statement.expr)
        if isinstance(statement.target.index, (Name, Index)):
            used -= names_in(statement.target.index)
        for name in sorted(used - index_columns):
            if name not in kinds:
                kinds[name] = ("observed", "observations" if writer.per_row(name) else None) if writer.is_data(name) \
                    else ("parameter", plate_of.get(name))
            for target in statement.target.names:
                if name != target and (name, target) not in edges:
                    edges.append((name, target))
    for name, (kind, plate) in kinds.items():
        if name in plate_of:
            label = writer.symbol(name, writer.letter(plate_of[name]))
        elif kind == "observed":
            label = r"\mathrm{" + escape(name) + "}" + ("_i" if plate else "")
        else:
            label = writer._plain(name) + ("_i" if plate else "")
        graph.nodes.append(Node(name, label, kind, plate))
    graph.edges = edges
    _place_in_rows(graph)
    return graph


def _place_in_rows(graph: Graph) -> None:
    """Rows: population-level nodes, then the index plates side by side, then the observations; within
    a row, nodes by their depth in the graph."""
    ranks = _ranks(graph)
    rows = {None: 0, "observations": 2}
    column = {0: 0.0, 1: 0.0, 2: 0.0}
    placed = []
    plate_order = [None] + [p.name for p in graph.plates if p.name != "observations"] + ["observations"]
    for plate in plate_order:
        row = rows.get(plate, 1)
        members = sorted((n for n in graph.nodes if n.plate == plate), key=lambda n: (ranks[n.name], n.name))
        for node in members:
            placed.append(Node(node.name, node.label, node.kind, node.plate, (column[row], row), node.caption))
            column[row] += 1.0
        if row == 1 and members:
            column[row] += 0.6  # room between two plates
    graph.nodes = placed


def _ranks(graph: Graph) -> dict[str, int]:
    ranks = {n.name: 0 for n in graph.nodes}
    for _ in graph.nodes:  # longest path from a source; graphs here are small and acyclic
        for a, b in graph.edges:
            ranks[b] = max(ranks[b], ranks[a] + 1)
    return ranks


def draw(graph: Graph, ax=None):
    """Draw ``graph``; returns the Figure (``fig.multilevel_graph`` is the graph drawn)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

    ranks = _ranks(graph)
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


def diagram_of(fit, format: str | None = None, ax=None):
    """``fit.diagram()``: the Figure, or its SVG text for ``format="svg"``."""
    from ..options import choice

    fig = draw(ulam_graph(fit) if getattr(fit, "engine", "") == "ulam" else formula_graph(fit), ax=ax)
    if format is None:
        return fig
    choice("format", format, ["svg"])
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()
