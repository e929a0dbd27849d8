"""``brm``: formula -> shared design -> NumPyro model -> NUTS -> :class:`BrmFit`."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import options
from ..design import build_design
from ..errors import ArgumentError, DataError, FormulaError
from ..formula import parse_formula
from . import fit_file
from .distributions import NEW_FAMILIES, check_response
from .likelihood import ADDITIONS, make_likelihood, with_additions
from .model import build_layout, has_improper_prior, make_model
from .ordinal import with_ordinal_response
from .brmsformula import BrmsFormula
from .posterior import BrmFit
from .priors import Prior, PriorError
from .sampler import diagnose, preload_diagnostics, prepare_devices, run_nuts

prepare_devices()  # JAX starts with one CPU device per chain when this engine is first imported
preload_diagnostics()  # arviz-stats loads while the first model compiles
import jax  # noqa: E402

jax.devices()

# families whose response the design reads as a GLM response (cbind, trials, 0/1 factors)
_DESIGN_FAMILY = {"bernoulli": "binomial", "binomial": "binomial", "poisson": "poisson",
                  "negbinomial": "negative.binomial"}


def brm(formula, data: pd.DataFrame, *, family="gaussian", link: str | None = None, priors=None, chains: int = 4,
        iter=options.NOT_GIVEN, warmup=options.NOT_GIVEN, draws=options.NOT_GIVEN, thin: int = 1,
        seed: int | None = None, cores: int | None = None, control: dict | None = None, refresh: int | None = None,
        target_accept=options.NOT_GIVEN, sample_prior: str = "no", max_tree_depth=options.NOT_GIVEN,
        na_action: str = "omit", data_name: str | None = None, progress: bool | None = None,
        draws_dtype: str = "float64", file=None, file_refit: str = "on_change") -> BrmFit:
    """Bayesian multilevel model from an lme4/brms formula, sampled with NUTS (NumPyro on JAX).

    Parameters
    ----------
    formula : str or ml.bf(...)
        ``"Reaction ~ Days + (Days | Subject)"``; binomial responses as ``successes | trials(n)``
        or ``cbind(successes, failures)``. brms's response additions ``se()``, ``weights()``,
        ``cens(censored)`` / ``cens(censored, y2)`` (left, right and interval censoring),
        ``trunc(lb = ..., ub = ...)`` and ``rate(exposure)`` (poisson, negbinomial):
        :mod:`multilevel.bayes.censoring`. ``ml.bf("y ~ x", "sigma ~ g")`` gives a distributional
        parameter its own linear predictor; ``ml.bf("con ~ 0 + a", "a ~ 0 + id.f", nl=True)`` a
        nonlinear formula (:mod:`multilevel.bayes.brmsformula`, :mod:`multilevel.bayes.predictors`).
    family : str
        brms's family names and parameterizations (brms 2.18; extra parameters in brackets, as
        brms names them in draws, summaries and priors):

        - gaussian (sigma), student (sigma, nu), lognormal (sigma), gamma (shape), exponential,
          weibull (shape; scale ``mu / gamma(1 + 1 / shape)``, so mu is the mean);
        - bernoulli, binomial; poisson, negbinomial (shape);
        - zero_inflated_poisson (zi), zero_inflated_negbinomial (shape, zi): a zero with
          probability zi, else the count distribution; hurdle_poisson (hu), hurdle_negbinomial
          (shape, hu), hurdle_lognormal (sigma, hu): zero with probability hu, else the
          zero-truncated (positive) distribution;
        - beta (phi): ``beta(mu phi, (1 - mu) phi)`` for responses in (0, 1);
        - shifted_lognormal (sigma, ndt): ``ndt + lognormal(mu, sigma)``, ``0 < ndt < min(y)``;
        - exgaussian (sigma, beta): normal plus exponential of mean beta, mu the mean;
        - skew_normal (sigma, alpha): mu the mean, sigma the sd, alpha the skewness;
        - cumulative (logit or probit): ordinal responses 1..K (or an ordered categorical) with
          ordered thresholds ``b_Intercept[1]``..``b_Intercept[K-1]``; ``posterior_epred`` gives
          category probabilities (draws x rows x K), as brms (:mod:`multilevel.bayes.ordinal`);
          sratio and acat (logit): the same thresholds, brms's stopping-ratio and adjacent-category
          densities (the thresholds a plain vector, as brms's);
        - categorical (logit): an unordered response (text, pandas categorical or numbers; the first
          category, as R's ``levels(factor(y))``, the reference), one predictor ``mu<category>`` per
          other category with the formula's terms: ``b_muB_Intercept``, ``b_muB_x``,
          ``sd_g__muB_Intercept``; priors ``ml.prior(..., dpar="muB")`` (without dpar: every mu);
          ``posterior_epred`` gives the probabilities (draws x rows x K), ``posterior_predict`` the
          labels (:mod:`multilevel.bayes.categorical`). Group terms are independent across
          categories (brms's ``(1 | ID | g)`` is not read yet).

        Densities, means and default priors: :mod:`multilevel.bayes.distributions`.
    link : str, optional
        brms's link of mu; default the family's (logit for bernoulli, binomial and beta; log for
        the count families, gamma, exponential and weibull; identity otherwise). bernoulli,
        binomial and beta also take ``"probit"`` and ``"cloglog"``.
    priors : list of ml.prior(...), optional
        Unlisted parameters get brms's default priors (see ``fit.prior_summary()``).
    chains, iter, warmup, thin, seed, cores : int
        As in brms: ``iter`` iterations per chain, warm-up included (``warmup`` defaults to
        ``iter // 2``); every ``thin``-th post-warm-up draw is kept. Without ``iter``: ``draws``
        post-warm-up iterations after ``warmup`` (1000 each by default, brms's ``iter = 2000``).
    control : dict, optional
        brms's ``{"adapt_delta": 0.8, "max_treedepth": 10}``; the same settings as
        ``target_accept`` and ``max_tree_depth`` (give either spelling, not two different values).
    refresh : int, optional
        0 is silent, as in Stan; another value shows progress.
    sample_prior : {"no", "yes", "only"}
        "only" samples from the priors alone (all priors must be proper).
    progress : bool, optional
        Progress bars while sampling; by default on in a terminal or notebook only.
    draws_dtype : {"float64", "float32"}
        How the draws (parameters and group-level effects) are stored once sampled; NUTS itself
        always runs in float64. "float32" halves their memory (4 chains x 1000 draws of 10,000
        levels x 2 effects: 320 MB instead of 640 MB) and keeps about 7 significant digits per draw,
        far below Monte Carlo error; means, quantiles, R-hat and ESS are computed in float64.

    file : str or path, optional
        brms's ``file``: the fit is written to ``<file>.npz`` and read back by a later call instead of
        sampling again, while formula, data, family, priors, sampler settings and the package version
        are unchanged (``file_refit="on_change"``, brms's option of that name); ``"never"`` reuses
        any file of the same formula text, ``"always"`` samples anew. The file holds arrays only.

    Notes
    -----
    bernoulli, binomial and poisson rows that share their linear predictor (the same fixed-effects
    row, group levels, varying-effect columns and offset: binary or few-valued covariates) are
    summed into counts while sampling, so NUTS costs per distinct pattern, not per row; the
    posterior is the same. ``fit.run.settings["likelihood"]`` says on how many patterns it ran.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.brm("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), seed=1)  # doctest: +SKIP
    """
    started = time.perf_counter()
    call = {k: v for k, v in locals().items() if k != "started"}  # for update(): the call as given
    settings = options.sampler_settings(
        chains=chains, iter=iter, warmup=warmup, draws=draws, thin=thin, seed=seed, cores=cores, control=control,
        refresh=refresh, target_accept=target_accept, max_tree_depth=max_tree_depth, progress=progress,
        default_adapt_delta=0.8, target_accept_label="target_accept (brms's adapt_delta)")
    priors = _check_options(sample_prior=sample_prior, data_name=data_name, priors=priors)
    dtype = options.draws_dtype(draws_dtype)
    if make_likelihood(family, link).categorical:  # priors: those without dpar given to every mu<k>
        design, likelihood, layout, priors = _categorical_layout(formula, data, family, na_action, link, priors)
    elif isinstance(formula, BrmsFormula):
        design, likelihood, layout = _bf_layout(formula, data, family, na_action, link, priors)
    else:
        design, likelihood = design_and_likelihood(formula, data, family, na_action, link=link)
        _check_response(design, likelihood)
        layout = build_layout(design, likelihood, priors)
    if sample_prior in ("only", "yes"):
        improper = has_improper_prior(layout)
        if improper:
            raise PriorError(f"sample_prior={sample_prior!r} needs proper priors, but these are flat: "
                             f"{', '.join(improper)}; give them priors, e.g. ml.prior('normal(0, 5)', class_='b')")
    stored = path = key = None
    if file is not None:
        options.choice("file_refit", file_refit, fit_file.REFIT)
        path = fit_file.file_path(file)
        key = fit_file.fingerprint(repr(formula), data, design, {
            "family": likelihood.name, "link": likelihood.link_name, "parameters": likelihood.parameters,
            "priors": [(p.text, p.class_, p.coef, p.group, p.dpar, p.nlpar) for p in priors], "settings": settings.as_dict(),
            "seed": seed, "sample_prior": sample_prior, "draws_dtype": dtype, "na_action": na_action,
            # bf(): the rows the extra formulas read (the main design may use the response alone)
            **({"bf_rows": int(pd.util.hash_pandas_object(layout.predictors.data, index=False).sum())}
               if layout.predictors is not None else {})})
        stored = fit_file.load(path, key, repr(formula), file_refit)
    sampling_layout = layout.for_prior_only() if sample_prior == "only" else layout
    if stored is not None:
        run, prior_run = stored
    else:
        prepare_devices(settings.chains, settings.cores)
        run = _sample(design, sampling_layout, likelihood, settings, prior_only=sample_prior == "only", dtype=dtype,
                      started=started)
        prior_run = None
        if sample_prior == "yes":
            prior_run = _sample(design, layout.for_prior_only(), likelihood, settings, prior_only=True, dtype=dtype)
        if path is not None:
            fit_file.save(path, key, repr(formula), run, prior_run)
    fit = BrmFit(design, likelihood, sampling_layout, run, priors, data_name=data_name or "data",
                 sample_prior=sample_prior)
    if prior_run is not None:
        fit.prior_draws = BrmFit(design, likelihood, layout.for_prior_only(), prior_run, priors,
                                 data_name=fit.data_name).draws()
    table = fit.parameter_summary()
    fit.messages = diagnose(run, table["Rhat"].to_dict(), table["Bulk_ESS"].to_dict(), table["Tail_ESS"].to_dict())
    fit._call = call
    return fit


def _bf_layout(formula, data, family, na_action, link, priors):
    """A bf() model: the main design (for nonlinear models the response alone), the likelihood and the
    layout with the extra predictors of :mod:`.predictors`, all on the same rows."""
    from .predictors import build_predictors, main_formula, model_rows, split_priors

    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    rows = model_rows(formula, data, na_action)
    design, likelihood = design_and_likelihood(main_formula(formula), rows, family, na_action, link=link)
    if design.nobs != len(rows):
        raise DataError(f"the formula {formula.formula!r} uses {design.nobs} of the model's {len(rows)} rows")
    if likelihood.ordinal:
        raise ArgumentError("bf() with nonlinear or distributional formulas is not available for ordinal families")
    _check_response(design, likelihood)
    main_priors, extra_priors = split_priors(priors)
    predictors = build_predictors(formula, rows, design, likelihood, extra_priors)
    return design, likelihood, build_layout(design, likelihood, main_priors, predictors)


def _categorical_layout(formula, data, family, na_action, link, priors):
    """A categorical model (:mod:`.categorical`): the main design holds the response alone (coded
    1..K, the first category the reference); each other category k gets the formula's right side as
    the distributional predictor ``mu<k>`` of :mod:`.predictors`, all on the same rows."""
    import dataclasses

    from .brmsformula import bf
    from .categorical import response_categories
    from .predictors import Predictors, build_predictor, model_rows, resolve_predictor_priors

    if isinstance(formula, BrmsFormula):
        if formula.parts or formula.nl:
            raise ArgumentError("bf() with further formulas is not available for the categorical family yet; "
                                f"give the formula alone ({formula.formula!r})")
        formula = formula.formula
    parsed = bf(formula)
    rows = model_rows(parsed, data, na_action)
    name = parsed.response
    if name not in rows.columns:
        raise DataError(f"the categorical response {name!r} must be a column of the data")
    codes, labels = response_categories(rows[name], name)
    rows = rows.assign(**{name: codes})
    design, likelihood = design_and_likelihood(f"{name} ~ 0", rows, family, na_action, link=link)
    likelihood = dataclasses.replace(likelihood, categories=labels)
    priors = _categorical_priors(priors, likelihood.category_predictors)
    items = tuple(build_predictor(mu, parsed.rhs, name, rows, "dpar", "identity", "student_t(3, 0, 2.5)")
                  for mu in likelihood.category_predictors)
    predictors = Predictors(parsed, items, data=rows)
    predictors.priors = resolve_predictor_priors(predictors, priors)
    return design, likelihood, build_layout(design, likelihood, [], predictors), priors


def _categorical_priors(priors, predictors) -> list:
    """A categorical model's priors, each with its ``dpar``: one without (class b, Intercept, sd or
    cor) stands for every ``mu<k>`` that has no prior of its own for the same coefficient and group,
    as brms's rows with an empty dpar (``get_prior``) do."""
    import dataclasses

    shared_classes = ("b", "Intercept", "sd", "cor")
    own = [p for p in priors if p.dpar or p.nlpar]
    out = list(own)
    for p in priors:
        if p.dpar or p.nlpar:
            continue
        if p.class_ not in shared_classes:
            raise PriorError(f"prior {p.text or '(flat)'!r} of class {p.class_!r}: a categorical model has classes "
                             f"{', '.join(shared_classes)} for each of {', '.join(predictors)} (dpar=...)")
        out += [dataclasses.replace(p, dpar=mu) for mu in predictors
                if not any(q.dpar == mu and (q.class_, q.coef, q.group) == (p.class_, p.coef, p.group) for q in own)]
    return out


def design_and_likelihood(formula: str, data: pd.DataFrame, family, na_action: str = "omit", link=None):
    """The shared design and the response distribution of a brm model (brm and sbc): the response
    additions ``se()`` and ``weights()`` read into ``design.additions``, the rest as glmer reads them."""
    from ..families import get_family

    parsed = refuse_structured(parse_formula(formula))
    likelihood = with_additions(make_likelihood(family, link), parsed)
    data = with_intercept_column(parsed, data)
    data = with_ordinal_response(parsed, data, likelihood)  # an ordered categorical response -> 1..K
    design_family = _DESIGN_FAMILY.get(likelihood.name)
    # brms puts no bound on the levels of a grouping factor (eight schools: one level a row, with se())
    design = build_design(parsed, data, family=get_family(design_family) if design_family else None,
                          na_action=na_action, additions=ADDITIONS, observation_level_ok=True)
    return _uncentered_intercept(design), likelihood


def refuse_structured(parsed):
    """brm samples unstructured (``|``) and independent (``||``) group-level effects only: glmmTMB's
    structured covariances are ml.lmer/ml.glmer's (brms's own ``cs()`` means category-specific effects)."""
    for bar in parsed.bars:
        if bar.structure != "us":
            hint = f" (write ({bar.lhs} || {bar.group_name}))" if bar.structure == "diag" else ""
            raise FormulaError(f"brm does not fit the structured covariance {bar.structure}() of the term "
                               f"{bar.text}{hint}; ml.lmer and ml.glmer fit it", parsed.text, bar.pos)
    return parsed


INTERCEPT_COLUMN = "Intercept"


def with_intercept_column(parsed, data: pd.DataFrame) -> pd.DataFrame:
    """brms's ``y ~ 0 + Intercept + x``: ``Intercept`` is a column of ones, an ordinary coefficient
    (``b_Intercept``, class b priors) with the predictors left uncentered. Added where the formula
    names it and the data have no such column (newdata too: :mod:`.predict`)."""
    if INTERCEPT_COLUMN in parsed.variables and isinstance(data, pd.DataFrame) and INTERCEPT_COLUMN not in data:
        return data.assign(**{INTERCEPT_COLUMN: 1.0})
    return data


def _uncentered_intercept(design):
    """With ``0 + Intercept`` the column of ones is the coefficient ``Intercept`` (class b), not the
    model's own intercept (``(Intercept)``, class Intercept, sampled for centered predictors)."""
    import dataclasses

    from ..formula import tokenize

    if INTERCEPT_COLUMN not in design.formula.variables:
        return design
    tokens = [t.text for t in tokenize(design.formula.fixed)]
    removed = any(t == "0" and (i == 0 or tokens[i - 1] == "+") for i, t in enumerate(tokens)) or any(
        a == "-" and b == "1" for a, b in zip(tokens, tokens[1:]))
    if not removed:
        raise ArgumentError("Intercept in the formula is brms's uncentered intercept: remove the implicit one, "
                            f"as in '{design.formula.response} ~ 0 + Intercept + ...'")
    names = tuple(INTERCEPT_COLUMN if n == "(Intercept)" else n for n in design.fixed.column_names)
    return dataclasses.replace(design, fixed=dataclasses.replace(design.fixed, column_names=names))


def _check_options(*, sample_prior, data_name, priors) -> list:
    """ArgumentError naming the first option outside its allowed values, before anything is compiled;
    returns the priors as a list (a single ``ml.prior(...)`` is accepted, as brms accepts one).
    The sampler's options are read by :func:`multilevel.options.sampler_settings`."""
    options.choice("sample_prior", sample_prior, ("no", "yes", "only"))
    if data_name is not None and not isinstance(data_name, str):
        raise ArgumentError(f"data_name must be a string, not {data_name!r}")
    if priors is None:
        return []
    if isinstance(priors, Prior):
        return [priors]
    if isinstance(priors, (str, bytes)) or not hasattr(priors, "__iter__"):
        raise ArgumentError(f"priors must be a list of ml.prior(...), not {type(priors).__name__} {priors!r}")
    return list(priors)


def _sample(design, layout, likelihood, settings, *, prior_only: bool, dtype: str = "float64", started=None):
    """NUTS on the model the layout describes; draws unpacked to constrained values and effects r,
    stored as ``dtype``. ``run.settings["setup_seconds"]``: from ``started`` (brm's start) to NUTS."""
    model, vector = make_model(design, layout, likelihood)
    setup = time.perf_counter() - (started if started is not None else time.perf_counter())
    run = run_nuts(model, settings, model_kwargs={"prior_only": prior_only})
    run.settings["setup_seconds"] = setup
    run.samples = vector.unpack_draws(run.samples["params"], seed=settings.seed, dtype=dtype)
    run.settings["draws_dtype"] = dtype
    run.settings["parameterization"] = layout.parameterization
    # how the likelihood ran: on n rows, or summed into patterns of equal linear predictors
    run.settings["likelihood"] = (vector.patterns.describe() if vector.patterns is not None and not prior_only
                                  else f"{'none (prior only)' if prior_only else f'{design.nobs:,} rows'}")
    return run


def _check_response(design, likelihood) -> None:
    y, name = design.response, design.response_name
    if likelihood.name == "bernoulli":
        w = design.weights
        if (w is not None and np.any(w != 1)) or np.any((y != 0) & (y != 1)):
            raise DataError(f"bernoulli response {name!r} must be 0 or 1 (or a two-level factor); "
                            "use family='binomial' with trials() for counts")
    if likelihood.name in ("gamma", "lognormal") and np.any(y <= 0):
        raise DataError(f"{likelihood.name} response {name!r} must be positive (minimum {np.min(y):g})")
    if likelihood.name in NEW_FAMILIES:
        check_response(likelihood.spec, y, name)



