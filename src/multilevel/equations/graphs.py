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
    covers: tuple[str, ...] = ()  # plates it overlaps without holding (a crossed factor covers the observations)


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
    """The plate diagram of an lmer, glmer or brm fit, from its design, in the symbols of its equations
    in the rethinking dialect (``fit.math("rethinking")``): ``alpha_j``, ``beta_{Days,j}`` varying by
    the grouping factor with their means and scales above (``alpha-bar``, ``sigma_alpha``, ``R``); with
    several grouping factors ``u^{g}_j`` around 0 and ``sigma_g``; the fixed coefficients, the predictors,
    the mean and the response as in the equations.

    Plates: one per grouping factor and one for the observations. Nested factors are nested plates
    (the observations inside the innermost). A factor crossed with them is a plate that overlaps the
    others: it covers the observations' plate but not the other factors' effects (drawn below them;
    a third crossed factor to the left)."""
    from ..results.protocol import MissingCapability
    from .structure import structure_of

    structure = structure_of(fit)
    if structure.categorical:
        raise MissingCapability("diagram() does not draw categorical models yet (one linear predictor per category)")
    return _FormulaLayout(structure, fit.design.nobs).graph


class _FormulaLayout:
    """Places the nodes of a formula model: columns left to right (the grouping factors' effects, the
    mean and the response), rows top down (population-level parameters, each nested plate one row
    deeper, the observations; a crossed factor's effects below the observations or left of them)."""

    def __init__(self, s, nobs: int):
        from .latex import name
        from .styles import DISTRIBUTIONS, _offset, parameter_symbol

        self.s, self.graph = s, Graph()
        single = len(s.terms) == 1
        children = {t.group: [u for u in s.terms if u.nested_in == t.group] for t in s.terms}

        def chain_from(term):
            chain = [term]
            while len(children[chain[-1].group]) == 1:
                chain.append(children[chain[-1].group][0])
            return chain

        chains = [chain_from(t) for t in s.terms if t.nested_in is None]
        chains.sort(key=len, reverse=True)
        main = chains[0] if chains else []
        placed = {t.group for chain in chains for t in chain}
        crossed = chains[1:] + [[t] for t in s.terms if t.group not in placed]  # branching nests: alongside
        depth = len(main)
        observed_row = depth + 1
        predictors = self._predictors()
        lower = observed_row + (0.95 if predictors or s.trials or s.offsets else 0.0)
        for term in main:
            self.graph.plates.append(Plate(term.group, self._plate_label(term), term.nested_in))
        self.graph.plates.append(Plate("observations", f"i = 1..{nobs}", main[-1].group if main else None))
        column = 0.0
        fixed_alone = [c for c in s.fixed if not (single and c in s.terms[0].columns)]
        if fixed_alone:  # the coefficients that do not vary: one node each, or one for many
            if len(fixed_alone) <= 2:
                for c in fixed_alone:
                    self._node(f"beta:{c}", self._coefficient(c), "parameter", None, (column, 0), edge_to="mu")
                    column += 1.0
            else:
                self._node("beta", r"\beta", "parameter", None, (column, 0), edge_to="mu",
                           caption=f"{len(fixed_alone)} coefficients")
                column += 1.0
        for d, term in enumerate(main, start=1):
            column = self._term(term, column, d, single, above=True)
        mean_column = max(column, (len(predictors) - 1) / 2 + 0.3 * bool(column))
        for k, chain in enumerate(crossed):
            where = "below" if k % 2 == 0 else "left"
            for d, term in enumerate(chain):
                parent = chain[d - 1].group if d else None
                covers = ("observations",) if d == len(chain) - 1 else ()
                self.graph.plates.append(Plate(term.group, self._plate_label(term), parent, covers))
            if where == "below":  # under the observations and the nested plates around them
                row = lower + 1.1 + 0.65 * depth + 1.5 * (k // 2) * (len(chain) + 1)
                for d, term in enumerate(reversed(chain)):  # innermost nearest the observations
                    self._term(term, 0.0, row + len(chain) - 1 - d, single, above=False, scale_row=row + len(chain))
            else:  # left of the nested plates, in the observations' row
                c = -1.2 - 0.4 * depth - 2.2 * (k // 2)
                for d, term in enumerate(reversed(chain)):
                    self._term(term, c - 1.3 * d, observed_row, single, above=False, scale_column=c - 1.3 * len(chain))
        mean = r"\phi" if s.thresholds else DISTRIBUTIONS.get(s.family, (s.family, r"\mu"))[1]
        self._node("mu", mean + "_i", "deterministic", "observations", (mean_column, observed_row))
        self._node("y", _data_label(s.response, "y"), "observed", "observations", (mean_column + 1, observed_row),
                   caption=_caption(s.response))
        self.graph.edges.append(("mu", "y"))
        predicted = {m.name for m in s.submodels if m.kind == "dpar"}
        constants = [q for q in (s.family_params or (("sigma",) if s.family == "gaussian" else ())) if q not in predicted]
        constants += ["kappa"] if s.thresholds else []
        for k, q in enumerate(constants):  # the family's other parameters (sigma, shape, zi; thresholds kappa)
            label = r"\kappa" if q == "kappa" else parameter_symbol(q)
            self._node("sigma" if q == "sigma" else f"family:{q}", label, "parameter", None,
                       (mean_column + 1 + k, 0), edge_to="y")
        if len(predictors) > 3:
            self._node("x", r"\mathbf{x}_i", "observed", "observations", (mean_column, lower), edge_to="mu",
                       caption=f"{len(predictors)} predictors")
        else:
            first = mean_column - (len(predictors) - 1) / 2 - (0.5 if s.offsets else 0.0)
            for k, column_name in enumerate(predictors):
                self._node("x" if len(predictors) == 1 else f"x:{column_name}", _data_label(column_name), "observed",
                           "observations", (first + k, lower), edge_to="mu", caption=_caption(column_name))
        for k, offset in enumerate(s.offsets):
            self._node(f"offset:{offset}", _offset(offset, "i"), "observed", "observations",
                       (mean_column + 0.5 * bool(predictors) + k, lower), edge_to="mu")
        if s.trials:
            self._node("trials", _data_label(s.trials, "n"), "observed", "observations", (mean_column + 1, lower),
                       edge_to="y", caption=_caption(s.trials))
        for k, model in enumerate(s.submodels):  # bf(): sigma_i or a_i, per observation, with its coefficients
            symbol = parameter_symbol(model.name) if model.kind == "dpar" else name(model.name)
            where = (mean_column + 1 + k + 0.6, lower + 0.2) if model.kind == "dpar" else \
                (mean_column - 1 - k, observed_row)
            key = f"{model.kind}:{model.name}"
            self._node(key, rf"{symbol}_i", "deterministic", "observations", where,
                       edge_to="y" if model.kind == "dpar" else "mu")
            if model.fixed:
                free = not any(n.position and n.position[1] == 0 and abs(n.position[0] - where[0]) < 0.7
                               for n in self.graph.nodes)
                coefficients = [c for c in model.fixed if c != "Intercept"] + ["Intercept"] * ("Intercept" in model.fixed)
                self._node(f"{key}:beta", rf"\beta^{{{symbol}}}", "parameter", None, (where[0], 0 if free else -0.9),
                           edge_to=key, caption=f"{len(coefficients)} coefficients" if len(coefficients) > 2 else "")
            for k_var, variable in enumerate(model.variables):  # its data: the main formula's nodes, or new ones
                node = next((n.name for n in self.graph.nodes if n.kind == "observed" and n.name in (
                    "x", f"x:{variable}") and (n.name != "x" or predictors == [variable])), None)
                if node is None:
                    node = f"x:{key}:{variable}"
                    self._node(node, _data_label(variable), "observed", "observations",
                               (where[0] + (0.0 if model.kind == "nlpar" else 0.8), where[1] + 0.95 + 0.9 * k_var),
                               caption=_caption(variable))
                self.graph.edges.append((node, key))
            for term in model.terms:
                if any(p.name == term.group for p in self.graph.plates):
                    self._node(f"{key}:u:{term.group}", rf"u^{{{symbol}}}_{{{term.index}}}", "parameter", term.group,
                               (where[0] + 0.7, self.graph.depth(term.group)), edge_to=key)

    def _plate_label(self, term) -> str:
        return f"{term.group}: {term.index} = 1..{term.n_levels}"

    def _node(self, key, label, kind, plate, position, edge_to=None, caption=""):
        self.graph.nodes.append(Node(key, label, kind, plate, position, caption))
        if edge_to is not None:
            self.graph.edges.append((key, edge_to))

    def _coefficient(self, column: str) -> str:
        from .styles import _greek

        return _greek(column)

    def _predictors(self) -> list[str]:
        """The data variables in the linear model: those of the fixed part (a factor once, not per dummy
        column), then the pieces of varying columns that have no fixed effect."""
        s = self.s
        seen = list(s.variables)
        fixed_pieces = {piece for c in s.fixed for piece in c.split(":")}
        for column in (c for t in s.terms for c in t.columns if c not in s.fixed):
            for piece in column.split(":"):
                if piece != "(Intercept)" and piece not in fixed_pieces and piece not in seen:
                    seen.append(piece)
        return seen

    def _term(self, term, column: float, row: float, single: bool, above: bool, scale_row: float | None = None,
              scale_column: float | None = None) -> float:
        """The effects of one grouping factor in its plate, with their means (one grouping factor) and scales:
        above the plate (``above``), else at ``scale_row`` (below) or ``scale_column`` (left)."""
        from .styles import varying_symbols

        g = term.group
        effects = []
        shared = term.structure in ("homdiag", "ar1") and len(term.columns) > 1
        symbols, means, scales, _, r_matrix = varying_symbols(term, set(self.s.fixed), single)
        for c, symbol, mean, scale in zip(term.columns, symbols, means, scales):
            key = f"b:{g}" if len(term.columns) == 1 else f"b:{g}:{c}"
            width = 1.3 if mean is not None else 1.0
            x = column + (width - 1.0) / 2
            if scale_column is not None:
                x = column
            self._node(key, symbol, "parameter", g, (x, row), edge_to="mu")
            effects.append(key)
            if mean is not None:
                self._node(f"mean:{g}:{c}", mean, "parameter", None, (x - 0.33, 0), edge_to=key)
            scale_key = f"scale:{g}" if (len(term.columns) == 1 or shared) else f"scale:{g}:{c}"
            if not any(n.name == scale_key for n in self.graph.nodes):
                if above:
                    where = (x + (0.33 if mean is not None else 0.0), 0)
                elif scale_column is not None:
                    where = (scale_column, row + 0.9 * len(effects) - 0.9)
                else:
                    where = (x, scale_row)
                self._node(scale_key, scale, "parameter", None, where)
            self.graph.edges.append((scale_key, key))
            if scale_column is not None:
                row += 0.9
            else:
                column += width
        if term.correlated and len(term.columns) > 1:
            label = {"ar1": r"\rho", "cs": r"\rho"}.get(term.structure, r_matrix)
            if above:
                xs = [n.position[0] for n in self.graph.nodes if n.name in effects]
                where = (sum(xs) / len(xs), -0.85)
            elif scale_column is not None:
                where = (scale_column - 1.0, row - 0.9)
            else:
                where = (column, scale_row)
                column += 1.0
            self._node(f"R:{g}", label, "parameter", None, where)
            self.graph.edges += [(f"R:{g}", key) for key in effects]
        return column


def _data_label(column: str, fallback: str = "x") -> str:
    """A data column's node label: its name with the index when it is short, else ``x_i`` (``y_i`` for
    the response) with the name as the caption (:func:`_caption`)."""
    from .latex import name

    return rf"{name(column)}_{{i}}" if len(column) <= 8 else f"{fallback}_i"


def _caption(column: str) -> str:
    return column if len(column) > 8 else ""


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


