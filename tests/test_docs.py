"""The walkthroughs in docs/ run as tests: every ```python block of a page, in order, in one namespace.

The pages are notebooks in Markdown: what they print is what a user sees, and their ``assert``
lines check the content (numbers against R, draw counts, row alignment), so a page that drifts
from the library fails here.
"""
from __future__ import annotations

import linecache
import re
import warnings
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parent.parent / "docs").glob("walkthrough_*.md"))
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text())


def test_every_walkthrough_has_code():
    assert len(DOCS) >= 4
    for path in DOCS:
        assert len(code_blocks(path)) >= 3, path.name


@pytest.mark.parametrize("path", DOCS, ids=[p.stem for p in DOCS])
def test_walkthrough_runs(path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(path.parent)
    namespace: dict = {"__name__": f"docs.{path.stem}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sampler and convergence notes print in the pages; asserts check content
        for number, code in enumerate(code_blocks(path), start=1):
            name = f"{path.name} (block {number})"
            linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # tracebacks show the line
            exec(compile(code, name, "exec"), namespace)  # our own docs, not user text
            plt.close("all")
