"""Checks of user options (counts, probabilities, choices, flags), one place for every engine.

Each raises :class:`~multilevel.errors.ArgumentError` naming the option, the allowed values and the
value given, before any work is done: ``nagq=-1``, ``chains=0`` or ``level=2`` never reach numpy.
"""
from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass

from .errors import ArgumentError


def whole_number(name: str, value, minimum: int, maximum: int | None = None, *, allow_none: bool = False):
    """An integer (not a bool) in ``[minimum, maximum]``; returns it as a Python int."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"{name} must be a whole number, not {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ArgumentError(f"{name} must be {bound}, not {value}")
    return int(value)


def open_probability(name: str, value) -> float:
    """A number strictly between 0 and 1 (a confidence level, a target acceptance rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ArgumentError(f"{name} must be a number strictly between 0 and 1, not {value!r}")
    return float(value)


def choice(name: str, value, choices) -> str:
    """One of ``choices`` (strings); the message lists them and suggests the closest."""
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6) if isinstance(value, str) else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}.{hint}")


def flag(name: str, value, *, allow_none: bool = False) -> bool | None:
    """True or False (numpy booleans too); None where ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        allowed = "True, False or None" if allow_none else "True or False"
        raise ArgumentError(f"{name} must be {allowed}, not {value!r}")
    return bool(value)


DRAWS_DTYPES = ("float64", "float32")


def draws_dtype(value) -> str:
    """brm's ``draws_dtype``: how the draws are stored, "float64" (default) or "float32" (half the
    memory); a numpy dtype or scalar type (``np.float32``) is read by its name."""
    if not isinstance(value, str):
        value = getattr(value, "name", None) or getattr(value, "__name__", value)
    return choice("draws_dtype", value, DRAWS_DTYPES)


# ---- sampler arguments, as brms and rethinking users type them -----------------------------------
class _NotGiven:
    """Marks an argument the caller did not give (its default depends on other arguments)."""

    def __repr__(self) -> str:
        return "<default>"


NOT_GIVEN = _NotGiven()
SEED_MAX = 2**63 - 1
CONTROL_KEYS = ("adapt_delta", "max_treedepth")


@dataclass(frozen=True)
class SamplerSettings:
    """How NUTS is run, in Stan's terms: ``iter`` iterations per chain of which ``warmup`` adapt,
    every ``thin``-th post-warmup iteration kept. ``draws`` is what each chain keeps."""

    chains: int
    iter: int
    warmup: int
    thin: int
    seed: int | None
    cores: int | None
    adapt_delta: float
    max_treedepth: int
    progress: bool | None

    @property
    def sampling_iterations(self) -> int:
        """Post-warmup iterations per chain (brms's ``iter - warmup``)."""
        return self.iter - self.warmup

    @property
    def draws(self) -> int:
        """Draws kept per chain: NumPyro keeps every ``thin``-th of the post-warmup iterations
        (``(iter - warmup) // thin``; Stan rounds up, so it may keep one more)."""
        return self.sampling_iterations // self.thin

    def as_dict(self) -> dict:
        """What ``run.settings`` records (the names the rest of the package reads, and Stan's)."""
        return {"chains": self.chains, "iter": self.iter, "warmup": self.warmup, "draws": self.draws,
                "thin": self.thin, "sampling_iterations": self.sampling_iterations, "seed": self.seed,
                "cores": self.cores, "target_accept": self.adapt_delta, "max_tree_depth": self.max_treedepth,
                "control": {"adapt_delta": self.adapt_delta, "max_treedepth": self.max_treedepth},
                "progress": self.progress}


def sampler_settings(*, chains=4, iter=NOT_GIVEN, warmup=NOT_GIVEN, draws=NOT_GIVEN, thin=1, seed=None,
                     cores=None, control=None, refresh=None, target_accept=NOT_GIVEN, max_tree_depth=NOT_GIVEN,
                     progress=None, default_adapt_delta: float = 0.8, default_draws: int = 1000,
                     default_warmup: int = 1000, max_chains: int | None = None,
                     target_accept_label: str = "target_accept") -> SamplerSettings:
    """One reading of the sampler arguments for ``brm`` and ``ulam``; each error names the argument(s).

    ``iter`` counts warm-up too, as in brms and rethinking (kept draws per chain = ``(iter - warmup) //
    thin``); ``warmup`` then defaults to ``iter // 2``. Without ``iter``, ``draws`` post-warm-up
    iterations follow ``warmup`` (both default to 1000). ``control`` takes brms's ``adapt_delta`` and
    ``max_treedepth``, the same settings as ``target_accept`` and ``max_tree_depth``. ``refresh=0`` is
    silent, as in Stan; any other value shows progress.

    Examples
    --------
    >>> s = sampler_settings(iter=2000, control={"adapt_delta": 0.95})
    >>> (s.warmup, s.draws, s.adapt_delta)
    (1000, 1000, 0.95)
    """
    whole_number("chains", chains, 1, max_chains)
    if iter is not NOT_GIVEN and draws is not NOT_GIVEN:
        raise ArgumentError(f"give either iter (warm-up included, as in brms and rethinking) or draws (post-warm-up "
                            f"iterations), not both: iter={iter!r}, draws={draws!r}")
    if iter is not NOT_GIVEN:
        whole_number("iter", iter, 1)
        warmup = iter // 2 if warmup is NOT_GIVEN else whole_number("warmup", warmup, 0)
        if warmup >= iter:
            raise ArgumentError(f"warmup must be smaller than iter (iter counts warm-up too), not warmup={warmup} "
                                f"with iter={iter}")
    else:
        draws = default_draws if draws is NOT_GIVEN else whole_number("draws", draws, 1)
        warmup = default_warmup if warmup is NOT_GIVEN else whole_number("warmup", warmup, 0)
        iter = warmup + draws
    thin = whole_number("thin", thin, 1)
    if thin > iter - warmup:
        raise ArgumentError(f"thin must be at most the {iter - warmup} post-warm-up iterations, not {thin}")
    seed = whole_number("seed", seed, 0, SEED_MAX, allow_none=True)
    cores = whole_number("cores", cores, 1, allow_none=True)
    adapt_delta, max_treedepth = _control(control, target_accept, max_tree_depth, default_adapt_delta,
                                          target_accept_label)
    progress = _progress(refresh, progress)
    return SamplerSettings(chains, iter, warmup, thin, seed, cores, adapt_delta, max_treedepth, progress)


def _control(control, target_accept, max_tree_depth, default_adapt_delta, target_accept_label):
    """brms's ``control`` dict and this package's ``target_accept``/``max_tree_depth``: one value each."""
    if control is None:
        control = {}
    if not isinstance(control, dict):
        raise ArgumentError(f"control must be a dict such as {{'adapt_delta': 0.95, 'max_treedepth': 12}}, "
                            f"not {control!r}")
    for key in control:
        if key not in CONTROL_KEYS:
            close = difflib.get_close_matches(str(key), CONTROL_KEYS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ArgumentError(f"control has an unknown key {key!r}; allowed: {', '.join(map(repr, CONTROL_KEYS))}."
                                f"{hint}")
    checks = {"adapt_delta": (target_accept_label, target_accept, default_adapt_delta, open_probability),
              # 2^30 leapfrog steps a draw is already absurd
              "max_treedepth": ("max_tree_depth", max_tree_depth, 10, lambda label, v: whole_number(label, v, 1, 30))}
    out = []
    for key, (name, given, default, check) in checks.items():
        value = None if given is NOT_GIVEN else check(name, given)
        if key in control:
            from_control = check(f"control['{key}']", control[key])
            if value is not None and value != from_control:
                raise ArgumentError(f"{name.split()[0]}={value!r} and control['{key}']={from_control!r} set the "
                                    "same thing to different values: give one of them")
            value = from_control
        out.append(default if value is None else value)
    return out[0], out[1]


def _progress(refresh, progress):
    progress = flag("progress", progress, allow_none=True)
    refresh = whole_number("refresh", refresh, 0, allow_none=True)
    if refresh is None:
        return progress
    shown = refresh > 0
    if progress is not None and progress != shown:
        raise ArgumentError(f"refresh={refresh} and progress={progress} disagree (refresh=0 is silent, as in "
                            "Stan): give one of them")
    return shown
