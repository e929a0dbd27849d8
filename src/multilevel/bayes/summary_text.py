"""brms-style summary of a Bayesian fit, for terminals and notebooks."""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from ..results.format import html_messages, html_table, text_table
from .posterior import SUMMARY_COLUMNS, summarize_draws


def _format_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for name, row in table.iterrows():
        cells = [f"{row[c]:.2f}" for c in SUMMARY_COLUMNS[:4]]
        cells.append("" if not np.isfinite(row["Rhat"]) else f"{row['Rhat']:.2f}")
        cells += [f"{row['Bulk_ESS']:.0f}", f"{row['Tail_ESS']:.0f}"]
        rows.append([str(name)] + cells)
    return rows


class BrmSummary:
    """Multilevel Hyperparameters, Regression Coefficients, Further Distributional Parameters."""

    def __init__(self, fit):
        self.fit = fit

    def sections(self) -> list[tuple[str, pd.DataFrame]]:
        fit, lay = self.fit, self.fit.layout
        draws = fit._draws
        out = []
        seen = []
        # bf(): group-level terms of the extra formulas (sd_id__a_Intercept), under their group's heading
        extra = [(k, t, p) for p in (lay.predictors.items if lay.predictors is not None else ())
                 for k, t in enumerate(p.terms)]
        groups = [(g.group, fit.design.terms[g.index].n_levels) for g in lay.groups] + \
                 [(t.group_name, t.n_levels) for _, t, _ in extra]
        for group, levels in groups:
            if group in seen:
                continue
            seen.append(group)
            names, labels = [], []
            for other in [x for x in lay.groups if x.group == group]:
                for c in other.columns:
                    names.append(f"sd_{group}__{c}")
                    labels.append(f"sd({c})")
            for k, t, p in extra:
                if t.group_name == group:
                    for c in p.term_columns(k):
                        names.append(f"sd_{group}__{p.name}_{c}")
                        labels.append(f"sd({p.name}_{c})")
            for name in draws:
                if name.startswith(f"cor_{group}__"):
                    c1, c2 = name[len(f"cor_{group}__"):].split("__")
                    names.append(name)
                    labels.append(f"cor({c1},{c2})")
            out.append((f"~{group} (Number of levels: {levels})", self._table(names, labels)))
        fixed = fit.fixed_names()  # ordinal models: Intercept[1]..Intercept[K-1] first
        out.append(("Regression Coefficients:", self._table(fixed, [n[2:] for n in fixed])))
        if lay.family_params:
            out.append(("Further Distributional Parameters:", self._table(list(lay.family_params))))
        return out

    def _table(self, names, labels=None) -> pd.DataFrame:
        rows = [summarize_draws(self.fit._draws[n]) for n in names]
        return pd.DataFrame(rows, index=labels or names, columns=SUMMARY_COLUMNS)

    def _header(self) -> list[str]:
        fit = self.fit
        s = fit.run.settings
        preds = fit.layout.predictors
        links = [f"mu = {fit.likelihood.link_name}"] + [
            f"{p} = {next(x.link for x in preds.items if x.name == p) if preds is not None and p in preds.dpars else 'identity'}"
            for p in fit.likelihood.parameters]
        if fit.likelihood.categorical:  # brms: "muB = logit; muC = logit", one per predicted category
            links = [f"{mu} = {fit.likelihood.link_name}" for mu in fit.likelihood.category_predictors]
        if fit.layout.thresholds:
            links.append("disc = identity")  # brms prints the link of disc, fixed at 1 (not a parameter)
        return [f" Family: {fit.likelihood.name} ", f"  Links: {'; '.join(links)} ",
                f"Formula: {preds.formula.display if preds is not None else fit.design.formula.display} ",
                f"   Data: {fit.data_name} (Number of observations: {fit.nobs}) ",
                *self._dropped_rows(),
                f"  Draws: {s['chains']} chains, each with iter = {s.get('iter', s['draws'] + s['warmup'])}; warmup = {s['warmup']}; "
                f"thin = {s.get('thin', 1)};",
                f"         total post-warmup draws = {s['chains'] * s['draws']}"]

    def _dropped_rows(self) -> list[str]:
        """lmer's line on rows dropped for missing values (brms only warns when it drops them)."""
        design = self.fit.design
        if not design.n_dropped:
            return []
        detail = ", ".join(f"{k}: {v}" for k, v in design.dropped_by_column.items())
        return [f"         Rows dropped for missing values: {design.n_dropped} ({detail})"]

    def __str__(self) -> str:
        lines = self._header() + [""]
        sections = self.sections()
        if any(title.startswith("~") for title, _ in sections):
            lines.append("Multilevel Hyperparameters:")
        header = [""] + SUMMARY_COLUMNS
        for title, table in sections:
            lines.append(title)
            lines += text_table(header, _format_rows(table)).splitlines()
            lines.append("")
        lines.append("Draws were sampled using NUTS (NumPyro). For each parameter, Bulk_ESS")
        lines.append("and Tail_ESS are effective sample size measures, and Rhat is the potential")
        lines.append("scale reduction factor on split chains (at convergence, Rhat = 1).")
        for message in self.fit.messages:
            lines += ["", message]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        # the header quotes the formula and data name: escaped, so a file named "<script>..." shows as text
        parts = ["<p>" + "<br>".join(escape(line.strip()) for line in self._header()) + "</p>"]
        for title, table in self.sections():
            parts.append(html_table(["Parameter"] + SUMMARY_COLUMNS, _format_rows(table), caption=title))
        parts += html_messages(self.fit.messages)
        return "<div class='multilevel-summary'>" + "".join(parts) + "</div>"
