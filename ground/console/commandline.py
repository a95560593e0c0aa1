"""The console's command line: parsing, validation as you type, and Tab completion.

Syntax (one command per line)::

    APP.COMMAND [ARG=VALUE ...]

    health.noop
    power.load_off load=compute
    executive.set_mode mode=POWER_SAVE why="battery low"
    executive.exit_safe mode=NOMINAL          # hazardous: confirmed, then arm + command

Values are read by the argument's declared type (``int``: ``12``, ``0x10``, ``1e6``;
``float``; ``bool``: true/false, yes/no, on/off, 1/0; ``enum``: one of its choices; ``str``:
the text, quoted with ``"..."`` or ``'...'`` when it has spaces; ``any``: a number, true/false,
null or text) and then checked by :func:`ground.station.check_args`, the very check the ground
station applies before sending and the one the flight side applies on receipt.

Everything here is pure: :class:`CommandLine` maps text to :class:`Feedback`,
:class:`ParsedCommand` or :class:`Completion` and sends nothing.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ground.station import Dictionary, ValidationError, check_args

__all__ = ["CommandLine", "CommandLineError", "Completion", "Feedback", "ParsedCommand"]

Level = Literal["idle", "hint", "ok", "hazardous", "error"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class CommandLineError(ValueError):
    """The text is not a command that could be sent; the message says why."""


@dataclass(frozen=True)
class ParsedCommand:
    """A complete, valid command line."""

    app: str
    command: str
    args: dict[str, Any]
    hazardous: bool
    spec: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.app}.{self.command}"

    @property
    def text(self) -> str:
        args = " ".join(f"{k}={_quote(v)}" for k, v in self.args.items())
        return f"{self.label} {args}".rstrip()


@dataclass(frozen=True)
class Feedback:
    """What the line under the command input says about the text typed so far.

    ``idle``: nothing typed; ``hint``: a prefix of something valid (what may follow);
    ``ok``: Enter sends it; ``hazardous``: Enter asks for confirmation; ``error``: what is
    wrong (red), and Enter sends nothing.
    """

    level: Level
    message: str
    command: ParsedCommand | None = None


@dataclass(frozen=True)
class Completion:
    """The result of Tab: the new text, and every candidate at that point (for the hint)."""

    text: str
    candidates: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.candidates)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return shlex.quote(text) if not text or any(c.isspace() or c in "\"'" for c in text) \
        else text


def _arg_hint(arg: Mapping[str, Any]) -> str:
    """``load=<compute|heater_noncritical>``, ``duty=<float 0..1>``, ``why=<str, default ...>``."""
    kind = str(arg.get("type", "any"))
    if "choices" in arg:
        text = "|".join(str(c) for c in arg["choices"])
    else:
        text = kind
        if arg.get("min") is not None or arg.get("max") is not None:
            low = "" if arg.get("min") is None else f"{arg['min']:g}"
            high = "" if arg.get("max") is None else f"{arg['max']:g}"
            text += f" {low}..{high}"
    if "default" in arg:
        text += f", default {arg['default']!r}"
    return f"{arg['name']}=<{text}>"


def _common_prefix(words: list[str]) -> str:
    if not words:
        return ""
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


class CommandLine:
    """Parses, checks and completes command lines against a flight dictionary."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary

    # -------------------------------------------------------------- names

    @property
    def apps(self) -> list[str]:
        return list(self.dictionary.apps)

    def commands(self, app: str) -> list[dict[str, Any]]:
        return list((self.dictionary.apps.get(app) or {}).get("commands", ()))

    def spec(self, app: str, command: str) -> dict[str, Any] | None:
        return next((c for c in self.commands(app) if c["name"] == command), None)

    # -------------------------------------------------------------- parsing

    def parse(self, text: str) -> ParsedCommand:
        """The command on the line, checked; :class:`CommandLineError` says what is wrong."""
        feedback = self.check(text)
        if feedback.level == "hint":  # judge the last word as finished
            feedback = self.check(text.rstrip() + " ")
        if feedback.command is not None:
            return feedback.command
        if feedback.level == "error":
            raise CommandLineError(feedback.message)
        raise CommandLineError(self._strict_error(text))

    def _strict_error(self, text: str) -> str:
        """Why an incomplete line cannot be sent (``check`` only hinted)."""
        words = text.split()
        if not words:
            return "nothing to send: type APP.COMMAND [ARG=VALUE ...]"
        head = words[0]
        app, dot, command = head.partition(".")
        if app not in self.dictionary.apps:
            return f"unknown app {app!r}; apps: {', '.join(self.apps)}"
        if not dot or not command:
            return f"{app}: which command? {', '.join(c['name'] for c in self.commands(app))}"
        if self.spec(app, command) is None:
            return (f"unknown command {app}.{command}; {app} commands: "
                    f"{', '.join(c['name'] for c in self.commands(app))}")
        return f"{head}: incomplete arguments"

    def check(self, text: str) -> Feedback:
        """Judge the text typed so far (see :class:`Feedback`)."""
        if not text.strip():
            return Feedback("idle", "APP.COMMAND [ARG=VALUE ...]   Tab completes, Enter sends, "
                                    "Up/Down recall")
        try:
            words = shlex.split(text)
        except ValueError as exc:  # an open quote
            return Feedback("error", f"{exc}: close the quote")
        if not words:
            return Feedback("idle", "")
        head, rest = words[0], words[1:]
        app, dot, command = head.partition(".")
        if app not in self.dictionary.apps:
            matches = [a for a in self.apps if a.startswith(app)]
            if matches and not dot and not rest:
                return Feedback("hint", f"apps: {', '.join(matches)}")
            return Feedback("error", f"unknown app {app!r}; apps: {', '.join(self.apps)}")
        names = [c["name"] for c in self.commands(app)]
        if not dot:
            if rest:
                return Feedback("error", f"expected {app}.COMMAND; {app} commands: "
                                         f"{', '.join(names)}")
            return Feedback("hint", f"{app} commands: {', '.join(names)}")
        if not command:
            return Feedback("hint", f"{app} commands: {', '.join(names)}")
        spec = self.spec(app, command)
        if spec is None:
            matches = [n for n in names if n.startswith(command)]
            if matches and not rest and not text.endswith(" "):
                return Feedback("hint", f"{app} commands: {', '.join(matches)}")
            return Feedback("error", f"unknown command {app}.{command}; {app} commands: "
                                     f"{', '.join(names)}")
        typing_last = bool(rest) and not text.endswith(" ")
        try:
            values = self._arguments(app, spec, rest[:-1] if typing_last else rest)
        except ValidationError as exc:
            return Feedback("error", str(exc))
        if typing_last:
            hint = self._partial_hint(spec, rest[-1], set(values))
            if hint:
                return Feedback("hint", hint)
            try:
                values = self._arguments(app, spec, rest)
            except ValidationError as exc:
                return Feedback("error", str(exc))
        try:
            values = check_args(app, spec, values)
        except ValidationError as exc:
            missing = [a for a in spec["args"] if "default" not in a and a["name"] not in values]
            more = f"   {' '.join(_arg_hint(a) for a in missing)}" if missing else ""
            return Feedback("error", f"{exc}{more}")
        parsed = ParsedCommand(app, command, values, bool(spec.get("hazardous")), spec)
        remaining = [a for a in spec["args"] if a["name"] not in values]
        more = f"   optional: {' '.join(_arg_hint(a) for a in remaining)}" if remaining else ""
        if parsed.hazardous:
            return Feedback("hazardous", f"HAZARDOUS {parsed.text}: Enter asks to confirm, then "
                                         f"sends {app}.arm and the command{more}", parsed)
        return Feedback("ok", f"Enter sends {parsed.text}{more}", parsed)

    def _arguments(self, app: str, spec: Mapping[str, Any], words: list[str]) -> dict[str, Any]:
        label = f"{app}.{spec['name']}"
        declared = {a["name"]: a for a in spec["args"]}
        known = ", ".join(_arg_hint(a) for a in spec["args"]) or "none"
        out: dict[str, Any] = {}
        for word in words:
            key, eq, raw = word.partition("=")
            if not eq:
                if key in declared:
                    raise ValidationError(f"{label}: {key}: no value; write {key}=VALUE")
                raise ValidationError(f"{label}: expected ARG=VALUE, got {word!r}; "
                                      f"arguments: {known}")
            if key not in declared:
                raise ValidationError(f"{label}: unknown argument {key!r}; arguments: {known}")
            if key in out:
                raise ValidationError(f"{label}: argument {key} given twice")
            out[key] = self.convert(declared[key], raw, label)
        return out

    @staticmethod
    def _partial_hint(spec: Mapping[str, Any], word: str, given: set[str]) -> str | None:
        """A hint when ``word``, still being typed, is a proper prefix of an argument name or
        of an enum choice; None when it is complete (or wrong)."""
        key, eq, value = word.partition("=")
        if not eq:
            matches = [a for a in spec["args"] if a["name"].startswith(key)
                       and a["name"] not in given]
            if matches:
                return f"arguments: {' '.join(_arg_hint(a) for a in matches)}"
            return None
        decl = next((a for a in spec["args"] if a["name"] == key), None)
        if decl is None:
            return None
        choices = [str(c) for c in decl.get("choices", ())]
        if decl.get("type") == "bool":
            choices = ["true", "false"]
        if value in choices:
            return None
        matches = [c for c in choices if c.startswith(value)]
        return f"{key}: {', '.join(matches)}" if matches else None

    @staticmethod
    def convert(decl: Mapping[str, Any], raw: str, label: str = "") -> Any:
        """Text typed for an argument, read by its declared type (range checks come later)."""
        name = decl["name"]
        where = f"{label}: " if label else ""
        kind = str(decl.get("type", "any"))
        if raw == "" and kind not in ("str", "any"):
            expected = f"one of {', '.join(decl['choices'])}" if "choices" in decl else kind
            raise ValidationError(f"{where}{name}: no value (expected {expected})")
        if kind == "int":
            try:
                return int(raw, 0)
            except ValueError:
                pass
            try:
                number = float(raw)
            except ValueError:
                raise ValidationError(f"{where}{name}: expected an integer, got {raw!r}") \
                    from None
            if number.is_integer():
                return int(number)
            raise ValidationError(f"{where}{name}: expected an integer, got {raw!r}")
        if kind == "float":
            try:
                return float(raw)
            except ValueError:
                raise ValidationError(f"{where}{name}: expected a number, got {raw!r}") \
                    from None
        if kind == "bool":
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValidationError(f"{where}{name}: expected true or false, got {raw!r}")
        if kind == "any":
            return _any_value(raw)
        if kind == "map":
            try:
                table = json.loads(raw)
            except ValueError:
                table = None
            if not isinstance(table, dict):
                raise ValidationError(f"{where}{name}: expected a JSON table such as "
                                      f'{{"n": 512}}, got {raw!r}')
            return table
        return raw  # str, enum (checked against the choices by check_args)

    # -------------------------------------------------------------- completion

    def complete(self, text: str) -> Completion:
        """Complete the last word of ``text``: app, ``APP.COMMAND``, ``ARG=`` or an enum
        choice. The text grows by the candidates' common prefix (a whole word and a space
        when only one fits); ``candidates`` lists them all."""
        head, sep, word = text.rpartition(" ")
        prefix = head + sep
        earlier = head.split()
        if not earlier:
            candidates = self._complete_name(word)
        else:
            candidates = self._complete_argument(earlier, word)
        if not candidates:
            return Completion(text, ())
        if len(candidates) == 1:
            only = candidates[0]
            suffix = "" if only.endswith(("=", ".")) else " "
            if not earlier and "." in only:
                spec = self.spec(*only.split(".", 1))
                suffix = " " if spec and spec["args"] else ""
            return Completion(prefix + only + suffix, tuple(candidates))
        common = _common_prefix(candidates)
        return Completion(prefix + (common if len(common) > len(word) else word),
                          tuple(candidates))

    def _complete_name(self, word: str) -> list[str]:
        app, dot, command = word.partition(".")
        if not dot:
            return [f"{a}." for a in self.apps if a.startswith(app)]
        return [f"{app}.{c['name']}" for c in self.commands(app)
                if c["name"].startswith(command)]

    def _complete_argument(self, earlier: list[str], word: str) -> list[str]:
        app, _, command = earlier[0].partition(".")
        spec = self.spec(app, command)
        if spec is None:
            return []
        given = {w.split("=", 1)[0] for w in earlier[1:]}
        key, eq, value = word.partition("=")
        if not eq:
            return [f"{a['name']}=" for a in spec["args"]
                    if a["name"].startswith(key) and a["name"] not in given]
        decl = next((a for a in spec["args"] if a["name"] == key), None)
        if decl is None:
            return []
        choices = [str(c) for c in decl.get("choices", ())]
        if decl.get("type") == "bool":
            choices = ["true", "false"]
        return [f"{key}={c}" for c in choices if c.startswith(value)]

    def describe(self, app: str, command: str) -> str:
        """``power.load_on load=<compute|...>  Force a load on ...`` for the hint line."""
        spec = self.spec(app, command)
        if spec is None:
            return ""
        args = " ".join(_arg_hint(a) for a in spec["args"])
        flag = "  [hazardous]" if spec.get("hazardous") else ""
        return f"{app}.{command} {args}{flag}  {spec.get('doc', '')}".strip()


def _any_value(raw: str) -> Any:
    """An ``any`` argument: a number, true/false, null, or the text itself."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw
