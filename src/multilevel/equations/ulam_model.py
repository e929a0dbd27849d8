"""An ulam model as mathematics: each statement of the model one line, as *Statistical Rethinking*
writes it: ``\\text{surv}_i \\sim \\operatorname{Binomial}(\\text{density}_i, p_i)``,
``\\operatorname{logit}(p_i) = \\alpha_{\\text{tank}[i]}``, ``\\alpha_j \\sim \\operatorname{Normal}(\\bar{\\alpha}, \\sigma)``.

Observed variables and per-observation quantities carry the subscript ``i``; a parameter indexed by a
data column is ``\\alpha_{\\text{tank}[i]}`` where it is used and ``\\alpha_j`` (one letter per index
column) in its own prior; names that are Greek letters (``sigma``, ``a_bar``: ``\\bar{\\alpha}``, ``a``:
``\\alpha``, ``b``: ``\\beta``, ``bA``: ``\\beta_{A}``) are written so. ``numbers=True`` replaces each
scalar parameter in the lines by its posterior mean. ``save>`` definitions are marked.
"""
from __future__ import annotations

import re

import numpy as np

from ..rethinking.parse import BinOp, Call, Compare, Index, Name, Neg, Num
from .latex import column_vector, escape, number
from .structure import INDEX_LETTERS

GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"}
SHORT = {"a": r"\alpha", "b": r"\beta", "g": r"\gamma", "k": r"\kappa"}
DENSITIES = {
    "dnorm": "Normal", "normal": "Normal", "dbinom": "Binomial", "binomial": "Binomial", "dpois": "Poisson",
    "poisson": "Poisson", "dexp": "Exponential", "exponential": "Exponential", "dlnorm": "LogNormal",
    "lognormal": "LogNormal", "dgamma": "Gamma", "gamma": "Gamma", "dbeta": "Beta", "beta": "Beta",
    "dcauchy": "Cauchy", "cauchy": "Cauchy", "dstudent": "StudentT", "student_t": "StudentT", "dunif": "Uniform",
    "uniform": "Uniform", "dlkjcorr": "LKJcorr", "lkj_corr": "LKJcorr", "dmvnorm": "MVNormal",
    "dmvnorm2": "MVNormal", "multi_normal": "MVNormal", "dzipois": "ZIPoisson", "dordlogit": "OrderedLogit",
    "ordered_logistic": "OrderedLogit", "dbetabinom": "BetaBinomial", "beta_binomial": "BetaBinomial",
    "dgampois": "GammaPoisson", "dbern": "Bernoulli", "bernoulli": "Bernoulli", "categorical": "Categorical",
    "dcategorical": "Categorical", "ddirichlet": "Dirichlet", "dirichlet": "Dirichlet", "dhalfnorm": "HalfNormal",
    "custom": "custom", "dcustom": "custom",
}
FUNCTIONS = {"inv_logit": r"\operatorname{logit}^{-1}", "logistic": r"\operatorname{logit}^{-1}",
             "exp": r"\exp", "log": r"\log", "logit": r"\operatorname{logit}", "sqrt": r"\sqrt",
             "softmax": r"\operatorname{softmax}", "inv_cloglog": r"\operatorname{cloglog}^{-1}"}
# capitals: LaTeX has commands only for the Greek capitals that differ from Latin ones
UPPER_GREEK = {"Rho": r"\mathbf{R}", "Sigma": r"\Sigma", "Omega": r"\Omega", "Gamma": r"\Gamma", "Delta": r"\Delta",
               "Theta": r"\Theta", "Lambda": r"\Lambda", "Phi": r"\Phi", "Psi": r"\Psi", "Pi": r"\Pi"}
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%*%": 2, "^": 3}


class UlamWriter:
    """Turns the statements of one ulam fit into LaTeX lines."""

    def __init__(self, fit, numbers: bool = False):
        self.graph = fit.graph
        self.statements = fit.statements
        self.nobs = fit.graph.nobs
        self.indexed_by = self._index_columns()  # parameter -> the data column that indexes it
        # vectors declared with a size (vector[60]:a): one value per level of their index column
        self.per_level = {n for st in self.statements if st.target.size is not None for n in st.target.names}
        self.letters: dict[str, str] = {}
        self.means = self._means(fit) if numbers else {}

    @staticmethod
    def _means(fit) -> dict:
        samples = fit.extract_samples()
        return {name: float(np.mean(samples[name])) for name, parameter in fit.graph.parameters.items()
                if parameter.shape == () and name in samples}

    # ---- symbols ------------------------------------------------------------------------------
    def symbol(self, name: str, index: str | None = None) -> str:
        """``name`` as a symbol, with ``index`` added to its subscript (``\\beta_{\\text{cafe}, j}``)."""
        if name in self.means and index is None:
            return number(self.means[name])
        base, subscript = self._parts(name)
        pieces = [p for p in (subscript, index) if p]
        return base + (f"_{{{', '.join(pieces)}}}" if pieces else "")

    def _parts(self, name: str) -> tuple[str, str | None]:
        """(base symbol, subscript or None) of a parameter's name."""
        for suffix in ("_bar", "bar"):  # a_bar, abar: the mean of a
            head = name[: -len(suffix)]
            if name.endswith(suffix) and head and (head in SHORT or head.lower() in GREEK or suffix == "_bar"):
                base, subscript = self._parts(head)
                return r"\bar{" + base + "}", subscript
        if name in UPPER_GREEK:
            return UPPER_GREEK[name], None
        if name.lower() in GREEK:
            return "\\" + name.lower(), None
        if name in SHORT:
            return SHORT[name], None
        if re.fullmatch(r"[ab][A-Z][A-Za-z0-9]*", name):
            return SHORT[name[0]], r"\text{" + escape(name[1:]) + "}"
        if "_" in name and name.split("_", 1)[0].lower() in GREEK | set(SHORT):
            head, tail = name.split("_", 1)
            base, subscript = self._parts(head)
            return base, ", ".join(p for p in (subscript, r"\text{" + escape(tail) + "}") if p)
        if len(name) == 1:
            return name, None
        return r"\text{" + escape(name) + "}", None

    def _plain(self, name: str) -> str:
        """A parameter's symbol (never its estimate): the left side of its own prior."""
        base, subscript = self._parts(name)
        return base + (f"_{{{subscript}}}" if subscript else "")

    def is_data(self, name: str) -> bool:
        return name in self.graph.data

    def _index_columns(self) -> dict:
        """Each parameter indexed by a data column somewhere (``a[tank]``, or ``a[tank] ~ ...``): that column."""
        out = {}

        def visit(node):
            if isinstance(node, Index) and isinstance(node.target, Name) and node.indices \
                    and isinstance(node.indices[0], Name) and node.indices[0].id in self.graph.data:
                out.setdefault(node.target.id, node.indices[0].id)
            for child in getattr(node, "args", ()) or ():
                visit(child)
            for attribute in ("left", "right", "operand", "target"):
                if hasattr(node, attribute) and not isinstance(getattr(node, attribute), str):
                    visit(getattr(node, attribute))
            for child in getattr(node, "indices", ()) or ():
                visit(child)

        for statement in self.statements:
            visit(statement.expr)
            if isinstance(statement.target.index, Name):
                for name in statement.target.names:
                    out.setdefault(name, statement.target.index.id)
        return out

    def level_letter(self, name: str) -> str | None:
        """The subscript of a vector parameter in its own lines (``alpha_j``), None for a scalar."""
        if name in self.indexed_by and (name in self.per_level or self.graph.parameters.get(name) is None
                                        or getattr(self.graph.parameters.get(name), "shape", ()) != ()):
            return self.letter(self.indexed_by[name])
        if name in self.per_level:
            others = [self.indexed_by[n] for n in self.per_level if n in self.indexed_by]
            return self.letter(others[0]) if others else "j"
        return None

    def per_row(self, name: str) -> bool:
        """Data with one value per observation, or a definition computed per observation (not a vector
        declared with a size: that has one value per level)."""
        if self.is_data(name):
            return np.ndim(self.graph.data[name]) >= 1 and len(np.atleast_1d(self.graph.data[name])) == self.nobs
        return name not in self.per_level and any(name in s.target.names and s.kind == "<-" for s in self.statements)

    def letter(self, index_name: str) -> str:
        if index_name not in self.letters:
            self.letters[index_name] = INDEX_LETTERS[len(self.letters) % len(INDEX_LETTERS)]
        return self.letters[index_name]

    # ---- expressions --------------------------------------------------------------------------
    def expression(self, node, parent: int = 0) -> str:
        if isinstance(node, Num):
            return number(node.value)
        if isinstance(node, Name):
            if self.is_data(node.id):
                text = r"\text{" + escape(node.id) + "}"
                return text + "_i" if self.per_row(node.id) else text
            if self.per_row(node.id):
                return self.symbol(node.id, "i")
            letter = self.level_letter(node.id) if node.id in self.per_level else None
            return self.symbol(node.id, letter) if letter else self.symbol(node.id)
        if isinstance(node, Index):
            indices = ", ".join(self._index(i) for i in node.indices)
            if isinstance(node.target, Name):
                return self.symbol(node.target.id, indices)
            return rf"\left({self.expression(node.target)}\right)_{{{indices}}}"
        if isinstance(node, Neg):
            return "-" + self.expression(node.operand, 3)
        if isinstance(node, BinOp):
            precedence = _PRECEDENCE.get(node.op, 2)
            left, right = self.expression(node.left, precedence), self.expression(node.right, precedence + 1)
            if node.op == "/":
                text = rf"\frac{{{self.expression(node.left)}}}{{{self.expression(node.right)}}}"
            elif node.op == "^":
                text = f"{{{left}}}^{{{self.expression(node.right)}}}"
            elif node.op in ("*", "%*%"):
                text = f"{left} {right}"
            else:
                text = f"{left} {node.op} {right}"
            return rf"\left({text}\right)" if precedence < parent else text
        if isinstance(node, Call):
            if node.func == "c":
                return column_vector([self.expression(a) for a in node.args])
            args = ", ".join(self.expression(a) for a in node.args)
            name = FUNCTIONS.get(node.func, r"\operatorname{" + escape(node.func) + "}")
            return rf"{name}\left({args}\right)"
        if isinstance(node, Compare):
            return f"{self.expression(node.left)} {node.op} {self.expression(node.right)}"
        return r"\text{" + escape(str(node)) + "}"

    def _index(self, node) -> str:
        if isinstance(node, Name) and self.is_data(node.id):
            return r"\text{" + escape(node.id) + "}[i]"
        return self.expression(node)

    def density(self, call: Call) -> str:
        name = DENSITIES.get(call.func, escape(call.func))
        if name == "custom":
            return r"\operatorname{custom}\left(" + ", ".join(self.expression(a) for a in call.args) + r"\right)"
        return rf"\operatorname{{{name}}}\left(" + ", ".join(self.expression(a) for a in call.args) + r"\right)"

    # ---- statements ---------------------------------------------------------------------------
    def left(self, statement) -> str:
        target = statement.target
        if target.index is not None:
            letter = self.letter(target.index.id if isinstance(target.index, Name) else str(target.index))
            pieces = [self.symbol(n, letter) for n in target.names]
        elif any(n in self.per_level for n in target.names):  # vector[60]:a ~ ...: alpha_j
            pieces = [self.symbol(n, self.level_letter(n)) if n in self.per_level else self._plain(n)
                      for n in target.names]
        else:
            pieces = []
            for n in target.names:
                if self.is_data(n):
                    pieces.append(r"\text{" + escape(n) + "}" + ("_i" if self.per_row(n) else ""))
                else:
                    per_row = statement.kind == "<-" and self.per_row(n)
                    pieces.append(self.symbol(n, "i" if per_row else None) if per_row else self._plain(n))
        text = column_vector(pieces) if len(pieces) > 1 else pieces[0]
        if target.link:
            text = FUNCTIONS.get(target.link, r"\operatorname{" + escape(target.link) + "}") + rf"\left({text}\right)"
        if target.condition is not None:
            text += r" \mid " + self.expression(target.condition)
        return text

    def lines(self) -> list[tuple[str, str]]:
        out = []
        for statement in self.statements:
            if statement.kind == "~":
                right = r"\sim " + self.density(statement.expr)
            else:
                right = "= " + self.expression(statement.expr)
            left = self.left(statement)
            if statement.save:
                left = r"\text{(saved)}\ " + left
            out.append((left, right))
        return out


def ulam_equations(fit, numbers: bool = False):
    from .latex import Equations

    writer = UlamWriter(fit, numbers=numbers)
    lines = writer.lines()
    notes = [f"{letter} indexes the levels of {name}" for name, letter in writer.letters.items()]
    return Equations(lines, "rethinking", notes)
