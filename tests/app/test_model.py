"""The declarative app model: value checking, argument binding, limits and declarations."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.app import (
    App,
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Field,
    InvalidValue,
    Limits,
    Param,
    Severity,
    ValueType,
)

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
NON_FINITE = [math.nan, -math.nan, math.inf, -math.inf]

anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300),
    st.binary(max_size=5), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.tuples(st.integers()), st.complex_numbers(), st.just(object()),
)
bounds = st.one_of(st.none(), st.integers(-1000, 1000))


def check(field: Field, value: Any) -> Any:
    """field.check(value), or the InvalidValue class; any other exception fails the test."""
    try:
        return field.check(value)
    except InvalidValue:
        return InvalidValue


# ---------------------------------------------------------------- every type

@settings(deadline=None, max_examples=300)
@given(kind=st.sampled_from([t for t in ValueType if t is not ValueType.MAP]), value=anything,
       lo=bounds, hi=bounds)
def test_check_raises_only_invalid_value(kind: ValueType, value: Any, lo: int | None,
                                         hi: int | None) -> None:
    field = Field("x", kind, "doc", min=lo, max=hi, choices=("a", "b"))
    check(field, value)


@given(value=st.integers(INT64_MIN, UINT64_MAX), lo=bounds, hi=bounds)
def test_int_in_range_is_kept(value: int, lo: int | None, hi: int | None) -> None:
    field = Field("x", ValueType.INT, "doc", min=lo, max=hi)
    inside = (lo is None or value >= lo) and (hi is None or value <= hi)
    result = check(field, value)
    if inside:
        assert result == value and type(result) is int
    else:
        assert result is InvalidValue


@given(value=st.integers(-(2**53), 2**53))
def test_int_valued_float_is_accepted_as_int(value: int) -> None:
    result = Field("x", ValueType.INT, "doc").check(float(value))
    assert result == value and type(result) is int


@given(value=st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)))
def test_fractional_float_is_not_an_int(value: float) -> None:
    assert check(Field("x", ValueType.INT, "doc"), value) is InvalidValue


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30, 1e20, -1e19, 1e300])
def test_int_outside_64_bits_is_refused(value: float) -> None:
    """The bus and the checkpoint store (msgpack) cannot carry it: refuse it at the door."""
    assert check(Field("x", ValueType.INT, "doc"), value) is InvalidValue


def test_int_64_bit_edges_are_accepted() -> None:
    field = Field("x", ValueType.INT, "doc")
    assert field.check(2**64 - 1) == 2**64 - 1
    assert field.check(-(2**63)) == -(2**63)


@pytest.mark.parametrize("kind", [ValueType.INT, ValueType.FLOAT])
@pytest.mark.parametrize("value", [*NON_FINITE, True, False, "1", None, [1], b"1", 1j])
def test_numbers_refuse_non_finite_bools_and_non_numbers(kind: ValueType, value: Any) -> None:
    assert check(Field("x", kind, "doc"), value) is InvalidValue



@pytest.mark.parametrize("value", [10**400, -(10**400), 2**1024])
def test_float_refuses_an_int_too_large_for_a_double(value: int) -> None:
    """float() would raise OverflowError; a config value like this must be a clean error."""
    with pytest.raises(InvalidValue, match="too large"):
        Field("x", ValueType.FLOAT, "doc").check(value)
    assert Field("x", ValueType.FLOAT, "doc").check(2**1023) == float(2**1023)

@given(value=st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False,
                                                                allow_infinity=False)),
       lo=bounds, hi=bounds)
def test_float_in_range_becomes_float(value: float, lo: int | None, hi: int | None) -> None:
    field = Field("x", ValueType.FLOAT, "doc", min=lo, max=hi)
    result = check(field, value)
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        assert result == value and type(result) is float
    else:
        assert result is InvalidValue


def test_bounds_are_inclusive() -> None:
    field = Field("x", ValueType.FLOAT, "doc", min=0.5, max=1.5)
    assert field.check(0.5) == 0.5 and field.check(1.5) == 1.5
    assert check(field, 0.4999) is InvalidValue and check(field, 1.5001) is InvalidValue
    assert Field("n", ValueType.INT, "doc", min=0, max=3).check(3.0) == 3


@given(value=anything)
def test_bool_accepts_only_bools(value: Any) -> None:
    result = check(Field("x", ValueType.BOOL, "doc"), value)
    if isinstance(value, bool):
        assert result is value
    else:
        assert result is InvalidValue  # 0 and 1 are numbers, not switches


@given(value=anything, max_len=st.integers(0, 300))
def test_str_accepts_text_up_to_max_len(value: Any, max_len: int) -> None:
    result = check(Field("x", ValueType.STR, "doc", max_len=max_len), value)
    if isinstance(value, str) and len(value) <= max_len:
        assert result == value
    else:
        assert result is InvalidValue


@given(value=st.one_of(st.sampled_from(["on", "off", "ON", "", "on "]), anything))
def test_enum_accepts_only_its_choices(value: Any) -> None:
    result = check(Field("x", ValueType.ENUM, "doc", choices=("on", "off")), value)
    assert result == value if value in ("on", "off") else result is InvalidValue


@given(value=anything)
def test_any_accepts_scalars_unchanged(value: Any) -> None:
    result = check(Field("x", ValueType.ANY, "doc"), value)
    if value is None or isinstance(value, (bool, int, float, str)):
        assert result is value
    else:
        assert result is InvalidValue


# ---------------------------------------------------------------- declarations

@pytest.mark.parametrize("name", ["", "X", "1a", "a-b", "a b", "é", "a" * 49, "_a"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(TypeError):
        Field(name, ValueType.INT, "doc")
    with pytest.raises(TypeError):
        Command(name, "doc")
    with pytest.raises(TypeError):
        Channel(name, ValueType.INT, "doc")


def test_good_names() -> None:
    assert Field("a" * 48, ValueType.INT, "doc").name == "a" * 48
    assert Field("a_1", ValueType.INT, "doc").name == "a_1"
    assert Event("A_1", Severity.INFO, "t").name == "A_1"
    with pytest.raises(TypeError):
        Event("lower", Severity.INFO, "t")


def test_enum_needs_choices_and_a_map_argument_is_a_table_of_scalars() -> None:
    with pytest.raises(TypeError):
        Field("x", ValueType.ENUM, "doc")
    assert Channel("x", ValueType.MAP, "doc").type is ValueType.MAP
    table = Field("params", ValueType.MAP, "doc", default=None)
    assert table.check(None) == {} and table.check({"n": 3, "s": "a"}) == {"n": 3, "s": "a"}
    for bad in ([1], {"Bad Name": 1}, {"n": [1, 2]}, {"n": {"deep": 1}},
                {f"k{i}": i for i in range(65)}):
        with pytest.raises(InvalidValue):
            table.check(bad)


def test_defaults_are_checked_at_declaration() -> None:
    with pytest.raises(InvalidValue):
        Param("gain", ValueType.INT, 11, "doc", max=10)
    with pytest.raises(InvalidValue):
        Param("name", ValueType.ENUM, "c", "doc", choices=("a", "b"))
    assert Param("gain", ValueType.INT, 10, "doc", max=10).default == 10
    assert Param("gain", ValueType.INT, 1, "doc").required is False
    assert Arg("gain", ValueType.INT, "doc").required is True


def test_describe() -> None:
    field = Param("gain", ValueType.FLOAT, 1.0, "Gain.", min=0, max=2, unit="V")
    assert field.describe() == {"name": "gain", "type": "float", "doc": "Gain.", "default": 1.0,
                                "min": 0, "max": 2, "unit": "V"}
    assert Arg("m", ValueType.ENUM, "d", choices=("a",)).describe() == {
        "name": "m", "type": "enum", "doc": "d", "choices": ["a"]}


# ---------------------------------------------------------------- binding arguments

MOVE = Command("move", "Move.", args=(
    Arg("axis", ValueType.ENUM, "Axis.", choices=("x", "y")),
    Arg("steps", ValueType.INT, "Steps.", min=1, max=100),
    Arg("fast", ValueType.BOOL, "Fast.", default=False),
))


def test_bind_checks_and_fills_defaults() -> None:
    assert MOVE.bind({"axis": "x", "steps": 5.0}) == {"axis": "x", "steps": 5, "fast": False}
    assert MOVE.bind({"axis": "y", "steps": 1, "fast": True}) == {"axis": "y", "steps": 1,
                                                                  "fast": True}


@pytest.mark.parametrize("raw,why", [
    ({"steps": 5}, "missing argument: axis"),
    ({"axis": "x"}, "missing argument: steps"),
    ({"axis": "x", "steps": 5, "speed": 1, "extra": 2}, "unknown argument(s): extra, speed"),
    ({"axis": "z", "steps": 5}, "axis"),
    ({"axis": "x", "steps": 0}, "below the minimum"),
    ({"axis": "x", "steps": 5, "fast": 1}, "expected true or false"),
])
def test_bind_refuses(raw: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidValue, match=why.replace("(", r"\(").replace(")", r"\)")):
        MOVE.bind(raw)


@given(raw=st.dictionaries(st.sampled_from(["axis", "steps", "fast", "other"]), anything,
                           max_size=4))
def test_bind_raises_only_invalid_value(raw: dict[str, Any]) -> None:
    try:
        bound = MOVE.bind(raw)
    except InvalidValue:
        return
    assert set(bound) == {"axis", "steps", "fast"}
    assert "other" not in raw


def test_duplicate_argument_names_are_refused() -> None:
    with pytest.raises(TypeError):
        Command("c", "doc", args=(Arg("a", ValueType.INT, "d"), Arg("a", ValueType.STR, "d")))


# ---------------------------------------------------------------- limits

optional = st.one_of(st.none(), st.floats(-100, 100))


@given(value=st.floats(allow_nan=False), yl=optional, yh=optional, rl=optional, rh=optional)
def test_limits_state(value: float, yl: float | None, yh: float | None, rl: float | None,
                      rh: float | None) -> None:
    limits = Limits(yellow_low=yl, yellow_high=yh, red_low=rl, red_high=rh)

    def outside(low: float | None, high: float | None) -> bool:
        return (low is not None and value < low) or (high is not None and value > high)

    expected = "red" if outside(rl, rh) else "yellow" if outside(yl, yh) else "nominal"
    assert limits.state(value) == expected


def test_limits_examples() -> None:
    limits = Limits(yellow_low=10, yellow_high=20, red_low=5, red_high=25)
    states = [limits.state(v) for v in (4.9, 5, 9.9, 10, 15, 20, 20.1, 25, 25.1)]
    assert states == ["red", "yellow", "yellow", "nominal", "nominal", "nominal", "yellow",
                      "yellow", "red"]
    assert Limits().state(1e300) == "nominal"
    assert Limits(yellow_high=0).state(1) == "yellow"  # the counters' "any is too many"
    assert limits.describe() == {"yellow_low": 10, "yellow_high": 20, "red_low": 5,
                                 "red_high": 25}


# ---------------------------------------------------------------- app models

@pytest.mark.parametrize("field,items", [
    ("commands", (Command("a", "d"), Command("a", "e"))),
    ("telemetry", (Channel("a", ValueType.INT, "d"), Channel("a", ValueType.STR, "d"))),
    ("events", (Event("A", Severity.INFO, "t"), Event("A", Severity.ERROR, "t"))),
    ("parameters", (Param("a", ValueType.INT, 1, "d"), Param("a", ValueType.INT, 2, "d"))),
])
def test_app_model_refuses_duplicate_names(field: str, items: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="duplicate"):
        AppModel(**{field: items})


def test_merged_model_puts_the_base_first_and_refuses_clashes() -> None:
    base = AppModel(commands=(Command("noop", "d"),))
    own = AppModel(commands=(Command("go", "d"),))
    assert [c.name for c in own.merged(base).commands] == ["noop", "go"]
    assert own.merged(base).command("go") is own.commands[0]
    assert own.merged(base).command("missing") is None
    with pytest.raises(TypeError):
        AppModel(commands=(Command("noop", "d"),)).merged(base)


def test_app_subclass_without_a_handler_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match=r"without do_ handlers: \['x'\]"):
        class Broken(App):
            model = AppModel(commands=(Command("x", "doc"),))


def test_app_subclass_with_a_non_callable_handler_is_refused() -> None:
    with pytest.raises(TypeError):
        class Broken(App):
            model = AppModel(commands=(Command("x", "doc"),))
            do_x = 5


def test_app_subclass_with_handlers_gets_the_common_commands() -> None:
    class Fine(App):
        model = AppModel(commands=(Command("x", "doc"),))

        def do_x(self) -> None:
            return None

    names = [c.name for c in Fine.full_model.commands]
    assert names[-1] == "x" and "noop" in names and "param_load" in names
    assert App.full_model.command("x") is None  # the base class is untouched

