"""The gallery's equations and diagrams in a Jupyter notebook, typeset by MathJax in headless Chromium
(issue 15): docs/gallery/notebook_check.py run as a test where its tools are installed (nbclient,
ipykernel, nbconvert, Chromium, MathJax 3 from npm; none is a dependency of the package)."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

GALLERY = Path(__file__).resolve().parents[1] / "docs" / "gallery"


@pytest.mark.slow  # runs a kernel that fits eight models, two of them by NUTS (~30 s)
def test_notebook_typesets_every_equation(monkeypatch, tmp_path):
    for module in ("nbformat", "nbclient", "nbconvert", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install nbclient nbconvert ipykernel)")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed")
    sys.path.insert(0, str(GALLERY))
    try:
        import notebook_check
    finally:
        sys.path.remove(str(GALLERY))
    try:
        mathjax = notebook_check.find_mathjax(None)
    except SystemExit as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(notebook_check, "HERE", tmp_path)  # the executed notebook goes to tmp, not docs/
    assert notebook_check.main(["--mathjax", str(mathjax)]) == 0
    assert (tmp_path / "models.ipynb").is_file()
