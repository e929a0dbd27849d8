"""The formula stage: lme4 syntax -> response, fixed part and expanded bars (table-driven)."""
import pytest

from multilevel.formula import parse_formula

CASES = [
    # formula, fixed part, [(bar lhs, group vars), ...]
    ("Reaction ~ Days + (Days | Subject)", "Days", [("Days", ("Subject",))]),
    ("y ~ 1 + x + (1 + x | g)", "1 + x", [("1 + x", ("g",))]),
    ("y ~ x + (x || g)", "x", [("1", ("g",)), ("0 + x", ("g",))]),
    ("y ~ (0 + x + z || g)", "1", [("0 + x", ("g",)), ("0 + z", ("g",))]),
    ("y ~ 1 + (1 | a/b)", "1", [("1", ("a",)), ("1", ("b", "a"))]),
    ("y ~ 1 + (1 | a/b/c)", "1", [("1", ("a",)), ("1", ("b", "a")), ("1", ("c", "b", "a"))]),
    ("y ~ 1 + (1 | a:b)", "1", [("1", ("a", "b"))]),
    ("y ~ 0 + x + (0 + x | g)", "0 + x", [("0 + x", ("g",))]),
    ("y ~ x - 1 + (1 | g)", "x - 1", [("1", ("g",))]),
    ("y ~ x * f + (1 | g) + (1 | h)", "x * f", [("1", ("g",)), ("1", ("h",))]),
    ("np.log(y) ~ np.log(x) + I(x ** 2) + C(f) + (1 | g)", "np.log(x) + I(x ** 2) + C(f)", [("1", ("g",))]),
    ("y ~ (1 | g)", "1", [("1", ("g",))]),
]


@pytest.mark.parametrize("text, fixed, bars", CASES)
def test_parse_table(text, fixed, bars):
    parsed = parse_formula(text)
    assert parsed.fixed == fixed
    assert [(b.lhs, b.group_vars) for b in parsed.bars] == bars


def test_group_names_as_lme4_prints_them():
    parsed = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [b.group_name for b in parsed.bars] == ["batch", "cask:batch"]


def test_variables_are_collected_in_order():
    parsed = parse_formula("np.log(y) ~ x + C(f, contr.sum) + (z | g/h)")
    assert parsed.variables == ("y", "x", "f", "z", "g", "h")
    assert parsed.response == "np.log(y)"


def test_uncorrelated_flag():
    parsed = parse_formula("y ~ (x || g) + (x | h)")
    assert [b.correlated for b in parsed.bars] == [False, False, True]


@pytest.mark.parametrize("text", ["y ~ __import__('os')", "y ~ x.__class__(1)", "y ~ getattr(x, 'a')",
                                  "y ~ lambda(x)", "y ~ (1 | g) + open(x)"])
def test_only_whitelisted_calls(text):
    from multilevel import FormulaError

    with pytest.raises(FormulaError):
        parse_formula(text)
