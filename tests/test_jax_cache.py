"""JAX's persistent compilation cache: on by default for brm and ulam, opt-out, the user's own kept.

JAX reads the cache settings once, at its first compilation, so every case runs in a fresh
subprocess (a few seconds each: importing the engine; one tiny fit, 1 chain x 50 draws, twice).
"""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numpyro")

REPORT = """
import json, jax
from multilevel.bayes.sampler import compilation_cache_dir
print(json.dumps({"dir": jax.config.jax_compilation_cache_dir, "ours": str(compilation_cache_dir()),
                  "min_seconds": jax.config.jax_persistent_cache_min_compile_time_secs}))
"""


def run_child(code: str, tmp_path, **env_overrides) -> dict:
    """Run ``code`` in a fresh Python with the user's cache folder under tmp_path; its last line as JSON."""
    ours = ("JAX_COMPILATION_CACHE_DIR", "MULTILEVEL_JAX_CACHE", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), LOCALAPPDATA=str(tmp_path / "xdg"), **env_overrides)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["multilevel.bayes.fit",
                                    pytest.param("multilevel.rethinking.fit", marks=pytest.mark.slow)])
def test_cache_is_on_by_default_in_the_user_cache_folder(engine, tmp_path):
    out = run_child(f"import {engine}\n" + REPORT, tmp_path)
    assert out["dir"] == out["ours"]
    if sys.platform.startswith("linux"):  # platformdirs' place: $XDG_CACHE_HOME/multilevel/jax
        assert out["dir"] == str(tmp_path / "xdg" / "multilevel" / "jax")
    assert out["min_seconds"] == pytest.approx(0.1)  # small models' NUTS programs are kept too


@pytest.mark.parametrize("value", ["0"])
def test_opt_out_leaves_the_cache_off(value, tmp_path):
    out = run_child("import multilevel.bayes.fit\n" + REPORT, tmp_path, MULTILEVEL_JAX_CACHE=value)
    assert out["dir"] is None and out["min_seconds"] == 1.0  # JAX's own defaults
    assert not (tmp_path / "xdg" / "multilevel").exists()


def test_users_own_cache_dir_is_kept_from_the_environment(tmp_path):
    mine = str(tmp_path / "mine")
    out = run_child("import multilevel.bayes.fit\n" + REPORT, tmp_path, JAX_COMPILATION_CACHE_DIR=mine)
    assert out["dir"] == mine and out["min_seconds"] == 1.0  # the user's settings, thresholds untouched
    assert not (tmp_path / "xdg" / "multilevel").exists()


@pytest.mark.slow  # a fresh Python process each (~4 s); the default run keeps on-by-default and the opt-out
def test_users_own_cache_dir_is_kept_from_jax_config(tmp_path):
    mine = str(tmp_path / "mine")
    code = f"import jax\njax.config.update('jax_compilation_cache_dir', {mine!r})\nimport multilevel.rethinking.fit\n"
    out = run_child(code + REPORT, tmp_path)
    assert out["dir"] == mine
    assert not (tmp_path / "xdg" / "multilevel").exists()


TINY_FIT = """
import json, jax.monitoring
events = []
jax.monitoring.register_event_listener(lambda name, **kwargs: events.append(name))
import multilevel as ml
data = {"y": [1.0, 2.0, 0.5, 1.5, 2.5, 0.0, 1.2, 0.8], "g": [1, 1, 2, 2, 3, 3, 4, 4]}
fit = ml.ulam('''
    y ~ dnorm(mu, sigma)
    mu <- a[g]
    a[g] ~ dnorm(a_bar, 1)
    a_bar ~ dnorm(0, 1)
    sigma ~ dexp(1)
''', data, chains=1, draws=50, warmup=50, seed=1, refresh=0)
print(json.dumps({"hits": events.count("/jax/compilation_cache/cache_hits"),
                  "misses": events.count("/jax/compilation_cache/cache_misses"),
                  "cache": fit.run.settings["compilation_cache"]}))
"""


@pytest.mark.slow  # two fresh processes sampling (~28 s)
def test_second_process_loads_the_nuts_program_from_the_cache(tmp_path):
    first = run_child(TINY_FIT, tmp_path)
    assert first["hits"] == 0 and first["misses"] >= 1 and first["cache"]
    assert any((tmp_path / "xdg" / "multilevel" / "jax").iterdir()) or not sys.platform.startswith("linux")
    second = run_child(TINY_FIT, tmp_path)
    assert second["hits"] >= 1  # at least the NUTS program (the one that takes seconds to compile)


@pytest.mark.slow  # a fresh Python process each (~4 s); the default run keeps on-by-default and the opt-out
def test_cache_is_used_when_jax_compiled_before_the_engine_was_imported(tmp_path):
    # code that compiled before multilevel was imported does not leave the cache off (older JAX
    # decided once, at the first compilation); threshold 0 s: every program written
    code = """
import json, os, jax, jax.numpy as jnp
jax.jit(lambda x: x + 1)(1.0)  # the user's own work, before the cache was set
import multilevel.bayes.fit
jax.jit(lambda x: jnp.sin(x) * 3)(1.0)
folder = jax.config.jax_compilation_cache_dir
print(json.dumps({"entries": len(os.listdir(folder))}))
"""
    out = run_child(code, tmp_path, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    assert out["entries"] >= 1
