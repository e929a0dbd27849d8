"""NUTS through NumPyro, chains in parallel over CPU cores (or a GPU), and the diagnostics brms reports.

JAX must learn how many CPU "devices" to create before it starts, so :func:`prepare_devices`
sets it on first use; chains then run in parallel. Where JAX is already running with fewer
devices than chains, chains run vectorized on one device. It also turns on JAX's persistent
compilation cache in the user's cache folder (:func:`enable_compilation_cache`; opt out with
``MULTILEVEL_JAX_CACHE=0``), so a model compiled in one process loads from disk in the next.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import show_progress


class SamplingWarning(UserWarning):
    """Divergences, tree-depth saturation, low E-BFMI, high R-hat or low ESS."""


DEFAULT_DEVICES = max(4, os.cpu_count() or 1)  # 4 chains run in parallel even on 2 cores


def prepare_devices(chains: int | None = None, cores: int | None = None) -> None:
    """Ask XLA for several CPU devices (one per chain) before JAX starts; enable float64.

    Called when ``multilevel.bayes`` is imported, so that importing it is like loading brms in R:
    JAX starts then, not inside the first fit. Once JAX has started its device count is fixed.
    """
    if "jax" not in sys.modules or not _jax_started():
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            wanted = max(DEFAULT_DEVICES, chains or 0) if cores is None else max(1, cores)
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={wanted}".strip()
    import numpyro

    numpyro.enable_x64()
    enable_compilation_cache()


CACHE_ENV = "MULTILEVEL_JAX_CACHE"  # "0" (or false/no/off) leaves JAX's compilation cache as it is
CACHE_MIN_COMPILE_SECONDS = 0.1  # keep programs that cost a tenth of a second to compile, not the tiny ones


def compilation_cache_dir() -> Path:
    """Our folder in the user's cache folder, as platformdirs places it: ``$XDG_CACHE_HOME/multilevel/jax``
    (``~/.cache/multilevel/jax``) on Linux, ``~/Library/Caches/multilevel/jax`` on macOS,
    ``%LOCALAPPDATA%\\multilevel\\Cache\\jax`` on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "multilevel" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "multilevel"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multilevel"
    return base / "jax"


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache in :func:`compilation_cache_dir`, so that a model
    compiled once (the NUTS program for its structure and data) loads from disk in a new process.

    Left alone where the user chose for themselves: ``MULTILEVEL_JAX_CACHE=0`` opts out, and a
    ``jax_compilation_cache_dir`` already set (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config.update``)
    is kept with the user's thresholds. JAX reads the setting at its first compilation, so this runs
    before anything compiles. Returns the folder in use, or None.
    """
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current or os.environ.get(CACHE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return current or None
    folder = compilation_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: compile every time, as without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # older JAX decided once, at its first compilation, whether the cache is on (0.10 reads it each
    # time): where the user's code compiled before this with no cache set, let it decide again
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()
    # JAX's default (1 s) skips the NUTS programs of small models on a fast machine
    if (jax.config.jax_persistent_cache_min_compile_time_secs == 1.0
            and "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    return str(folder)


_PRELOADS: dict[str, threading.Thread] = {}


def preload_diagnostics() -> None:
    """Import arviz-stats (R-hat and ESS for every summary; ~1-2 s with xarray) on a background thread.

    The import then overlaps JAX's tracing and compilation of the first model instead of adding
    to it; when the summary imports arviz-stats, Python's import lock makes it wait for, not
    repeat, the import in progress.
    """
    for name in ("arviz_stats",):
        if name not in sys.modules and name not in _PRELOADS:
            thread = threading.Thread(target=_import_quietly, args=(name,), name=f"multilevel-preload-{name}",
                                      daemon=True)
            _PRELOADS[name] = thread
            thread.start()


def _import_quietly(name: str) -> None:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:  # pragma: no cover - the summary's own import reports the problem
        pass


def _jax_started() -> bool:
    try:
        import jax

        return bool(jax._src.xla_bridge._backends)
    except AttributeError:  # pragma: no cover - internal layout changed
        return True


@dataclass
class SamplerRun:
    """Draws by chain (chains, draws, ...) for every site, NUTS statistics, timings, settings.

    ``stats`` holds Stan's per-iteration sampler columns under Stan's names, each (chains, draws):
    ``lp__`` (log density up to a constant, Jacobian included: NumPyro's -potential_energy),
    ``accept_stat__``, ``stepsize__``, ``treedepth__``, ``n_leapfrog__``, ``divergent__``, ``energy__``.
    """

    samples: dict
    diverging: np.ndarray
    num_steps: np.ndarray
    energy: np.ndarray
    seconds_total: float
    seconds_sampling: float
    settings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


_EXTRA_FIELDS = ("diverging", "num_steps", "energy", "accept_prob", "potential_energy", "adapt_state.step_size")


def tree_depth(n_leapfrog: np.ndarray) -> np.ndarray:
    """Stan's ``treedepth__`` from the number of leapfrog steps: ``floor(log2(n_leapfrog + 1))``.

    Stan (``base_nuts.hpp``) counts a doubling in the depth only when the new subtree is valid (no
    U-turn or divergence inside it): after ``d`` valid doublings the trajectory holds ``2^d - 1``
    steps, and an invalid last subtree adds 1 to ``2^d`` more, so ``n_leapfrog`` lies in
    ``[2^d - 1, 2^(d+1) - 1]``. NumPyro counts every doubling tried (its docs:
    ``log2(num_steps) + 1``), one more whenever the last subtree was cut short. The one case ``n``
    cannot tell apart, a subtree that turns at its very last step, is counted one deeper here;
    a full tree at the maximum depth, the case Stan warns about, is counted exactly.
    """
    return np.floor(np.log2(np.asarray(n_leapfrog, dtype=float) + 1)).astype(np.int64)


def run_nuts(model, settings, *, model_kwargs: dict | None = None) -> SamplerRun:
    """NUTS on ``model`` with :class:`multilevel.options.SamplerSettings` (chains, iter, warmup, thin,
    seed, adapt_delta, max_treedepth, progress); Stan's sampler statistics kept in ``run.stats``."""
    import jax
    from numpyro.infer import MCMC, NUTS

    start = time.perf_counter()
    compile_seconds = _CompileClock.start()
    chains, iterations, warmup = settings.chains, settings.sampling_iterations, settings.warmup
    method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    kernel = NUTS(model, target_accept_prob=settings.adapt_delta, max_tree_depth=settings.max_treedepth)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=iterations, num_chains=chains, thinning=settings.thin,
                chain_method=method, progress_bar=show_progress(settings.progress))
    key = jax.random.PRNGKey(0 if settings.seed is None else settings.seed)
    mcmc.run(key, extra_fields=_EXTRA_FIELDS, **(model_kwargs or {}))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    total = time.perf_counter() - start
    compiling = compile_seconds.stop()
    # warm-up and sampling run in one compiled loop: sampling alone is the post-warm-up share of
    # the time that was not spent tracing and compiling (JAX reports those durations)
    sampling = max(total - compiling, 0.0) * iterations / (iterations + warmup)
    stats = {"lp__": -extra["potential_energy"], "accept_stat__": extra["accept_prob"],
             "stepsize__": extra["adapt_state.step_size"], "treedepth__": tree_depth(extra["num_steps"]),
             "n_leapfrog__": extra["num_steps"].astype(np.int64), "divergent__": extra["diverging"].astype(np.int64),
             "energy__": extra["energy"]}
    recorded = dict(settings.as_dict(), chain_method=method, sampler="numpyro NUTS", devices=jax.local_device_count(),
                    backend=jax.default_backend(), compile_seconds=compiling,
                    compilation_cache=jax.config.jax_compilation_cache_dir)
    return SamplerRun(samples, extra["diverging"], extra["num_steps"], extra["energy"], total, sampling, recorded,
                      stats)


class _CompileClock:
    """Sums JAX's tracing and compilation durations while a run is in progress."""

    _active: list = []
    _registered = False

    @classmethod
    def start(cls) -> "_CompileClock":
        import jax.monitoring

        if not cls._registered:
            jax.monitoring.register_event_duration_secs_listener(cls._listen)
            cls._registered = True
        clock = cls()
        clock.seconds = 0.0
        cls._active.append(clock)
        return clock

    @classmethod
    def _listen(cls, name, duration, **kwargs):
        # tracing durations nest (a jit traced inside another is counted twice): count only the
        # lowering to MLIR and the backend compilation, which do not
        if name in ("/jax/core/compile/backend_compile_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration"):
            for clock in cls._active:
                clock.seconds += duration

    def stop(self) -> float:
        self._active.remove(self)
        return self.seconds


def diagnose(run: SamplerRun, rhat: dict, ess_bulk: dict, ess_tail: dict) -> list[str]:
    """brms/Stan's post-sampling warnings, each naming what to try."""
    messages = []
    n_div = int(run.diverging.sum())
    if n_div:
        messages.append(f"There were {n_div} divergent transitions after warmup. Increasing adapt_delta "
                        f"(control={{'adapt_delta': ...}} or target_accept) above {run.settings['target_accept']} "
                        "may help; reparameterize or tighten priors otherwise.")
    depth = run.stats["treedepth__"] if "treedepth__" in run.stats else tree_depth(run.num_steps)
    hits = int((depth >= run.settings["max_tree_depth"]).sum())  # Stan's count: treedepth__ at the maximum
    if hits:
        messages.append(f"There were {hits} transitions that hit the maximum tree depth "
                        f"({run.settings['max_tree_depth']}); increase max_treedepth "
                        "(control={'max_treedepth': ...} or max_tree_depth).")
    energy = run.energy
    bfmi = np.sum(np.diff(energy, axis=1) ** 2, axis=1) / np.sum((energy - energy.mean(axis=1, keepdims=True)) ** 2, axis=1)
    low = [i for i, v in enumerate(bfmi) if v < 0.3]
    if low:
        messages.append(f"E-BFMI below 0.3 in chain(s) {', '.join(str(i + 1) for i in low)}: the sampler may not "
                        "explore the tails; reparameterize the model.")
    bad_rhat = [k for k, v in rhat.items() if np.isfinite(v) and v > 1.01]
    if bad_rhat:
        messages.append(f"R-hat above 1.01 for {', '.join(bad_rhat[:5])}{' ...' if len(bad_rhat) > 5 else ''}: "
                        "chains have not mixed; run more iterations.")
    n_chains = run.settings["chains"]
    low_bulk = [k for k, v in ess_bulk.items() if np.isfinite(v) and v < 100 * n_chains]
    if low_bulk:
        messages.append(f"Bulk ESS below {100 * n_chains} for {', '.join(low_bulk[:5])}: posterior means and "
                        "medians may be unreliable; run more iterations.")
    low_tail = [k for k, v in ess_tail.items() if np.isfinite(v) and v < 100 * n_chains]
    if low_tail:
        messages.append(f"Tail ESS below {100 * n_chains} for {', '.join(low_tail[:5])}: posterior intervals "
                        "may be unreliable; run more iterations.")
    for message in messages:
        warnings.warn(message, SamplingWarning, stacklevel=4)
    return messages
