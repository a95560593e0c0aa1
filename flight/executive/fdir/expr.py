"""The small, safe expression language of FDIR monitors.

Monitors are written by flatsat engineers into TOML files that are uplinked to a spacecraft nobody
can reach with a screwdriver. The text must therefore never be handed to ``eval``: it is read by a
hand-written tokenizer and recursive-descent parser into a tree of small frozen dataclasses, and
the tree is evaluated by walking it. The parser rejects every input it does not understand with
one error type, :class:`ExprError`, carrying the column, so the configuration loader can tell the
engineer exactly where the typo is and refuse to start.

Telemetry is incomplete by nature (an app has not published yet, a sensor dropped out, a value is
NaN), so evaluation is three-valued: anything that cannot be decided yields :data:`UNKNOWN`, and
``and``/``or`` follow Kleene logic so a decided part can still decide the whole. Evaluation never
raises, because an exception inside the fault-protection loop would itself be a fault.

See ``docs/fdir.md`` for the grammar and the semantics.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "UNKNOWN",
    "ExprError",
    "Expression",
    "Unknown",
    "Value",
    "parse",
    "resolve_path",
]

#: Longest accepted expression text; a monitor longer than this is a configuration mistake, and
#: the bound keeps parsing and evaluation time trivially small.
MAX_LENGTH: Final = 1000

#: Deepest accepted nesting (parentheses, function calls, unary minus, ``not``). It bounds the
#: recursion of both the parser and the evaluator far below Python's recursion limit.
MAX_DEPTH: Final = 32


class ExprError(ValueError):
    """The expression text is not valid; ``column`` (1-based) says where the problem is."""

    def __init__(self, message: str, column: int) -> None:
        # Both parts go to ValueError so the exception pickles and compares like a plain one.
        super().__init__(message, column)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} at column {self.column}"


class Unknown(enum.Enum):
    """The third truth value: the expression cannot be decided from the available telemetry.

    An enum member so it is a true singleton (survives copy and pickle) and mypy can narrow on
    ``value is UNKNOWN``.
    """

    UNKNOWN = "UNKNOWN"

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __str__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # Like pandas.NA: treating "unknown" as false (or true) must be an explicit decision.
        raise TypeError("UNKNOWN has no truth value; test the result with 'is True'")


#: Result of anything that cannot be decided: missing telemetry, wrong types, division by zero,
#: NaN in a comparison.
UNKNOWN: Final = Unknown.UNKNOWN

#: What an expression (or any sub-expression) evaluates to.
Value: TypeAlias = bool | int | float | str | Unknown


def resolve_path(values: Mapping[str, object], name: str) -> object:
    """Resolve a dotted ``name`` against nested mappings, raising KeyError when it is missing.

    This is the lookup the executive hands to :meth:`Expression.evaluate`: its telemetry cache is
    a mapping app -> channel -> value, where a value may itself be a mapping (per-process figures,
    per-app restart counters) addressed by the deeper parts of the name.
    """
    current: object = values
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise KeyError(name)
        current = current[part]
    return current


# --------------------------------------------------------------------------------------------
# Evaluation helpers
# --------------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python, but "true + 1" is a mistake in a monitor, not arithmetic.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _normalize(raw: object) -> Value:
    """Map a looked-up telemetry value onto the language's value types (or UNKNOWN).

    Enum members become their name so ``executive.mode == 'SAFE'`` works whether the executive
    publishes the enum or its name; numpy scalars and other numeric types become int or float.
    """
    try:
        if isinstance(raw, enum.Enum):
            return raw.name
        if isinstance(raw, (bool, int, float, str)):
            return raw
        if isinstance(raw, numbers.Integral):
            return int(raw)
        if isinstance(raw, numbers.Real):
            return float(raw)
    except Exception:
        return UNKNOWN
    return UNKNOWN


class _Env:
    """Per-evaluation lookup memo: each name is read once, so the tree sees one consistent value."""

    __slots__ = ("_cache", "_lookup")

    def __init__(self, lookup: Callable[[str], object]) -> None:
        self._lookup = lookup
        self._cache: dict[str, Value] = {}

    def get(self, name: str) -> Value:
        try:
            return self._cache[name]
        except KeyError:
            pass
        try:
            value = _normalize(self._lookup(name))
        except Exception:
            # KeyError is the documented "unknown"; anything else from a buggy lookup must not
            # take the fault-protection loop down either.
            value = UNKNOWN
        self._cache[name] = value
        return value


def _compare(op: str, left: Value, right: Value) -> Value:
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if _is_number(left) and _is_number(right):
        assert isinstance(left, (int, float)) and isinstance(right, (int, float))
        if _is_nan(left) or _is_nan(right):
            return UNKNOWN
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        return (left == right) if op == "==" else (left != right)
    if op in ("==", "!=") and (
        (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, bool) and isinstance(right, bool))
    ):
        return (left == right) if op == "==" else (left != right)
    return UNKNOWN


def _arithmetic(op: str, left: Value, right: Value) -> Value:
    if not (_is_number(left) and _is_number(right)):
        return UNKNOWN
    assert isinstance(left, (int, float)) and isinstance(right, (int, float))
    try:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return left / right
        return left % right
    except ArithmeticError:
        # ZeroDivisionError, and OverflowError when a huge int meets a float.
        return UNKNOWN


# --------------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------------


class Node:
    """Base of the syntax tree; ``kind`` is the statically known result type, if any."""

    __slots__ = ()

    #: "bool", "number", "string" or "any" (a name: its type is only known at run time).
    kind: str = "any"

    def evaluate(self, env: _Env) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Node):
    """A number, string, ``true`` or ``false``."""

    value: bool | int | float | str

    @property
    def kind(self) -> str:  # type: ignore[override]
        if isinstance(self.value, bool):
            return "bool"
        return "string" if isinstance(self.value, str) else "number"

    def evaluate(self, env: _Env) -> Value:
        return self.value


@dataclass(frozen=True)
class Name(Node):
    """A dotted telemetry name such as ``health.cpu_percent``."""

    name: str

    def evaluate(self, env: _Env) -> Value:
        return env.get(self.name)


@dataclass(frozen=True)
class Negate(Node):
    """Unary minus."""

    operand: Node
    kind = "number"

    def evaluate(self, env: _Env) -> Value:
        value = self.operand.evaluate(env)
        if not _is_number(value):
            return UNKNOWN
        assert isinstance(value, (int, float))
        return -value


@dataclass(frozen=True)
class Not(Node):
    """Logical negation; ``not UNKNOWN`` stays UNKNOWN."""

    operand: Node
    kind = "bool"

    def evaluate(self, env: _Env) -> Value:
        value = self.operand.evaluate(env)
        if isinstance(value, bool):
            return not value
        return UNKNOWN


@dataclass(frozen=True)
class Compare(Node):
    """One comparison; chains like ``a < b < c`` are rejected by the parser."""

    op: str
    left: Node
    right: Node
    kind = "bool"

    def evaluate(self, env: _Env) -> Value:
        return _compare(self.op, self.left.evaluate(env), self.right.evaluate(env))


@dataclass(frozen=True)
class Arithmetic(Node):
    """A left-associative run of ``+ -`` or ``* / %``.

    Kept n-ary rather than as nested binary nodes so a long sum does not make a deep tree: the
    evaluator's recursion depth stays bounded by the nesting limit, not by the text length.
    """

    first: Node
    rest: tuple[tuple[str, Node], ...]
    kind = "number"

    def evaluate(self, env: _Env) -> Value:
        value = self.first.evaluate(env)
        for op, operand in self.rest:
            value = _arithmetic(op, value, operand.evaluate(env))
        return value


@dataclass(frozen=True)
class Logical(Node):
    """An n-ary ``and`` or ``or`` with Kleene semantics and short-circuit evaluation."""

    op: str
    operands: tuple[Node, ...]
    kind = "bool"

    def evaluate(self, env: _Env) -> Value:
        # The dominant value decides the whole (false for 'and', true for 'or'); otherwise any
        # operand that is not a bool (UNKNOWN or a wrong type) leaves the result undecided.
        dominant = self.op == "or"
        result: Value = not dominant
        for operand in self.operands:
            value = operand.evaluate(env)
            if value is dominant:
                return dominant
            if value is not (not dominant):
                result = UNKNOWN
        return result


@dataclass(frozen=True)
class Call(Node):
    """``abs(x)``, ``min(a, b, ...)`` or ``max(a, b, ...)``: the only callable functions."""

    function: str
    args: tuple[Node, ...]
    kind = "number"

    def evaluate(self, env: _Env) -> Value:
        values = [arg.evaluate(env) for arg in self.args]
        numbers_: list[int | float] = []
        for value in values:
            if not _is_number(value):
                return UNKNOWN
            assert isinstance(value, (int, float))
            numbers_.append(value)
        if self.function == "abs":
            return abs(numbers_[0])
        if any(_is_nan(value) for value in numbers_):
            # Python's min/max answer depends on argument order when NaN is present.
            return math.nan
        return min(numbers_) if self.function == "min" else max(numbers_)


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

_DIGITS: Final = frozenset("0123456789")
_IDENT_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS: Final = _IDENT_START | _DIGITS
_WHITESPACE: Final = frozenset(" \t\r\n")
_KEYWORDS: Final = frozenset({"and", "or", "not", "true", "false"})
_FUNCTIONS: Final = frozenset({"abs", "min", "max"})
_COMPARISONS: Final = frozenset({"<", "<=", ">", ">=", "==", "!="})
_TWO_CHAR_OPS: Final = frozenset({"<=", ">=", "==", "!="})
_ONE_CHAR_OPS: Final = frozenset("<>+-*/%(),")


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "string", "name", "keyword", "op" or "end"
    text: str
    column: int
    value: bool | int | float | str | None = None

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "name":
            return f"name '{self.text}'"
        if self.kind == "number":
            return f"number {self.text}"
        if self.kind == "string":
            return f"string {self.text}"
        return f"'{self.text}'"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
        elif c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _number(text, i, tokens)
        elif c in _IDENT_START:
            i = _word(text, i, tokens)
        elif c in "'\"":
            end = text.find(c, i + 1)
            if end < 0 or "\n" in text[i + 1 : end]:
                raise ExprError("unterminated string", i + 1)
            tokens.append(_Token("string", text[i : end + 1], i + 1, text[i + 1 : end]))
            i = end + 1
        elif text[i : i + 2] in _TWO_CHAR_OPS:
            tokens.append(_Token("op", text[i : i + 2], i + 1))
            i += 2
        elif c in _ONE_CHAR_OPS:
            tokens.append(_Token("op", c, i + 1))
            i += 1
        elif c == "=":
            raise ExprError("unexpected '='; use '==' to compare", i + 1)
        elif c == "!":
            raise ExprError("unexpected '!'; use 'not' or '!='", i + 1)
        else:
            raise ExprError(f"unexpected character {c!r}", i + 1)
    tokens.append(_Token("end", "", n + 1))
    return tokens


def _number(text: str, start: int, tokens: list[_Token]) -> int:
    i, n = start, len(text)
    is_float = False
    while i < n and text[i] in _DIGITS:
        i += 1
    if i < n and text[i] == ".":
        is_float = True
        i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j >= n or text[j] not in _DIGITS:
            raise ExprError("malformed exponent in number", i + 1)
        is_float = True
        i = j
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and (text[i] in _IDENT_CHARS or text[i] == "."):
        raise ExprError("malformed number", start + 1)
    literal = text[start:i]
    # Only ASCII digits reach here and the text is at most MAX_LENGTH long, so neither
    # conversion can fail (a huge float literal becomes inf, as in Python).
    value: int | float = float(literal) if is_float else int(literal)
    tokens.append(_Token("number", literal, start + 1, value))
    return i


def _word(text: str, start: int, tokens: list[_Token]) -> int:
    i, n = start, len(text)
    while True:
        while i < n and text[i] in _IDENT_CHARS:
            i += 1
        if i < n and text[i] == ".":
            if i + 1 < n and text[i + 1] in _IDENT_START:
                i += 1
                continue
            raise ExprError("malformed name: each part after '.' must be an identifier", i + 1)
        break
    word = text[start:i]
    if word in _KEYWORDS:
        value = {"true": True, "false": False}.get(word)
        tokens.append(_Token("keyword", word, start + 1, value))
    else:
        tokens.append(_Token("name", word, start + 1))
    return i


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent, one method per precedence level (lowest first)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._pos = 0
        self._depth = 0
        self.names: set[str] = set()

    def _peek(self) -> _Token:
        return self._tokens[self._pos]

    def _advance(self) -> _Token:
        token = self._tokens[self._pos]
        if token.kind != "end":
            self._pos += 1
        return token

    def _at(self, kind: str, text: str) -> bool:
        token = self._tokens[self._pos]
        return token.kind == kind and token.text == text

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH} levels", token.column)

    def _leave(self) -> None:
        self._depth -= 1

    def _expect_close(self, opening: _Token) -> None:
        token = self._peek()
        if not self._at("op", ")"):
            raise ExprError(
                f"expected ')' to close '(' at column {opening.column}, got {token.describe()}",
                token.column,
            )
        self._advance()

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise ExprError("empty expression", 1)
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ExprError(f"unexpected {token.describe()}", token.column)
        return node

    def _or(self) -> Node:
        operands = [self._and()]
        while self._at("keyword", "or"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Logical("or", tuple(operands))

    def _and(self) -> Node:
        operands = [self._not()]
        while self._at("keyword", "and"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else Logical("and", tuple(operands))

    def _not(self) -> Node:
        if self._at("keyword", "not"):
            token = self._advance()
            self._enter(token)
            operand = self._not()
            self._leave()
            return Not(operand)
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._sum()
        token = self._peek()
        if token.kind != "op" or token.text not in _COMPARISONS:
            return left
        self._advance()
        right = self._sum()
        after = self._peek()
        if after.kind == "op" and after.text in _COMPARISONS:
            raise ExprError("comparisons cannot be chained; combine them with 'and'", after.column)
        return Compare(token.text, left, right)

    def _sum(self) -> Node:
        return self._binary(("+", "-"), self._term)

    def _term(self) -> Node:
        return self._binary(("*", "/", "%"), self._unary)

    def _binary(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        rest: list[tuple[str, Node]] = []
        while self._peek().kind == "op" and self._peek().text in ops:
            op = self._advance().text
            rest.append((op, operand()))
        return Arithmetic(first, tuple(rest)) if rest else first

    def _unary(self) -> Node:
        if self._at("op", "-"):
            token = self._advance()
            self._enter(token)
            operand = self._unary()
            self._leave()
            return Negate(operand)
        return self._primary()

    def _primary(self) -> Node:
        token = self._advance()
        if token.kind in ("number", "string"):
            assert token.value is not None
            return Literal(token.value)
        if token.kind == "keyword" and token.text in ("true", "false"):
            return Literal(token.text == "true")
        if token.kind == "name":
            if self._at("op", "("):
                return self._call(token)
            return self._name(token)
        if token.kind == "op" and token.text == "(":
            self._enter(token)
            node = self._or()
            self._expect_close(token)
            self._leave()
            return node
        raise ExprError(f"unexpected {token.describe()}", token.column)

    def _name(self, token: _Token) -> Node:
        if "." not in token.text:
            if token.text in _FUNCTIONS:
                raise ExprError(f"function '{token.text}' must be called with '('", token.column)
            hint = ""
            if token.text.lower() in ("true", "false"):
                hint = f"; did you mean '{token.text.lower()}'?"
            raise ExprError(
                f"name '{token.text}' needs an app and a channel, e.g. 'health.cpu_percent'" + hint,
                token.column,
            )
        self.names.add(token.text)
        return Name(token.text)

    def _call(self, name: _Token) -> Node:
        if name.text not in _FUNCTIONS:
            raise ExprError(
                f"unknown function '{name.text}'; only abs, min and max can be called",
                name.column,
            )
        opening = self._advance()
        self._enter(opening)
        args: list[Node] = []
        if not self._at("op", ")"):
            args.append(self._or())
            while self._at("op", ","):
                self._advance()
                args.append(self._or())
        self._expect_close(opening)
        self._leave()
        if name.text == "abs" and len(args) != 1:
            raise ExprError(f"abs() takes exactly one argument, got {len(args)}", name.column)
        if name.text != "abs" and len(args) < 2:
            raise ExprError(
                f"{name.text}() takes at least two arguments, got {len(args)}", name.column
            )
        return Call(name.text, tuple(args))


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed monitor expression: the source text, its tree and the telemetry names it reads."""

    text: str
    root: Node = field(repr=False)
    names: frozenset[str]

    @property
    def kind(self) -> str:
        """Statically known result type: "bool", "number", "string" or "any" (a bare name).

        The rule loader uses it to reject monitors such as ``health.cpu_percent - 95`` that can
        never be exactly true and would therefore never fire.
        """
        return self.root.kind

    def evaluate(self, lookup: Callable[[str], object]) -> Value:
        """Evaluate against ``lookup`` (name -> value, KeyError if unknown); never raises."""
        try:
            return self.root.evaluate(_Env(lookup))
        except Exception:
            # Defence in depth only: the tree is built so that nothing here can raise.
            return UNKNOWN

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`, raising :class:`ExprError` on any bad input."""
    if not isinstance(text, str):
        raise ExprError(f"expression must be a string, not {type(text).__name__}", 1)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    parser = _Parser(_tokenize(text))
    root = parser.parse()
    return Expression(text, root, frozenset(parser.names))
