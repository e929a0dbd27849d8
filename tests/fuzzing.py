"""What the fuzzers (tests/test_fuzz_*.py) share: a per-example time limit and the runner.

The hypothesis profiles live in conftest.py: "ci" (derandomized, small, the default) and "slow"
(HYPOTHESIS_PROFILE=slow), under which ``run_fuzzer`` repeats a fuzzer for FUZZ_MINUTES (default 10).
"""
from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager

FUZZ_COUNTS: dict = {}  # examples run per fuzzer in this session, for the closing notes


class ExampleTimeout(AssertionError):
    """An example ran past its time limit: a hang is a failure (never one of the library's errors)."""


@contextmanager
def time_limit(seconds: float):
    """Fail the example that runs longer than ``seconds`` (SIGALRM; Unix, main thread)."""

    def on_alarm(signum, frame):
        raise ExampleTimeout(f"example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_fuzzer(name: str, hypothesis_test) -> int:
    """Run a ``@given`` test once (CI profile), or again and again for FUZZ_MINUTES (slow profile).

    Each call draws fresh examples in the slow profile (not derandomized). The examples actually
    run are counted (through hypothesis's ``inner_test`` hook), added to ``FUZZ_COUNTS[name]``,
    printed and returned.
    """
    slow = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
    budget = float(os.environ.get("FUZZ_MINUTES", "10")) * 60 if slow else 0.0
    inner = hypothesis_test.hypothesis.inner_test
    count = [0]

    def counted(*args, **kwargs):
        count[0] += 1
        return inner(*args, **kwargs)

    hypothesis_test.hypothesis.inner_test = counted
    start, runs = time.monotonic(), 0
    try:
        while True:
            hypothesis_test()
            runs += 1
            if time.monotonic() - start >= budget:
                break
    finally:
        hypothesis_test.hypothesis.inner_test = inner
    FUZZ_COUNTS[name] = FUZZ_COUNTS.get(name, 0) + count[0]
    print(f"fuzz {name}: {runs} runs, {count[0]} examples in {time.monotonic() - start:.0f} s")
    return count[0]
