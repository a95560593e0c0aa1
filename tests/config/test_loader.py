"""Configuration loading: defaults, merging, overrides, and errors that name file and key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flight.config.errors import ConfigError
from flight.config.loader import load_config


def test_builtin_profile_is_complete_and_valid() -> None:
    config = load_config()
    assert config["mission"]["profile"] == "sim"
    assert config["executive"]["hang_misses"] == 3
    assert config["apps"]["health"]["class"] == "flight.apps.health:HealthApp"
    assert config["apps"]["health"]["enabled"] is True
    assert {r["name"] for r in config["fdir"]["rules"]} >= {"restart-storm"}


def test_file_merges_over_profile_and_set_over_both(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[mission]\nname = "bench-1"\n[executive]\nhang_misses = 5\n')
    config = load_config(path, ["executive.hang_misses=7", "apps.health.enabled=false"])
    assert config["mission"]["name"] == "bench-1"
    assert config["executive"]["hang_misses"] == 7
    assert config["executive"]["heartbeat_period_s"] == 0.5  # untouched default
    assert config["apps"]["health"]["enabled"] is False


def test_set_value_that_is_not_toml_is_text() -> None:
    assert load_config(None, ["mission.name=flatsat-7"])["mission"]["name"] == "flatsat-7"


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("[executive]\nhang_misses = 1\n", "executive.hang_misses", "in [2, 100]"),
    ("[executive]\nheartbeat_period_s = 'fast'\n", "executive.heartbeat_period_s", "a number"),
    ("[executive]\nbeat = 1\n", "executive.beat", "one of the keys"),
    ("[mission]\nprofile = 'space'\n", "mission.profile", "one of sim, flatsat, flight"),
    ("[bogus]\nx = 1\n", "bogus", "one of the sections"),
    ("[apps.fan]\nenabled = true\n", "apps.fan.class", "import path"),
    ("[apps.fan]\nclass = 'nowhere.at.all:Fan'\n", "apps.fan.class", "importable"),
    ("[apps.fan]\nclass = 'flight.cli:main'\n", "apps.fan.class", "subclass of flight.app.App"),
    ("[apps.health]\ncolour = 'red'\n", "apps.health.colour", "one of the keys"),
    ("[[fdir.rules]]\nname = 'x'\nmonitor = 'health.nope > 1'\naction = 'event'\n",
     "fdir.rules[0].monitor", "health"),
    ("[executive]\nheartbeat_period_s = " + "1" + "0" * 400 + "\n",
     "executive.heartbeat_period_s", "a number in [0.05, 60]"),
    # App names: lower_snake_case (FDIR's `app.channel`) and short enough for the ipc path.
    ("[apps.Fan]\nclass = 'tests.support.apps:Worker'\n", "apps.Fan", "1-24 characters"),
    ("[apps.\"fan-1\"]\nclass = 'tests.support.apps:Worker'\n", "apps.fan-1", "[a-z0-9_]"),
    ("[apps._fan]\nclass = 'tests.support.apps:Worker'\n", "apps._fan", "starting with a letter"),
    ("[apps.\"fan.one\"]\nclass = 'tests.support.apps:Worker'\n", "apps.fan.one", "app name"),
    ("[apps.abcdefghijklmnopqrstuvwxy]\nclass = 'tests.support.apps:Worker'\n",
     "apps.abcdefghijklmnopqrstuvwxy", "1-24 characters"),
    # Two apps with one app_id: the second one's class is named (the executive's id is 1).
    ("[apps.fan]\nclass = 'flight.apps.health:HealthApp'\n", "apps.fan.class",
     "2 is also the app_id of apps.health"),
    ("[apps.fan]\nclass = 'flight.executive.executive:Executive'\n", "apps.fan.class",
     "1 is also the app_id of the executive"),
    ("[apps.one]\nclass = 'tests.support.apps:Worker'\n"
     "[apps.two]\nclass = 'tests.support.apps:Worker'\n", "apps.two.class",
     "91 is also the app_id of apps.one"),
    # JSON (how the executive hands the config to its children) has no dates or times.
    ("[[fdir.rules]]\nname = 'x'\nmonitor = 'health.disk_percent > 1'\naction = 'command'\n"
     "command = 'health.noop'\nargs = { t = 1979-05-27 }\n", "fdir.rules[0].args.t",
     "no dates or times"),
    ("[[fdir.rules]]\nname = 'x'\nmonitor = 'health.disk_percent > 1'\naction = 'command'\n"
     "command = 'health.noop'\nargs = { at = [1, 07:32:00] }\n", "fdir.rules[0].args.at[1]",
     "no dates or times"),
    ("[[fdir.rules]]\nname = 'x'\nmonitor = 'health.disk_percent > 1'\naction = 'command'\n"
     "command = 'health.noop'\nargs = { x = nan }\n", "fdir.rules[0].args.x", "finite"),
])
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, key: str,
                                              expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}"), message
    assert expected in message


def test_syntax_error_and_missing_file_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[executive\n")
    with pytest.raises(ConfigError, match=re.escape(f"{broken}: <syntax>: expected valid TOML")):
        load_config(broken)
    with pytest.raises(ConfigError, match="readable TOML file"):
        load_config(tmp_path / "absent.toml")


def test_malformed_set_option() -> None:
    with pytest.raises(ConfigError, match=re.escape("--set section.key=value")):
        load_config(None, ["hang_misses"])


def test_longest_app_name_is_accepted_and_fits_the_run_directory(tmp_path: Path) -> None:
    from flight.bus.rundir import MAX_APP_NAME

    name = "a" * MAX_APP_NAME
    path = tmp_path / "long.toml"
    path.write_text(f"[apps.{name}]\nclass = 'tests.support.apps:Worker'\n")
    assert load_config(path)["apps"][name]["class"] == "tests.support.apps:Worker"


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    """What the executive writes for its children is what they read back."""
    path = tmp_path / "site.toml"
    path.write_text("[[fdir.rules]]\nname = 'x'\nmonitor = 'health.disk_percent > 1'\n"
                    "action = 'command'\ncommand = 'health.noop'\n"
                    "args = { n = 1, f = 0.5, s = 'a', b = true, l = [1, 2] }\n")
    config = load_config(path)
    assert json.loads(json.dumps(config, allow_nan=False)) == config
