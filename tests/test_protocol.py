"""The fit protocol: which questions each engine answers, the errors for the others, and the house rules
that keep it the only road (results/ imports no engine; plots, tidy draws and criteria read no internals)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel.results.protocol import QUESTIONS, Fit, MissingCapability, answers, capabilities, require

SRC = Path(ml.__file__).parent
ENGINES = ("ml", "bayes", "rethinking")


def _imports(path: Path) -> set[str]:
    """Modules a file imports, relative ones resolved against the package (``..ml.lm`` -> ``ml.lm``)."""
    out = set()
    package = path.parent.relative_to(SRC).parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            out.add(".".join([*base, node.module or ""]).strip("."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("multilevel."):
            out.add(node.module.removeprefix("multilevel."))
    return out


@pytest.mark.parametrize("folder", ["results", "plots", "draws"])
def test_shared_layers_import_no_engine(folder):
    for path in sorted((SRC / folder).glob("*.py")):
        engines = {m for m in _imports(path) if m.split(".")[0] in ENGINES}
        assert not engines, f"{path.name} imports {engines}"


@pytest.mark.parametrize("folder", ["plots", "draws"])
def test_plots_and_tidy_draws_read_no_fit_internals(folder):
    # the engines' internals (design, sampler run, model graph, likelihood, layout) stay behind the protocol
    for path in sorted((SRC / folder).glob("*.py")):
        text = path.read_text()
        for internal in ("fit.design", "fit.run", "fit.graph", "fit.likelihood", "fit.layout", "fit.family",
                         "hasattr(fit"):
            assert internal not in text, f"{path.name} reads {internal}"


@pytest.fixture(scope="module")
def ml_fits():
    sleep = ml.datasets.load("sleepstudy")
    cbpp = ml.datasets.load("cbpp")
    return {
        "lm": ml.lm("Reaction ~ Days", sleep),
        "glm": ml.glm("cbind(incidence, size - incidence) ~ period", cbpp, family="binomial"),
        "lmer": ml.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "glmer": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"),
    }


def test_every_fit_class_derives_from_the_protocol(ml_fits):
    from multilevel.bayes.posterior import BrmFit
    from multilevel.rethinking.fit import UlamFit

    for cls in (ml.LmFit, ml.GlmFit, ml.LmerFit, ml.GlmerFit, BrmFit, UlamFit):
        assert issubclass(cls, Fit)
    assert {f.engine for f in ml_fits.values()} == {"lm", "glm", "lmer", "glmer"}


def test_ml_fits_answer_what_their_engine_can(ml_fits):
    common = {"summary", "fixef", "coef", "predict", "observed", "fitted_mean", "replicated_data", "fixed_columns",
              "inverse_link", "vcov", "fixed_effect_table"}
    grouped = common | {"grouping", "group_effect_table"}
    draws = {"draws_by_chain", "posterior_variables", "sampler_stats", "log_likelihood", "to_arviz",
             "linpred_draws", "epred_draws", "predicted_draws", "fixed_effect_draws"}
    for name, fit in ml_fits.items():
        asked = set(capabilities(fit))
        assert (common if name in ("lm", "glm") else grouped) <= asked, name
        assert not asked & draws, name
        assert asked <= set(QUESTIONS)
    assert answers(ml_fits["lmer"], "varying_effects") and not answers(ml_fits["lm"], "grouping")


def test_questions_a_fit_cannot_answer_name_engine_question_and_remedy(ml_fits):
    with pytest.raises(MissingCapability, match=r"an lmer fit cannot answer draws_by_chain\(\).*ml.brm or ml.ulam"):
        ml_fits["lmer"].draws_by_chain()
    with pytest.raises(MissingCapability, match=r"ml.plots.trace needs draws_by_chain\(\), which a glm fit"):
        ml.plots.trace(ml_fits["glm"])
    with pytest.raises(MissingCapability, match=r"ml.plots.shrinkage needs grouping\(\), which an lm fit"):
        ml.plots.shrinkage(ml_fits["lm"])
    with pytest.raises(ml.MultilevelError, match="needs a fit from"):
        require(object(), "summary", "ml.precis")
    with pytest.raises(ml.MultilevelError, match="lmer"):
        ml.loo_compare(ml_fits["lmer"], ml_fits["lm"])
    assert isinstance(MissingCapability("x"), AttributeError)  # getattr(fit, q, default) idioms keep working


def test_protocol_answers_agree_with_the_fits_own_methods(ml_fits):
    lmer, glmer = ml_fits["lmer"], ml_fits["glmer"]
    assert np.allclose(lmer.fitted_mean(), lmer.fitted())
    assert np.allclose(glmer.observed(), glmer.design.response)  # proportions of cbind responses
    assert np.allclose(glmer.observation_weights(), ml.datasets.load("cbpp")["size"])
    table = lmer.group_effect_table("Subject", "Days")
    ranef = lmer.ranef()["Subject"]
    assert np.allclose(table["estimate"], ranef["Days"])
    assert np.allclose(table["upper"] - table["estimate"], 1.96 * ranef.attrs["condsd"][:, 1])
    fixed = lmer.fixed_effect_table()
    assert np.allclose(fixed["estimate"], lmer.fixef()) and (fixed["lower"] < fixed["estimate"]).all()
    effects = lmer.varying_effects()
    vc = lmer.varcorr()
    assert effects.names == ("(Intercept)", "Days") and effects.model.shape == (18, 2)
    assert np.isclose(effects.covariance[1, 1], vc.vcov.iloc[1]) and np.isclose(effects.covariance[0, 1], vc.vcov.iloc[2])
    codes, levels, name = lmer.grouping()
    assert name == "Subject" and len(levels) == 18 and codes.max() == 17
    assert lmer.replicated_data(3, seed=1).shape == (3, 180)
    assert np.allclose(glmer.inverse_link(np.array([0.0])), 0.5)
