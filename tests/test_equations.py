"""fit.math(): the model as LaTeX in the levels, rethinking and matrix dialects (issue 15, item 1, lmer/glmer).

Each line must render with matplotlib's mathtext (a parser of LaTeX math, no TeX installation needed)
and hold the terms a reader of the literature would write.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.equations.latex import escape


def renders(equations) -> bool:
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")  # parses and lays out every symbol, without drawing pixels
    for line in equations.mathtext_lines():
        parser.parse(line, dpi=72)
    return True


@pytest.fixture(scope="module")
def fits():
    sleep = ml.datasets.load("sleepstudy")
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(12), 10)
    w = rng.normal(size=12)[g]  # constant within groups: a level-2 predictor
    x = rng.normal(size=len(g))
    frame = pd.DataFrame({"y": 1 + x + w + 0.5 * x * w + rng.normal(size=12)[g] + rng.normal(size=len(g)),
                          "x": x, "w": w, "g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "slopes": ml.lmer("Reaction ~ Days + (Days | Subject)", sleep),
            "uncorrelated": ml.lmer("Reaction ~ Days + (Days || Subject)", sleep),
            "nested": ml.lmer("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes")),
            "crossed": ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin")),
            "binomial": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp")),
            "cross_level": ml.lmer("y ~ x * w + (x | g)", frame),
            "two_factors": ml.lmer("Reaction ~ Days + (Days | Subject) + (1 | week)", sleep.assign(
                week=(sleep["Days"] // 3).astype(str))),
            "nested_and_crossed": ml.lmer("y ~ x + (1 | g/h) + (1 | c)", frame.assign(
                h=np.tile(np.arange(5), 24), c=np.repeat(np.arange(6), 20) % 4)),
        }


@pytest.mark.parametrize("style", ["levels", "rethinking", "matrix"])
def test_every_style_renders(fits, style):
    for fit in fits.values():
        for numbers in (False, True):
            equations = fit.math(style, numbers=numbers)
            assert equations.latex.startswith("\\begin{align*}") and renders(equations)
            assert equations._repr_latex_().startswith("$$")


def test_correlated_effects_with_several_grouping_factors(fits):
    """(Days | Subject) + (1 | week): Subject's two effects stay correlated in both dialects (they were
    written as independent normals when the model had a second grouping factor)."""
    rethinking = fits["two_factors"].math("rethinking").latex
    assert (r"\begin{bmatrix} u^{\text{Subject}}_{j} \\ u^{\text{Subject}}_{\text{Days}, j} \end{bmatrix} &\sim "
            r"\operatorname{MVNormal}\left(\mathbf{0}, \mathbf{S}_{\text{Subject}}\right)") in rethinking
    assert r"\mathbf{R}_{\text{Subject}}" in rethinking
    assert r"u^{\text{week}}_{k} &\sim \operatorname{Normal}(0, \sigma_{\text{week}})" in rethinking
    levels = fits["two_factors"].math("levels").latex
    assert r"\begin{bmatrix} U_{0j} \\ U_{1j} \end{bmatrix} &\sim \mathcal{N}\left(\mathbf{0}, " in levels
    assert r"\tau_{U01}" in levels and r"V_{0k} &\sim \mathcal{N}(0, \tau_{V0}^2)" in levels
    numbers = fits["two_factors"].math("rethinking", numbers=True)
    assert r"\mathbf{R}_{\text{Subject}} &= \begin{bmatrix} 1 & " in numbers.latex and renders(numbers)


def test_equations_picture_aligns_the_relations(fits):
    """fit.math().figure(): mathtext with the relations in one column, as align* sets them; matrices
    as bracketed stacks (mathtext has no arrays)."""
    import matplotlib.pyplot as plt

    equations = fits["slopes"].math("levels")
    rows = equations.mathtext_rows()
    assert rows[0][0] == r"$\text{Level 1:}$" and rows[-1][1].startswith(r"$\left[\genfrac{}{}{0}{0}{U_{0j}}")
    fig = equations.figure()
    texts = {text.get_text(): text for text in fig.texts}
    lefts = [texts[row[1]] for row in rows]
    rights = [texts[row[2]] for row in rows]
    assert all(t.get_horizontalalignment() == "right" for t in lefts)
    assert len({round(t.get_position()[0], 9) for t in lefts}) == 1  # one column of relations
    assert len({round(t.get_position()[0], 9) for t in rights}) == 1
    fig.canvas.draw()  # every line lays out
    plt.close(fig)


def test_levels_dialect(fits):
    slopes = fits["slopes"].math().latex
    for piece in [r"\text{Reaction}_{ij} &= \beta_{0j} + \beta_{1j} \text{Days}_{ij} + e_{ij}",
                  r"\beta_{0j} &= \gamma_{00} + U_{0j}", r"\beta_{1j} &= \gamma_{10} + U_{1j}", r"\tau_{01}"]:
        assert piece in slopes
    assert r"\tau_{01}" not in fits["uncorrelated"].math().latex  # (Days || Subject): zero covariance
    cross = fits["cross_level"].math().latex  # w is constant within g: level 2; x:w a cross-level effect
    assert r"\beta_{0j} &= \gamma_{00} + \gamma_{01} \text{w}_{j} + U_{0j}" in cross
    assert r"\beta_{1j} &= \gamma_{10} + \gamma_{11} \text{w}_{j} + U_{1j}" in cross
    nested = fits["nested"].math().latex
    assert r"\pi_{0jk} &= \beta_{00k} + r_{0jk}" in nested and "Level 3 (batch)" in nested
    assert r"V_{0\text{sample}[i]}" in fits["crossed"].math().latex
    binomial = fits["binomial"].math().latex
    assert r"\sim \operatorname{Binomial}(\text{size}_{ij}, p_{ij})" in binomial
    assert r"\operatorname{logit}(p_{ij})" in binomial


def test_rethinking_dialect_and_numbers(fits):
    text = fits["slopes"].math("rethinking").latex
    assert r"\mu_{i} &= \alpha_{\text{Subject}[i]} + \beta_{\text{Days}, \text{Subject}[i]} \text{Days}_{i}" in text
    assert r"\operatorname{MVNormal}" in text
    filled = fits["slopes"].math("rethinking", numbers=True).latex
    assert "251" in filled and "25.6" in filled and "0.0656" in filled  # lme4: 251.405, sigma 25.592, corr 0.066
    assert "+ -" not in fits["binomial"].math("rethinking", numbers=True).latex  # written as a subtraction


def test_names_are_escaped():
    assert escape("a_b%c&d{e}") == r"a\_b\%c\&d\{e\}"
    with pytest.raises(ml.MultilevelError, match="style must be one of"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy")).math("tikz")


def _drawn(fig):
    """(plates: name -> (x0, y0, x1, y1), shaded node names) read from the figure's patches."""
    plates, shaded = {}, []
    for patch in fig.axes[0].patches:
        gid = patch.get_gid() or ""
        if gid.startswith("plate:"):
            x0, y0 = patch.get_xy()
            plates[gid[6:]] = (x0, y0, x0 + patch.get_width(), y0 + patch.get_height())
        elif gid.startswith("node:") and patch.get_facecolor()[0] < 0.95:
            shaded.append(gid[5:])
    return plates, sorted(shaded)


def _node_centres(fig) -> dict:
    return {patch.get_gid()[5:]: tuple(patch.center) for patch in fig.axes[0].patches
            if (patch.get_gid() or "").startswith("node:")}


def _labels(fig) -> list[str]:
    return [text.get_text() for text in fig.axes[0].texts]


def _holds(box, point) -> bool:
    return box[0] < point[0] < box[2] and box[1] < point[1] < box[3]


def _within(inner, outer) -> bool:
    return outer[0] < inner[0] and outer[1] < inner[1] and inner[2] < outer[2] and inner[3] < outer[3]


def test_plate_diagrams(fits):
    import matplotlib.pyplot as plt

    plates, shaded = _drawn(fits["slopes"].diagram())
    assert set(plates) == {"Subject", "observations"} and _within(plates["observations"], plates["Subject"])
    assert shaded == ["x", "y"]  # the observed nodes: predictors and response
    labels = _labels(plt.gcf())  # the rethinking dialect's symbols, as fit.math("rethinking") writes them
    for symbol in (r"$\alpha_{j}$", r"$\bar{\alpha}$", r"$\sigma_{\alpha}$", r"$\mathbf{R}$", r"$\text{Days}_{i}$"):
        assert symbol in labels, symbol
    plates, _ = _drawn(fits["nested"].diagram())  # batch/cask: observations in cask:batch in batch
    assert _within(plates["observations"], plates["cask:batch"]) and _within(plates["cask:batch"], plates["batch"])
    fig = fits["crossed"].diagram()  # crossed factors: two plates that overlap, the observations in both
    plates, _ = _drawn(fig)
    crossed = [name for name in plates if name != "observations"]
    assert len(crossed) == 2 and all(_within(plates["observations"], plates[g]) for g in crossed)
    assert not _within(plates[crossed[0]], plates[crossed[1]]) and not _within(plates[crossed[1]], plates[crossed[0]])
    centres = _node_centres(fig)
    for group in crossed:  # each factor's effects inside its own plate only
        other = next(g for g in crossed if g != group)
        assert _holds(plates[group], centres[f"b:{group}"]) and not _holds(plates[other], centres[f"b:{group}"])
    labels = _labels(fig)  # the symbols of the rethinking equations: u^{g}_j around 0 with sigma_g
    assert any(r"\sigma_{\text{" in label for label in labels) and any(label.startswith("$u^{") for label in labels)
    plates, shaded = _drawn(fits["binomial"].diagram())
    assert shaded == ["trials", "x", "y"]  # cbind(incidence, size - incidence): size is observed
    svg = fits["binomial"].diagram(format="svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    plt.close("all")


def test_nested_and_crossed_plates(fits):
    """(1 | g/h) + (1 | c): h:g's plate inside g's around the observations; c's plate overlaps them, its
    effects outside g's plate. Labels as in the rethinking equations."""
    import matplotlib.pyplot as plt

    fig = fits["nested_and_crossed"].diagram()
    plates, shaded = _drawn(fig)
    assert _within(plates["observations"], plates["h:g"]) and _within(plates["h:g"], plates["g"])
    assert _within(plates["observations"], plates["c"]) and not _within(plates["c"], plates["g"])
    centres = _node_centres(fig)
    assert _holds(plates["c"], centres["b:c"]) and not _holds(plates["g"], centres["b:c"])
    assert _holds(plates["h:g"], centres["b:h:g"]) and not _holds(plates["c"], centres["b:g"])
    assert shaded == ["x", "y"]
    edges = {patch.get_gid() for patch in fig.axes[0].patches if (patch.get_gid() or "").startswith("edge:")}
    assert {"edge:b:c->mu", "edge:scale:c->b:c", "edge:b:h:g->mu", "edge:x->mu", "edge:mu->y"} <= edges
    plt.close(fig)


def test_trials_and_offsets():
    frogs = ml.datasets.load("reedfrogs").assign(tank=np.arange(1, 49))
    rng = np.random.default_rng(2)
    g, exposure = np.repeat(np.arange(20), 10), rng.uniform(1, 5, 200)
    counts = pd.DataFrame({"y": rng.poisson(exposure * np.exp(0.2 + rng.normal(0, 0.3, 20)[g])),
                           "exposure": exposure, "g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tadpoles = ml.glmer("surv | trials(density) ~ 1 + (1 | tank)", frogs)
        rates = ml.glmer("y ~ 1 + offset(log(exposure)) + (1 | g)", counts, family="poisson")
    assert r"\text{surv}_{ij} &\sim \operatorname{Binomial}(\text{density}_{ij}, p_{ij})" in tadpoles.math().latex
    assert r"\alpha_{j} &\sim \operatorname{Normal}(\bar{\alpha}, \sigma_{\alpha})" in tadpoles.math("rethinking").latex
    assert r"\log(\lambda_{ij}) &= \beta_{0j} + \log(\text{exposure}_{ij})" in rates.math().latex
    assert r"\log(\lambda_{i}) &= \alpha_{\text{g}[i]} + \log(\text{exposure}_{i})" in rates.math("rethinking").latex
    assert renders(rates.math()) and renders(tadpoles.math("rethinking"))


def test_structured_covariances_are_written_as_such():
    sleep = ml.datasets.load("sleepstudy").assign(dayf=lambda d: pd.Categorical(d.Days // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ar1 = ml.lmer("Reaction ~ Days + ar1(0 + dayf | Subject)", sleep, reml=False)
        homdiag = ml.lmer("Reaction ~ Days + homdiag(0 + dayf | Subject)", sleep, reml=False)
    levels = ar1.math().latex
    assert r"\tau^2 & \tau^2 \rho^{1} & \tau^2 \rho^{2}" in levels and r"\beta_{2j} &= U_{2j}" in levels
    rethinking = ar1.math("rethinking").latex
    assert r"R_{kl} &= \rho^{|k - l|}" in rethinking
    assert r"\beta_{\text{dayf4}, \text{Subject}[i]} \text{dayf4}_{i}" in rethinking  # varying around 0
    assert r"\begin{bmatrix} 0 \\ 0 \\ 0 \\ 0 \\ 0 \end{bmatrix}" in rethinking
    assert r"\tau^2 & 0 & 0" in homdiag.math().latex
    assert renders(ar1.math("rethinking", numbers=True)) and renders(homdiag.math())


def test_long_data_names_in_diagrams_keep_their_role():
    """A name too long for its node is captioned under a role letter: x_i for a predictor, y_i for the
    response (a long predictor was labelled y_i)."""
    import matplotlib.pyplot as plt

    sleep = ml.datasets.load("sleepstudy").rename(columns={"Days": "DaysOfSleepLoss", "Reaction": "ReactionTime"})
    fig = ml.lmer("ReactionTime ~ DaysOfSleepLoss + (1 | Subject)", sleep).diagram()
    labels = _labels(fig)
    assert "$x_i$" in labels and "$y_i$" in labels and labels.count("$y_i$") == 1
    assert "DaysOfSleepLoss" in labels and "ReactionTime" in labels  # the captions
    plt.close(fig)
