"""The formula stage: lme4 syntax -> response, fixed part and expanded bars (table-driven)."""
import pytest

from multilevel.errors import FormulaError
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


# ---- issue 10: faults that used to escape as RecursionError / NameError / DataError


def test_deep_nesting_is_a_formula_error_not_recursion():
    from multilevel import FormulaError

    text = "y ~ " + "(" * 5000 + "x" + ")" * 5000
    with pytest.raises(FormulaError, match="nested more than 100 deep") as info:
        parse_formula(text)
    assert info.value.pos == text.index("(") + 100
    assert parse_formula("y ~ " + "(" * 100 + "x" + ")" * 100).fixed  # the limit itself parses


@pytest.mark.parametrize(
    "text, words, at",
    [
        ("y ~ x + ofset(z) + (1 | g)", "did you mean offset(...)?", "ofset"),
        ("y ~ x + offset(log(z) + (1 | g)", "unmatched '(' of offset(...)", "("),
        ("y ~ x + offset() + (1 | g)", "offset() needs an expression", "offset"),
        ("y ~ x + offset(z, w) + (1 | g)", "offset(...) takes one expression, not 2", ","),
        ("y ~ x:offset(z) + (1 | g)", "must be a term of its own", "offset"),
        ("y ~ x + (offset(z) | g)", "must be a term of its own", "offset"),
        ("offset(y) ~ x", "must be a term of its own", "offset"),
        ("y ~ x + cbind(a, b)", "only allowed as the response", "cbind"),
    ],
    ids=["misspelt", "unbalanced", "empty", "two-arguments", "in-interaction", "in-bar", "in-response",
         "cbind-on-right"],
)
def test_offset_faults_name_the_token(text, words, at):
    from multilevel import FormulaError

    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert words in str(info.value)
    assert info.value.pos == text.index(at) and info.value.text == text


def test_offset_still_parses():
    parsed = parse_formula("y ~ x + offset(np.log(n)) + offset(z) + (1 | g)")
    assert parsed.offsets == ("np.log(n)", "z") and parsed.fixed == "x"
    assert parsed.variables == ("y", "x", "n", "z", "g")


@pytest.mark.parametrize(
    "text, count",
    [
        ("y ~ " + "*".join(f"v{i}" for i in range(12)), "4095"),
        ("y ~ (" + " + ".join(f"v{i}" for i in range(16)) + ")^16", "65535"),
        ("y ~ x + (" + "*".join(f"v{i}" for i in range(11)) + " | g)", "2047"),
    ],
    ids=["12-way-star", "power-16", "bar-left-side"],
)
def test_term_explosion_is_a_formula_error_not_a_hang(text, count):
    # formulaic took 11 s for the first and did not finish the second within minutes
    from multilevel import FormulaError

    with pytest.raises(FormulaError, match=f"expands to up to {count} terms"):
        parse_formula(text)


@pytest.mark.parametrize("text", ["y ~ (a + b + c)^2", "y ~ a*b*c*d", "y ~ x^(2)", "y ~ (a + b)^1e999",
                                  "y ~ (" + "- " * 3000 + "x)"])
def test_term_count_accepts_ordinary_formulas(text):
    parse_formula(text)


@pytest.mark.parametrize("text", ["- ~ y", "1 ~ x", "(-) ~ x", "log() ~ x"])
def test_response_without_a_column(text):
    # found by tests/test_fuzz_formula.py: "- ~ y" reached formulaic, whose result had no left side
    # (raw AttributeError: 'DataFrame' object has no attribute 'lhs')
    from multilevel import FormulaError

    with pytest.raises(FormulaError, match="the response must name a data column") as info:
        parse_formula(text)
    assert info.value.pos == 0


def test_brms_gr_grouping():
    """brms's (1 + x | gr(g, cor = FALSE)) is (1 + x || g); gr(g) is g; options it cannot honour are errors."""
    plain, uncorrelated = parse_formula("y ~ x + (1 + x | gr(g))"), parse_formula("y ~ x + (1 + x | gr(g, cor = FALSE))")
    assert [(b.lhs, b.group_vars, b.correlated) for b in plain.bars] == [("1 + x", ("g",), True)]
    assert [(b.lhs, b.correlated) for b in uncorrelated.bars] == \
        [(b.lhs, b.correlated) for b in parse_formula("y ~ x + (1 + x || g)").bars]
    for bad, message in [("y ~ (1 | gr(g, by = z))", "by = z.*not available"), ("y ~ (1 | gr(cor = F))", "grouping factor first"),
                         ("y ~ (1 | gr(g, foo = 1))", "unknown gr\\(\\) option 'foo'")]:
        with pytest.raises(FormulaError, match=message):
            parse_formula(bad)
