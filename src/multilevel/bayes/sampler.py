"""NUTS through NumPyro, chains in parallel over CPU cores (or a GPU), and the diagnostics brms reports.

JAX must learn how many CPU "devices" to create before it starts, so :func:`prepare_devices`
sets it on first use; chains then run in parallel. Where JAX is already running with fewer
devices than chains, chains run vectorized on one device.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field

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


def _jax_started() -> bool:
    try:
        import jax

        return bool(jax._src.xla_bridge._backends)
    except AttributeError:  # pragma: no cover - internal layout changed
        return True


@dataclass
class SamplerRun:
    """Draws by chain (chains, draws, ...) for every site, NUTS statistics, timings, settings."""

    samples: dict
    diverging: np.ndarray
    num_steps: np.ndarray
    energy: np.ndarray
    seconds_total: float
    seconds_sampling: float
    settings: dict = field(default_factory=dict)


def run_nuts(model, *, chains: int, draws: int, warmup: int, seed: int | None, target_accept: float,
             max_tree_depth: int = 10, model_kwargs: dict | None = None, progress: bool | None = None) -> SamplerRun:
    import jax
    from numpyro.infer import MCMC, NUTS

    start = time.perf_counter()
    compile_seconds = _CompileClock.start()
    method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    kernel = NUTS(model, target_accept_prob=target_accept, max_tree_depth=max_tree_depth)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains, chain_method=method,
                progress_bar=show_progress(progress))
    key = jax.random.PRNGKey(0 if seed is None else int(seed))
    mcmc.run(key, extra_fields=("diverging", "num_steps", "energy"), **(model_kwargs or {}))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    extra = mcmc.get_extra_fields(group_by_chain=True)
    total = time.perf_counter() - start
    compiling = compile_seconds.stop()
    # warm-up and sampling run in one compiled loop: sampling alone is the post-warm-up share of
    # the time that was not spent tracing and compiling (JAX reports those durations)
    sampling = max(total - compiling, 0.0) * draws / (draws + warmup)
    return SamplerRun(samples, np.asarray(extra["diverging"]), np.asarray(extra["num_steps"]),
                      np.asarray(extra["energy"]), total, sampling,
                      dict(chains=chains, draws=draws, warmup=warmup, seed=seed, target_accept=target_accept,
                           max_tree_depth=max_tree_depth, chain_method=method, sampler="numpyro NUTS",
                           devices=jax.local_device_count(), backend=jax.default_backend(),
                           compile_seconds=compiling))


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
        messages.append(f"There were {n_div} divergent transitions after warmup. Increasing target_accept "
                        f"above {run.settings['target_accept']} may help; reparameterize or tighten priors otherwise.")
    limit = 2 ** run.settings["max_tree_depth"] - 1
    hits = int((run.num_steps >= limit).sum())
    if hits:
        messages.append(f"There were {hits} transitions that hit the maximum tree depth "
                        f"({run.settings['max_tree_depth']}); increase max_tree_depth.")
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
