"""The graphs behind plate diagrams (Bayesian networks), read off a fit: :func:`formula_graph` from an
lmer, glmer or brm fit's design, :func:`ulam_graph` from an ulam model's statements. A :class:`Graph`
lists nodes (parameters, observed data, deterministic quantities), plates (one per grouping factor or
index column and one for the observations; a plate inside another where factors nest) and edges, each
node with its place (column, row) where the model's shape decides it. :mod:`multilevel.plots.diagram`
draws them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .latex import escape


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


def formula_graph(fit) -> Graph:
    """The plate diagram of an lmer, glmer or brm fit, from its design.

    Columns from left to right: the fixed effects, one column per grouping factor (outer factors
    first; its scale parameter on top, its effects b in its plate), the predictors, the mean, the
    response (the residual scale on top). Rows: population-level nodes on top, each plate one row
    further down than the plate around it."""
    from .structure import structure_of

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
    from ..rethinking.parse import Index, Name, names_in
    from .ulam_model import UlamWriter

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
    ranks = ranks_of(graph)
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


def ranks_of(graph: Graph) -> dict[str, int]:
    ranks = {n.name: 0 for n in graph.nodes}
    for _ in graph.nodes:  # longest path from a source; graphs here are small and acyclic
        for a, b in graph.edges:
            ranks[b] = max(ranks[b], ranks[a] + 1)
    return ranks


