"""brms's ``update(fit, formula., newdata, ...)``: the same model call with some parts changed.

``fit.update("~ . + x")`` refits with ``x`` added, ``fit.update(newdata=other)`` on other data,
``fit.update(chains=2, priors=[...])`` with other options; everything not given is the original
call's (``brm`` records it). The formula follows R's ``update.formula``: ``.`` on the left stands for
the old response (with its additions), on the right for the old right-hand side; ``- term`` removes
a population-level term, ``- (1 | g)`` a group-level term written as in the old formula. Compiled
code is reused where the model's structure and data allow: JAX's persistent compilation cache
serves a program compiled before, in this process or an earlier one.
"""
from __future__ import annotations

from ..errors import ArgumentError
from ..formula.update import update_formula


def update(fit, formula: str | None = None, newdata=None, **changes):
    """brms's ``update()``: refit ``fit``'s call with the changes (see the module)."""
    from .fit import brm

    call = dict(getattr(fit, "_call", None) or {})
    if not call:
        raise ArgumentError("this fit does not record the call that made it (a fit read from an older file?)")
    if formula is not None:
        from .brmsformula import BrmsFormula

        if isinstance(call["formula"], BrmsFormula) or isinstance(formula, BrmsFormula):
            raise ArgumentError("update() with a new formula is not available for ml.bf() formulas; "
                                "call ml.brm with the new bf(...)")
        call["formula"] = update_formula(call["formula"], formula)
    if newdata is not None:
        call["data"] = newdata
    call.pop("file", None)  # a refit does not overwrite the original's file unless asked to
    call.pop("file_refit", None)
    unknown = sorted(set(changes) - set(call) - {"file", "file_refit"})
    if unknown:
        raise ArgumentError(f"update() got unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                            f"brm takes {', '.join(sorted(call))}")
    call.update(changes)
    return brm(**call)
