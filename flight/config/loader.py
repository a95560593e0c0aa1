"""Loading a flight configuration: built-in profile, then a file, then ``--set`` overrides.

The result is a plain, fully-defaulted dict that the executive writes into the run directory
for its children, so every process of one flatsat runs on exactly the same configuration.
"""

from __future__ import annotations

import copy
import importlib
import importlib.resources
import math
import sys
from pathlib import Path
from typing import Any

from flight.app.model import Field, InvalidValue
from flight.config.errors import ConfigError
from flight.config.schema import APP_KEYS, APP_NAME_EXPECTED, APP_NAME_RE, SECTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Jetson's Python 3.10
    import tomli as tomllib

#: Built-in apps: name -> import path. A config may add its own with ``class = "mod:Class"``.
BUILTIN_APPS = {
    "comms": "flight.apps.comms:CommsApp",
    "health": "flight.apps.health:HealthApp",
    "jobs": "flight.apps.jobs:JobsApp",
    "power": "flight.apps.power:PowerApp",
    "radiation": "flight.apps.radiation:RadiationApp",
    "thermal": "flight.apps.thermal:ThermalApp",
}
EXECUTIVE_CLASS = "flight.executive.executive:Executive"
BUILTIN_PROFILE = "sim.toml"


def builtin_profile_text() -> str:
    return importlib.resources.files("flight.config").joinpath(BUILTIN_PROFILE).read_text()


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
                ) -> dict[str, Any]:
    """Read, merge and validate a configuration; raise ConfigError naming file and key."""
    source = "<built-in sim profile>"
    raw = _parse_toml(builtin_profile_text(), source)
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("<file>", "a readable TOML file", exc.strerror, file=source) from None
        raw = _merge(raw, _parse_toml(text, source))
    for item in overrides:
        raw = _merge(raw, _parse_override(item))
        source = f"{source} (with --set)" if "--set" not in source else source
    try:
        return validate(raw)
    except ConfigError as exc:
        raise exc.in_file(source) from None


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<syntax>", "valid TOML", str(exc), file=source) from None


def _parse_override(item: str) -> dict[str, Any]:
    """``section.key=value`` → nested dict; the value is read as TOML, else as text."""
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(item, "--set section.key=value")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(raw: dict[str, Any]) -> dict[str, Any]:
    """Check every key against the schema; return the config with every default filled in."""
    known = set(SECTIONS) | {"apps", "fdir"}
    for key in raw:
        if key not in known:
            raise ConfigError(key, f"one of the sections {', '.join(sorted(known))}")
    config: dict[str, Any] = {}
    for section, fields in SECTIONS.items():
        config[section] = check_table(raw.get(section, {}), fields, section)
    _check_epoch(config["time"]["epoch"])
    config["apps"] = _validate_apps(raw.get("apps", {}))
    config["fdir"] = _validate_fdir(raw.get("fdir", {}), config["apps"])
    _check_json_safe(config, "")
    return config


def _check_epoch(text: str) -> None:
    from flight.app.clock import parse_epoch

    try:
        parse_epoch(text)
    except ValueError:
        raise ConfigError("time.epoch", "an ISO 8601 UTC time such as 2027-06-21T00:00:00Z",
                          text) from None


def _check_json_safe(value: Any, key: str) -> None:
    """Refuse what JSON cannot carry: the executive hands the config to its children as JSON.

    TOML has dates and times (``t = 1979-05-27``) that JSON has not, and NaN or infinity would
    only come back through Python's non-standard JSON extension.
    """
    if isinstance(value, dict):
        for name, item in value.items():
            _check_json_safe(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_safe(item, f"{key}[{index}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(key, "a finite number", value)
    elif not (value is None or isinstance(value, (str, int, bool))):
        raise ConfigError(key, "a string, number, boolean, array or table (no dates or times)",
                          value)


def check_table(table: Any, fields: tuple[Field, ...], key: str,
                *, allow_extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Validate one TOML table against field declarations, defaults filled in."""
    if not isinstance(table, dict):
        raise ConfigError(key, "a table", type(table).__name__)
    by_name = {f.name: f for f in fields}
    for name in table:
        if name not in by_name and name not in allow_extra:
            raise ConfigError(f"{key}.{name}", f"one of the keys {', '.join(sorted(by_name))}")
    out: dict[str, Any] = {}
    for name, spec in by_name.items():
        if name not in table:
            out[name] = spec.default
            continue
        try:
            out[name] = spec.check(table[name])
        except InvalidValue as exc:
            raise ConfigError(f"{key}.{name}", _expected(spec), table[name]) from exc
    return out


def _expected(spec: Field) -> str:
    text = {"int": "an integer", "float": "a number", "bool": "true or false",
            "str": "a string", "enum": "one of " + ", ".join(spec.choices)}.get(
        spec.type.value, spec.type.value)
    if spec.min is not None or spec.max is not None:
        text += f" in [{spec.min if spec.min is not None else '-inf'}, "
        text += f"{spec.max if spec.max is not None else 'inf'}]"
    return text


def _validate_apps(apps: Any) -> dict[str, Any]:
    if not isinstance(apps, dict):
        raise ConfigError("apps", "a table of app tables", type(apps).__name__)
    out: dict[str, Any] = {}
    executive = resolve_app_class("executive", EXECUTIVE_CLASS, "executive")
    ids: dict[int, str] = {executive.app_id: "the executive"}  # type: ignore[attr-defined]
    for name, table in apps.items():
        key = f"apps.{name}"
        if not APP_NAME_RE.fullmatch(name):
            raise ConfigError(key, APP_NAME_EXPECTED)
        if not isinstance(table, dict):
            raise ConfigError(key, "a table", type(table).__name__)
        if name == "executive":
            raise ConfigError(key, "an app name other than 'executive' (use [executive])")
        cls = resolve_app_class(name, table.get("class", ""), key)
        app_id = cls.app_id  # type: ignore[attr-defined]
        if app_id in ids:
            raise ConfigError(f"{key}.class", f"a class with an app_id of its own ({app_id} is "
                              f"also the app_id of {ids[app_id]})",
                              table.get("class") or BUILTIN_APPS.get(name))
        ids[app_id] = f"apps.{name}"
        settings_fields: tuple[Field, ...] = getattr(cls, "settings", ())
        # Arrays of tables an app reads (a response policy ...): each with its own validator.
        tables: dict[str, Any] = getattr(cls, "setting_tables", {})
        base = check_table(table, APP_KEYS, key,
                           allow_extra=frozenset(f.name for f in settings_fields) | set(tables))
        scalars = {k: v for k, v in table.items()
                   if k not in {f.name for f in APP_KEYS} and k not in tables}
        own = check_table(scalars, settings_fields, key)
        for setting, parse in tables.items():
            if setting in table:
                parse(table[setting], key=f"{key}.{setting}")
                own[setting] = table[setting]
        base["class"] = base["class"] or BUILTIN_APPS[name]  # resolve_app_class checked it
        out[name] = {**base, **own}
    return out


def resolve_app_class(name: str, path: str, key: str) -> type:
    """Import an app class by ``module:Class`` (or the built-in name); ConfigError if absent."""
    from flight.app.base import App, AppContext  # noqa: F401 - a cycle at import time

    if not path:
        if name not in BUILTIN_APPS:
            raise ConfigError(f"{key}.class", f"an import path 'module:Class' for non-built-in "
                              f"app {name!r} (built-in: {', '.join(sorted(BUILTIN_APPS))})")
        path = BUILTIN_APPS[name]
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{key}.class", "an importable 'module:Class'", f"{path} ({exc})"
                          ) from None
    if not (isinstance(cls, type) and issubclass(cls, App)):
        raise ConfigError(f"{key}.class", "a subclass of flight.app.App", path)
    return cls


def _validate_fdir(fdir: Any, apps: dict[str, Any]) -> dict[str, Any]:
    from flight.executive.fdir import parse_rules

    if not isinstance(fdir, dict):
        raise ConfigError("fdir", "a table with a 'rules' array", type(fdir).__name__)
    extra = set(fdir) - {"rules"}
    if extra:
        raise ConfigError(f"fdir.{sorted(extra)[0]}", "only 'rules'")
    rules = fdir.get("rules", [])
    parse_rules(rules, key="fdir.rules", known=known_channels(apps))
    return {"rules": rules}


def known_channels(apps: dict[str, Any]) -> dict[str, list[str]]:
    """App name -> channel names, for checking the names FDIR monitors refer to."""
    executive = resolve_app_class("executive", EXECUTIVE_CLASS, "executive")
    out = {"executive": [c.name for c in executive.full_model.telemetry]}  # type: ignore[attr-defined]
    for name, table in apps.items():
        cls = resolve_app_class(name, table["class"], f"apps.{name}")
        out[name] = [c.name for c in cls.full_model.telemetry]  # type: ignore[attr-defined]
    return out
