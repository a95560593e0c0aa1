"""Tests of the FDIR monitor expression language: syntax, errors, three-valued evaluation."""

from __future__ import annotations

import copy
import enum
import fractions
import math
import pickle
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flight.executive.fdir import (
    MAX_DEPTH,
    MAX_LENGTH,
    UNKNOWN,
    ExprError,
    Expression,
    parse,
    resolve_path,
)

# The unguarded evaluator: the public evaluate() has a last-resort ``except Exception``, so the
# "never raises" properties are checked on the tree itself to prove the net is never needed.
from flight.executive.fdir.expr import _Env


def lookup_from(values: dict[str, object]) -> Callable[[str], object]:
    def lookup(name: str) -> object:
        return values[name]

    return lookup


def ev(text: str, **values: object) -> object:
    """Evaluate ``text`` with names given as keyword arguments using '__' for '.'."""
    names = {key.replace("__", "."): value for key, value in values.items()}
    return parse(text).evaluate(lookup_from(names))


# --------------------------------------------------------------------------------------------
# Literals, names, operators
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("1.5", 1.5),
        ("1e-3", 1e-3),
        ("2E+3", 2000.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("1.e2", 100.0),
        (".25e1", 2.5),
        ("007", 7),
        ("true", True),
        ("false", False),
        ("'SAFE'", "SAFE"),
        ('"POWER_SAVE"', "POWER_SAVE"),
        ("''", ""),
        ("'it\"s'", 'it"s'),
        ("1e999", math.inf),
    ],
)
def test_literals(text: str, expected: object) -> None:
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_names_are_collected_including_deeper_paths() -> None:
    expression = parse(
        "health.cpu_percent > 95 or health.process_cpu_percent.jobs > 50"
        " or executive.restarts.health >= 3 or health.cpu_percent < 0"
    )
    assert expression.names == frozenset(
        {"health.cpu_percent", "health.process_cpu_percent.jobs", "executive.restarts.health"}
    )
    assert expression.text.startswith("health.cpu_percent")
    assert str(expression) == expression.text


def test_keywords_may_appear_as_inner_name_parts() -> None:
    assert ev("app.not == 1", app__not=1) is True
    assert parse("a.true").names == frozenset({"a.true"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("7 % 4 * 2", 6),
        ("8 / 4 / 2", 1.0),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("-(2 + 3)", -5),
        ("-7 % 3", 2),
        ("7.5 % 2", 1.5),
        ("1 + 2 < 4", True),
        ("1 < 2 == true", None),  # chained: parse error, see below
        ("not 1 > 2", True),
        ("not not true", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("not true or true", True),
        ("not (true or true)", False),
        ("1 < 2 and 2 < 3", True),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("2 <= 2", True),
        ("2 >= 3", False),
        ("3 > 2", True),
        ("abs(-3)", 3),
        ("abs(-2.5) + 1", 3.5),
        ("min(3, 1.5, 2)", 1.5),
        ("max(3, 1.5, 2)", 3),
        ("min(1, 2) + max(3, 4) * 2", 9),
        ("'SAFE' == 'SAFE'", True),
        ("'SAFE' != \"SAFE\"", False),
        ("true == false", False),
        ("true != false", True),
    ],
)
def test_operators_and_precedence(text: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(ExprError):
            parse(text)
        return
    result = ev(text)
    assert result == expected
    assert isinstance(result, bool) == isinstance(expected, bool)


# --------------------------------------------------------------------------------------------
# Equivalence with Python on random numeric/boolean expressions
# --------------------------------------------------------------------------------------------

_PY_NAMES = {"a": SimpleNamespace(x=3, y=-2.5), "b": SimpleNamespace(z=7)}
_OUR_NAMES: dict[str, object] = {"a.x": 3, "a.y": -2.5, "b.z": 7}

_numbers = st.one_of(
    st.integers(-50, 50).map(lambda v: ("lit", v)),
    st.integers(-400, 400).map(lambda k: ("lit", k / 8)),
    st.sampled_from(sorted(_OUR_NAMES)).map(lambda n: ("name", n)),
)
_numeric = st.recursive(
    _numbers,
    lambda inner: st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
        st.tuples(st.just("neg"), inner),
        st.tuples(st.just("abs"), inner),
        st.tuples(
            st.just("call"),
            st.sampled_from(["min", "max"]),
            st.lists(inner, min_size=2, max_size=3),
        ),
    ),
    max_leaves=8,
)
_boolean = st.recursive(
    st.one_of(
        st.booleans().map(lambda v: ("bool", v)),
        st.tuples(
            st.just("cmp"), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), _numeric, _numeric
        ),
    ),
    lambda inner: st.one_of(
        st.tuples(st.just("logic"), st.sampled_from(["and", "or"]), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=6,
)


def _render(node: Any, draw: Callable[[], bool]) -> tuple[str, str]:
    """Render ``node`` in (our syntax, Python syntax), dropping parentheses at random.

    Dropping parentheses changes which tree the text means, but both languages read the same
    text, so equal results show that precedence and associativity match Python's.
    """

    def wrap(child: Any) -> tuple[str, str]:
        ours, py = _render(child, draw)
        return (f"({ours})", f"({py})") if draw() else (ours, py)

    kind = node[0]
    if kind == "lit":
        value = node[1]
        text = repr(value)
        if math.copysign(1.0, value) < 0:
            text = f"({text})"
        return text, text
    if kind == "name":
        return node[1], node[1]
    if kind == "bool":
        return ("true" if node[1] else "false"), repr(node[1])
    if kind in ("bin", "cmp", "logic"):
        left, right = wrap(node[2]), wrap(node[3])
        return f"{left[0]} {node[1]} {right[0]}", f"{left[1]} {node[1]} {right[1]}"
    if kind == "neg":
        ours, py = wrap(node[1])
        return f"-{ours}", f"-{py}"
    if kind == "not":
        ours, py = wrap(node[1])
        return f"not {ours}", f"not {py}"
    if kind == "abs":
        ours, py = _render(node[1], draw)
        return f"abs({ours})", f"abs({py})"
    assert kind == "call"
    args = [wrap(arg) for arg in node[2]]
    return (
        f"{node[1]}({', '.join(a[0] for a in args)})",
        f"{node[1]}({', '.join(a[1] for a in args)})",
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.one_of(_numeric, _boolean), data=st.data())
def test_matches_python_semantics(tree: Any, data: st.DataObject) -> None:
    ours_text, py_text = _render(tree, lambda: data.draw(st.booleans()))
    try:
        expression = parse(ours_text)
    except ExprError as exc:
        assume("nested deeper" not in exc.message and "longer than" not in exc.message)
        raise
    ours = expression.evaluate(lookup_from(_OUR_NAMES))
    namespace = {"__builtins__": {}, "min": min, "max": max, "abs": abs, **_PY_NAMES}
    try:
        expected = eval(py_text, namespace)  # test oracle on generated text, never config
    except ZeroDivisionError:
        # Kleene logic may still decide a boolean around the undefined part.
        assert ours is UNKNOWN or isinstance(ours, bool)
        return
    assert ours == expected, (ours_text, py_text)
    assert isinstance(ours, bool) == isinstance(expected, bool)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty"),
        ("   ", 1, "empty"),
        ("health.cpu >", 13, "end of expression"),
        ("1 +", 4, "end of expression"),
        ("health.cpu > 95 95", 17, "unexpected number"),
        ("a.b < b.c < 3", 11, "chained"),
        ("1 == 2 == 3", 8, "chained"),
        ("cpu > 5", 1, "app and a channel"),
        ("True", 1, "did you mean 'true'"),
        ("a.b > 1 and x", 13, "app and a channel"),
        ("a.", 2, "malformed name"),
        ("a.5", 2, "malformed name"),
        ("a.b.", 4, "malformed name"),
        ("1.2.3", 1, "malformed number"),
        ("12abc", 1, "malformed number"),
        ("1e", 2, "exponent"),
        ("1e+", 2, "exponent"),
        ("a.b = 1", 5, "'=='"),
        ("!a.b", 1, "'not'"),
        ("a.b ! 1", 5, "'not'"),
        ("a.b > 1 & a.c", 9, "unexpected character"),
        ("a.b ** 2", 6, "unexpected '*'"),
        ("'SAFE", 1, "unterminated"),
        ('x.y == "SAFE', 8, "unterminated"),
        ("'a\nb'", 1, "unterminated"),
        ("(1 + 2", 7, "column 1"),
        ("min(1, 2", 9, "expected ')'"),
        ("1 + 2)", 6, "unexpected ')'"),
        ("()", 2, "unexpected ')'"),
        ("sqrt(2)", 1, "unknown function"),
        ("a.b(2)", 1, "unknown function"),
        ("abs", 1, "must be called"),
        ("abs(1, 2)", 1, "exactly one"),
        ("abs()", 1, "exactly one"),
        ("min(1)", 1, "at least two"),
        ("max()", 1, "at least two"),
        ("min(1,)", 7, "unexpected ')'"),
        ("1 + not a.b", 5, "unexpected 'not'"),
        ("a.b and", 8, "end of expression"),
        ("or a.b", 1, "unexpected 'or'"),
        ("1 < not 2", 5, "unexpected 'not'"),
        ("a.b\u00a0> 1", 4, "unexpected character"),
        ("\u0661 > 1", 1, "unexpected character"),  # a non-ASCII digit
        ("caf\u00e9.x", 4, "unexpected character"),
    ],
)
def test_error_columns(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.column == column, str(info.value)
    assert fragment in str(info.value)
    assert str(info.value).endswith(f"at column {column}")
    assert isinstance(info.value, ValueError)


def test_expr_error_pickles() -> None:
    error = ExprError("boom", 3)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.message, clone.column, str(clone)) == ("boom", 3, "boom at column 3")


def test_non_string_input_is_an_expr_error() -> None:
    with pytest.raises(ExprError):
        parse(42)  # type: ignore[arg-type]


def test_length_limit() -> None:
    text = "a.b + " * 165 + "1"
    padded = text + " " * (MAX_LENGTH - len(text))
    assert len(padded) == MAX_LENGTH
    parse(padded)
    with pytest.raises(ExprError) as info:
        parse(padded + " ")
    assert "longer than" in info.value.message


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("-", ""), ("not ", ""), ("abs(", ")"), ("(-", ")")],
)
def test_depth_limit(opening: str, closing: str) -> None:
    levels = MAX_DEPTH if opening != "(-" else MAX_DEPTH // 2
    parse(opening * levels + "1" + closing * levels)
    with pytest.raises(ExprError) as info:
        parse(opening * (levels + 1) + "1" + closing * (levels + 1))
    assert "nested deeper" in info.value.message


def test_long_flat_chains_are_fine_and_shallow() -> None:
    # A sum or conjunction of hundreds of terms is long, not deep: it parses and evaluates.
    sum_text = "+".join(["a.b"] * 240)
    assert ev(sum_text, a__b=1) == 240
    and_text = " and ".join(["a.b>0"] * 90)
    assert ev(and_text, a__b=1) is True


_VOCABULARY = [
    "a.b", "c.d.e", "1", "2.5", ".5", "1e3", "0", "'SAFE'", '"x"', "true", "false",
    "and", "or", "not", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/", "%",
    "(", ")", ",", "abs", "min", "max", "foo", "=", "!", ".", "'", "1e", "a.",
]  # fmt: skip


@settings(max_examples=400)
@given(st.text(max_size=60))
def test_arbitrary_text_raises_only_expr_error(text: str) -> None:
    try:
        expression = parse(text)
    except ExprError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    assert isinstance(expression, Expression)


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=25), st.sampled_from(["", " "]))
def test_token_soup_raises_only_expr_error(tokens: list[str], separator: str) -> None:
    text = separator.join(tokens)
    try:
        expression = parse(text)
    except ExprError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    result = expression.root.evaluate(_Env(lookup_from({"a.b": 1, "c.d.e": "SAFE"})))
    assert result is UNKNOWN or isinstance(result, (bool, int, float, str))


# --------------------------------------------------------------------------------------------
# Three-valued evaluation
# --------------------------------------------------------------------------------------------

T, F, U = True, False, UNKNOWN
_TRUTH = {"T": T, "F": F, "U": U}


def _tv(value: object) -> dict[str, object]:
    return {} if value is UNKNOWN else {"t.v": value}


@pytest.mark.parametrize(
    ("left", "right", "conjunction", "disjunction"),
    [
        ("T", "T", "T", "T"),
        ("T", "F", "F", "T"),
        ("T", "U", "U", "T"),
        ("F", "T", "F", "T"),
        ("F", "F", "F", "F"),
        ("F", "U", "F", "U"),
        ("U", "T", "U", "T"),
        ("U", "F", "F", "U"),
        ("U", "U", "U", "U"),
    ],
)
def test_kleene_truth_table(left: str, right: str, conjunction: str, disjunction: str) -> None:
    values: dict[str, object] = {}
    if left != "U":
        values["l.v"] = _TRUTH[left]
    if right != "U":
        values["r.v"] = _TRUTH[right]
    lookup = lookup_from(values)
    assert parse("l.v and r.v").evaluate(lookup) is _TRUTH[conjunction]
    assert parse("l.v or r.v").evaluate(lookup) is _TRUTH[disjunction]
    # The same table holds when the unknown comes from a wrong type instead of a missing name.
    wrong = {
        k: ("text" if v is UNKNOWN else v)
        for k, v in (("l.v", _TRUTH[left]), ("r.v", _TRUTH[right]))
    }
    assert parse("l.v and r.v").evaluate(lookup_from(wrong)) is _TRUTH[conjunction]
    assert parse("l.v or r.v").evaluate(lookup_from(wrong)) is _TRUTH[disjunction]


@pytest.mark.parametrize(("value", "expected"), [(T, F), (F, T), (U, U)])
def test_not_truth_table(value: object, expected: object) -> None:
    assert parse("not t.v").evaluate(lookup_from(_tv(value))) is expected


def test_nary_logic_is_kleene() -> None:
    assert ev("x.a or x.b or x.c", x__a=False, x__c=True) is True
    assert ev("x.a or x.b or x.c", x__a=False, x__c=False) is UNKNOWN
    assert ev("x.a and x.b and x.c", x__a=True, x__c=False) is False
    assert ev("x.a and x.b and x.c", x__a=True, x__c=True) is UNKNOWN


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("health.cpu_percent > 95", {}),  # missing
        ("health.cpu_percent > 95", {"health__cpu_percent": "hot"}),  # str vs number
        ("health.cpu_percent > 95", {"health__cpu_percent": None}),
        ("health.cpu_percent > 95", {"health__cpu_percent": [1, 2]}),
        ("health.cpu_percent > 95", {"health__cpu_percent": {"a": 1}}),
        ("health.cpu_percent > 95", {"health__cpu_percent": Decimal(99)}),
        ("health.cpu_percent > 95", {"health__cpu_percent": math.nan}),
        ("health.cpu_percent == health.cpu_percent", {"health__cpu_percent": math.nan}),
        ("health.cpu_percent != 1", {"health__cpu_percent": math.nan}),
        ("x.flag + 1 > 0", {"x__flag": True}),  # bools are not numbers
        ("x.flag < true", {"x__flag": False}),  # bools are not ordered
        ("-x.flag < 0", {"x__flag": True}),
        ("abs(x.s) > 0", {"x__s": "a"}),
        ("min(x.s, 1) > 0", {"x__s": None}),
        ("x.s + 'b' == 'ab'", {"x__s": "a"}),
        ("x.s < 'b'", {"x__s": "a"}),  # strings are only compared for equality
        ("x.s == 1", {"x__s": "1"}),
        ("x.flag == 1", {"x__flag": True}),
        ("1 / x.n > 0", {"x__n": 0}),
        ("1 % x.n > 0", {"x__n": 0.0}),
        ("x.n / 3 > 0", {"x__n": 10**400}),  # int too large for a float
        ("x.n * 1.5 > 0", {"x__n": 10**400}),
        ("x.n % 0.5 > 0", {"x__n": 10**400}),
        ("(1 < 2) < 3", {}),
        ("not 1", {}),
        ("1 and true", {}),
    ],
)
def test_undecidable_is_unknown(text: str, values: dict[str, object]) -> None:
    assert ev(text, **values) is UNKNOWN


def test_numbers_mix_and_special_values_behave_like_floats() -> None:
    assert ev("x.i + x.f == 3.5", x__i=1, x__f=2.5) is True
    assert ev("x.inf > 1e300", x__inf=math.inf) is True
    assert ev("x.n > 0", x__n=10**400) is True  # comparison stays exact for big ints
    assert ev("min(x.n, 1) > 0", x__n=math.nan) is UNKNOWN
    assert ev("max(1, x.n) > 0", x__n=math.nan) is UNKNOWN
    assert ev("x.inf - x.inf > 0", x__inf=math.inf) is UNKNOWN  # NaN reaches the comparison


def test_non_builtin_numbers_and_enums_are_normalised() -> None:
    class Mode(enum.Enum):
        SAFE = 3

    class Level(enum.IntEnum):
        HIGH = 2

    assert ev("x.n > 1", x__n=np.float32(1.5)) is True
    assert ev("x.n == 7", x__n=np.int64(7)) is True
    assert ev("x.n == 0.5", x__n=fractions.Fraction(1, 2)) is True
    assert ev("executive.mode == 'SAFE'", executive__mode=Mode.SAFE) is True
    assert ev("x.level == 'HIGH'", x__level=Level.HIGH) is True


def test_lookup_errors_are_unknown_and_each_name_is_read_once() -> None:
    calls: list[str] = []

    def lookup(name: str) -> object:
        calls.append(name)
        if name == "x.boom":
            raise RuntimeError("broken telemetry cache")
        return 5

    expression = parse("x.a > 1 and x.a < 9 and (x.boom > 1 or x.a == 5)")
    assert expression.evaluate(lookup) is True
    assert calls.count("x.a") == 1
    assert parse("x.boom > 1").evaluate(lookup) is UNKNOWN


def test_unknown_is_a_singleton_without_truth_value() -> None:
    assert repr(UNKNOWN) == "UNKNOWN" == str(UNKNOWN)
    assert copy.deepcopy(UNKNOWN) is UNKNOWN
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN
    with pytest.raises(TypeError):
        bool(UNKNOWN)


def test_static_kind_of_the_result() -> None:
    assert parse("a.b > 1").kind == "bool"
    assert parse("a.b").kind == "any"
    assert parse("a.b + 1").kind == "number"
    assert parse("-a.b").kind == "number"
    assert parse("max(a.b, 1)").kind == "number"
    assert parse("'x'").kind == "string"
    assert parse("true").kind == "bool"
    assert parse("(a.b or a.c)").kind == "bool"


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from(["SAFE", "NOMINAL", ""]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.fractions(),
    st.decimals(allow_nan=True),
    st.sampled_from([KeyError, RuntimeError, ZeroDivisionError]),
)
_ANY_NAMES = ["a.b", "a.c", "b.d.e"]
_any_leaf = st.one_of(
    st.sampled_from(_ANY_NAMES),
    st.sampled_from(["0", "1", "-1", "2.5", "1e308", "1e-320", "'SAFE'", "true", "false"]),
)
_any_expression = st.recursive(
    _any_leaf,
    lambda inner: st.one_of(
        st.tuples(
            inner,
            st.sampled_from(
                ["+", "-", "*", "/", "%", "<", "<=", "==", "!=", ">", ">=", "and", "or"]
            ),
            inner,
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        inner.map(lambda e: f"abs({e})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda es: f"min({', '.join(es)})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda es: f"max({', '.join(es)})"),
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(_any_expression, st.dictionaries(st.sampled_from(_ANY_NAMES), _ANY_VALUE))
def test_evaluate_never_raises(text: str, values: dict[str, object]) -> None:
    try:
        expression = parse(text)
    except ExprError as exc:
        assume("nested deeper" not in exc.message and "longer than" not in exc.message)
        raise

    def lookup(name: str) -> object:
        value = values[name]
        if isinstance(value, type) and issubclass(value, Exception):
            raise value(name)
        return value

    result = expression.root.evaluate(_Env(lookup))
    assert result is UNKNOWN or isinstance(result, (bool, int, float, str))
    assert expression.evaluate(lookup) == result or result != result  # NaN != NaN


# --------------------------------------------------------------------------------------------
# resolve_path
# --------------------------------------------------------------------------------------------

_TELEMETRY: dict[str, object] = {
    "health": {"cpu_percent": 3.0, "process_cpu_percent": {"jobs": 12.0}},
    "executive": {"mode": "NOMINAL", "restarts": {"health": 2}},
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("health.cpu_percent", 3.0),
        ("health.process_cpu_percent.jobs", 12.0),
        ("executive.restarts.health", 2),
        ("health.process_cpu_percent", {"jobs": 12.0}),
    ],
)
def test_resolve_path_walks_nested_mappings(name: str, expected: object) -> None:
    assert resolve_path(_TELEMETRY, name) == expected


@pytest.mark.parametrize(
    "name", ["power.soc", "health.memory", "health.cpu_percent.x", "health.process_cpu_percent.db"]
)
def test_resolve_path_missing_raises_key_error(name: str) -> None:
    with pytest.raises(KeyError):
        resolve_path(_TELEMETRY, name)


def test_resolve_path_as_lookup() -> None:
    def lookup(name: str) -> object:
        return resolve_path(_TELEMETRY, name)

    assert parse("health.process_cpu_percent.jobs > 10").evaluate(lookup) is True
    assert parse("executive.mode == 'SAFE'").evaluate(lookup) is False
    assert parse("executive.restarts.jobs > 1").evaluate(lookup) is UNKNOWN
    assert parse("health.process_cpu_percent > 1").evaluate(lookup) is UNKNOWN
