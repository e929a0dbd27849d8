"""One self-contained HTML page for a fit: summary, diagnostics and the plots that suit the model.

Images are embedded as base64 PNGs, so the file can be mailed or opened offline. A small script
marks the page once every image has loaded (``data-images="ok:N"`` on ``<body>``) so a headless
browser can check that nothing is broken.
"""
from __future__ import annotations

import base64
import html
import io
import warnings

from . import plots

_CHECK_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var imgs = document.images, bad = 0;
  for (var i = 0; i < imgs.length; i++) { if (!imgs[i].complete || imgs[i].naturalWidth === 0) bad++; }
  document.body.setAttribute('data-images', (bad ? 'broken:' + bad : 'ok:' + imgs.length));
});
</script>
"""


def _png(figure_or_axes) -> str:
    import matplotlib.pyplot as plt

    fig = figure_or_axes if hasattr(figure_or_axes, "savefig") else figure_or_axes.figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def equations_figure(equations):
    """The equations as a matplotlib Figure (mathtext, the relations aligned): a picture the page can
    embed offline, without a TeX installation or a script from the web."""
    return equations.figure()


def _model_section(fit) -> list[str]:
    """The model as equations (the picture and its LaTeX) and as a plate diagram."""
    out = ["<h2>Model</h2>"]
    for name, make in (("Equations", lambda: fit.math()), ("Plate diagram", lambda: fit.diagram())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                made = make()
                image = _png(equations_figure(made) if name == "Equations" else made)
            except Exception as exc:  # reported, not fatal
                out.append(f"<p><i>{html.escape(name)}: not drawn ({html.escape(str(exc))})</i></p>")
                continue
        out.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{image}'>"
                   f"<figcaption>{html.escape(name)}</figcaption></figure>")
        if name == "Equations":
            out.append(f"<details><summary>LaTeX</summary><pre>{html.escape(made.latex)}</pre></details>")
    return out


def _pictures(fit) -> list[tuple[str, object]]:
    """(title, callable) for every plot that fits this model."""
    bayesian = fit.bayesian
    group = fit.design.terms[0].group_name if fit.design.terms else None
    numeric = [n for n in fit.design.fixed.column_names if n not in ("(Intercept)",)]
    out = [("Fixed effects", lambda: plots.coefficients(fit))]
    if group:
        out.append((f"Group effects: {group}", lambda: plots.caterpillar(fit, group=group)))
        out.append((f"Shrinkage: {group}", lambda: plots.shrinkage(fit, group=group)))
    if numeric:
        out.append((f"Predictions over {numeric[0]}", lambda: plots.conditional_effects(fit, numeric[0])))
    out.append(("Observed vs replicated data", lambda: plots.pp_check(fit, ndraws=30)))
    if bayesian:
        out.append(("Trace", lambda: plots.trace(fit)))
        out.append(("Rank plots", lambda: plots.rank(fit)))
    return out


def build_report(fit, title: str | None = None) -> str:
    """The HTML text of the report."""
    import matplotlib

    matplotlib.use("Agg")
    title = title or f"multilevel report: {fit.design.formula.display}"
    sections = [f"<h1>{html.escape(title)}</h1>", "<h2>Summary</h2>", fit._repr_html_()]
    messages = list(getattr(fit, "messages", []))
    sections.append("<h2>Diagnostics</h2>")
    sections.append("<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in messages) + "</ul>" if messages
                    else "<p>No warnings: the optimizer converged / the sampler reported no problems.</p>")
    sections += _model_section(fit)
    sections.append("<h2>Plots</h2>")
    for name, draw in _pictures(fit):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                image = _png(draw())
            except Exception as exc:  # a plot that does not apply is reported, not fatal
                sections.append(f"<p><i>{html.escape(name)}: not drawn ({html.escape(str(exc))})</i></p>")
                continue
        sections.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{image}'>"
                        f"<figcaption>{html.escape(name)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;}"
             "table.multilevel{border-collapse:collapse;margin:1em 0;}"
             "table.multilevel td,table.multilevel th{padding:2px 8px;border-bottom:1px solid #ddd;}"
             "img{max-width:100%;}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}{_CHECK_SCRIPT}</body></html>")


def write_report(fit, path, title: str | None = None) -> str:
    text = build_report(fit, title)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)
