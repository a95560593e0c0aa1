"""Reading and checking scenario files: good ones load with their defaults, bad ones fail fast
with a message naming the file, the step and the field — before anything is started."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.scenario import ScenarioError, load
from hil.scenario.model import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_WITHIN_S,
    AwaitEventStep,
    AwaitTelemetryStep,
    ClearStep,
    CommandStep,
    InjectStep,
    NoEventStep,
    WaitStep,
)

HEAD = '[scenario]\nname = "t"\n'


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    """The message a bad file fails with (it must fail)."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    return message


def step(body: str) -> str:
    return f"{HEAD}\n[[step]]\n{body}\n"


# ------------------------------------------------------------------------------ good files


def test_every_action_loads_with_its_defaults(tmp_path: Path) -> None:
    scenario, dictionary = load(write(tmp_path, HEAD + """
[[step]]
command = "jobs.submit"
args = { kind = "matmul", params = { n = 64 } }
save = "job"

[[step]]
inject = "crash"
target = "jobs"
id = "boom"

[[step]]
await_event = "executive.APP_RUNNING"
where = { app = "${boom.target}" }

[[step]]
await_telemetry = "jobs.done"
op = ">="
value = 1

[[step]]
await_telemetry = "executive.restarts.jobs"

[[step]]
inject = "link_delay"
target = "both"
params = { delay_ms = 100.0 }
id = "slow"

[[step]]
clear = "slow"

[[step]]
wait_s = 0.5

[[step]]
no_event = "executive.APP_FLAPPING"
for_s = 1

[[step]]
command = "jobs.cancel"
args = { job = "${job.job}" }
expect = "failed:NOT_PERMITTED"
"""))
    assert scenario.name == "t" and scenario.timeout_s == DEFAULT_TIMEOUT_S
    assert scenario.seed == 0 and scenario.overrides == () and scenario.disk_mb is None
    assert "jobs" in dictionary.apps
    kinds = [type(s) for s in scenario.steps]
    assert kinds == [CommandStep, InjectStep, AwaitEventStep, AwaitTelemetryStep,
                     AwaitTelemetryStep, InjectStep, ClearStep, WaitStep, NoEventStep,
                     CommandStep]
    submit, crash, running, done, restarts, _, clear, wait, no_flap, cancel = scenario.steps
    assert isinstance(submit, CommandStep)
    assert (submit.expect, submit.reason, submit.via, submit.within_s, submit.save) == \
        ("completed", None, "link", DEFAULT_WITHIN_S, "job")
    assert submit.name == "command jobs.submit"
    assert isinstance(crash, InjectStep) and crash.params == {} and crash.id == "boom"
    assert isinstance(running, AwaitEventStep)
    assert (running.via, running.since, running.within_s) == ("link", "previous", 10.0)
    assert isinstance(done, AwaitTelemetryStep) and (done.op, done.value) == (">=", 1)
    assert isinstance(restarts, AwaitTelemetryStep) and restarts.op == "changes"
    assert isinstance(clear, ClearStep) and clear.injection == "slow"
    assert isinstance(wait, WaitStep) and wait.seconds == 0.5
    assert isinstance(no_flap, NoEventStep) and no_flap.for_s == 1.0
    assert isinstance(cancel, CommandStep) and (cancel.expect, cancel.reason) == \
        ("failed", "NOT_PERMITTED")


def test_name_defaults_to_the_file_name_and_options_are_read(tmp_path: Path) -> None:
    scenario, _ = load(write(tmp_path, """
[scenario]
description = "d"
overrides = ["time.speed=120"]
timeout_s = 30
seed = 7

[[step]]
command = "executive.exit_safe"
args = { mode = "NOMINAL" }
arm = true
via = "bus"
within_s = 4
""", name="leave-safe.toml"))
    assert (scenario.name, scenario.description, scenario.overrides, scenario.timeout_s,
            scenario.seed) == ("leave-safe", "d", ("time.speed=120",), 30.0, 7)
    command = scenario.steps[0]
    assert isinstance(command, CommandStep)
    assert (command.arm, command.via, command.within_s) == (True, "bus", 4.0)


# ------------------------------------------------------------------------------ bad files

SYNTAX_AND_SHAPE = [
    ('[scenario\nname = "x"\n', "TOML syntax error.*line 1"),
    (HEAD, "no steps"),
    ('[[step]]\nwait_s = 1\n', r"no \[scenario\] table"),
    (HEAD + '[steps]\nx = 1\n', "unknown table 'steps' \\(did you mean 'step'\\?\\)"),
    ('[scenario]\nnmae = "x"\n[[step]]\nwait_s = 1\n',
     "scenario: unknown key 'nmae' \\(did you mean 'name'\\?\\)"),
    ('[scenario]\ntimeout_s = -1\n[[step]]\nwait_s = 1\n',
     "scenario.timeout_s: expected a number of seconds above 0"),
    ('[scenario]\nseed = "x"\n[[step]]\nwait_s = 1\n', "scenario.seed: expected an integer"),
    ('[scenario]\noverrides = "time.speed=2"\n[[step]]\nwait_s = 1\n',
     "scenario.overrides: expected a list of texts"),
    ('[scenario]\ndisk_mb = 100000\n[[step]]\nwait_s = 1\n', "scenario.disk_mb: expected 1..4096"),
    (step('name = "idle"'), "step 1 \\(idle\\): no action: a step needs exactly one of"),
    (step('command = "health.noop"\nwait_s = 1'), "step 1: two actions \\(command and wait_s\\)"),
    (step('command = "health.noop"\nwithin = 3'),
     "step 1: unknown key 'within' \\(did you mean 'within_s'\\?\\)"),
    (step('command = "health.noop"\nwhere = { app = "x" }'),
     "step 1: 'where' does not apply to a command step"),
    (step('command = "noop"'), "step 1: command: expected app.command"),
    (step('command = "health.noop"\nexpect = "done"'),
     "step 1: expect: expected \"completed\", \"failed\""),
    (step('command = "health.noop"\nexpect = "completed:BUSY"'), "step 1: expect"),
    (step('command = "health.noop"\nwithin_s = "soon"'),
     "step 1: within_s: expected a number of seconds above 0, got 'soon'"),
    (step('command = "health.noop"\nvia = "radio"'),
     "step 1: via: expected one of \\['link', 'bus'\\]"),
    (step('await_telemetry = "jobs.done"\nop = "=>"\nvalue = 1'),
     "step 1: op: expected one of .*got '=>' \\(did you mean '>='\\?\\)"),
    (step('await_telemetry = "jobs.done"\nop = ">"'), "step 1: value: op '>' needs a value"),
    (step('await_telemetry = "jobs.done"\nop = "changes"\nvalue = 1'),
     "step 1: value: op \"changes\" .* takes no value"),
    (step('await_telemetry = "jobs.done"\nop = "in"\nvalue = 1'),
     "step 1: value: op \"in\" needs a list"),
    (step('await_telemetry = "jobs.done"\nop = "<"\nvalue = "many"'),
     "step 1: value: op '<' needs a number"),
    (step('await_event = "executive.APP_RUNNING"\nsince = "ever"'), "step 1: since"),
    (step('wait_s = 0'), "step 1: wait_s: expected a number of seconds above 0"),
    (step('clear = "boom"'), "step 1 \\(clear boom\\): clear: no earlier inject step has id"),
    (step('command = "jobs.cancel"\nargs = { job = "${job.job}" }'),
     "step 1 .*: args: \\$\\{job...\\} refers to nothing an earlier step saved"),
    (step('command = "health.noop"\nsave = "a"\n[[step]]\ncommand = "health.noop"\nsave = "a"'),
     "step 2 .*: save: the name 'a' is already used by step 1"),
    (step('inject = "crash"\nid = "2 words"'), "step 1: id: '2 words' is not a usable name"),
]


@pytest.mark.parametrize(("text", "pattern"), SYNTAX_AND_SHAPE,
                         ids=[f"shape{i}" for i in range(len(SYNTAX_AND_SHAPE))])
def test_shape_errors_name_file_step_and_field(tmp_path: Path, text: str, pattern: str) -> None:
    import re

    message = error(tmp_path, text)
    assert re.search(pattern, message), message


AGAINST_THE_DICTIONARY = [
    (step('command = "helth.noop"'),
     "step 1 .*: command: unknown app 'helth' \\(did you mean 'health'\\?\\)"),
    (step('command = "health.nop"'),
     "step 1 .*: command: unknown health command 'nop' \\(did you mean 'noop'\\?\\)"),
    (step('command = "health.noop"\nargs = { loud = true }'),
     "step 1 .*: args.loud: health.noop has no argument 'loud'"),
    (step('command = "jobs.submit"\nargs = { kind = "matmul", priority = "high" }'),
     "step 1 .*: args.priority: jobs.submit: priority"),
    (step('command = "jobs.submit"\nargs = { kind = "matmul", priority = 12 }'),
     "step 1 .*: args.priority: .*12"),
    (step('command = "jobs.submit"\nargs = { kind = "fft" }'),
     "step 1 .*: args.kind: .*expected one of inference, matmul, mlp_train"),
    (step('command = "jobs.cancel"'),
     "step 1 .*: args: jobs.cancel needs argument\\(s\\) \\['job'\\]"),
    (step('command = "executive.exit_safe"\nargs = { mode = "NOMINAL" }'),
     "step 1 .*: arm: executive.exit_safe is hazardous: say arm = true"),
    (step('command = "health.noop"\narm = true'), "step 1 .*: arm: health.noop is not hazardous"),
    (step('command = "health.noop"\nexpect = "failed:NOPE"'),
     "step 1 .*: expect: unknown failure reason 'NOPE'"),
    (step('await_telemetry = "power.sco"\nvalue = 1.0'),
     "step 1 .*: await_telemetry: unknown power channel 'sco' \\(did you mean 'soc'\\?\\)"),
    (step('await_telemetry = "power.soc.low"\nvalue = 1.0'),
     "step 1 .*: power.soc is a float, not a map"),
    (step('await_telemetry = "power.in_sun"\nvalue = 1'),
     "step 1 .*: value: power.in_sun is true or false: compare it with true or false"),
    (step('await_telemetry = "executive.mode"\nop = "in"\nvalue = ["SAFE", 3]'),
     "step 1 .*: value: executive.mode is text: compare it with text, not 3"),
    (step('await_telemetry = "power.soc"\nvalue = "full"'),
     "step 1 .*: value: power.soc is a number: compare it with a number"),
    (step('await_event = "executive.APP_RUNING"'),
     "step 1 .*: await_event: unknown executive event 'APP_RUNING' "
     "\\(did you mean 'APP_RUNNING'\\?\\)"),
    (step('await_event = "executive.APP_RUNNING"\nwhere = { name = "jobs" }'),
     "step 1 .*: where.name: executive.APP_RUNNING carries no field 'name'; its fields: "
     "\\['app'\\]"),
    (step('no_event = "power.LOAD_SHEDD"'), "step 1 .*: no_event: unknown power event"),
    (step('inject = "crsh"'),
     "step 1 .*: inject: unknown fault 'crsh' \\(did you mean 'crash'\\?\\)"),
    (step('inject = "link_loss"\nparams = { los = 0.5 }'),
     "step 1 .*: params: fault 'link_loss' has no parameter 'los' \\(did you mean 'loss'\\?\\)"),
    (step('inject = "link_loss"\nparams = { loss = 2.0 }'),
     "step 1 .*: params: parameter 'loss' must be ≤ 1.0"),
    ('[scenario]\noverrides = ["time.sped=2"]\n[[step]]\nwait_s = 1\n',
     "scenario.overrides: the flight configuration is wrong: .*time.sped"),
    ('[scenario]\nconfig = "nowhere.toml"\n[[step]]\nwait_s = 1\n',
     "scenario.config: the flight configuration is wrong"),
]


@pytest.mark.parametrize(("text", "pattern"), AGAINST_THE_DICTIONARY,
                         ids=[f"dict{i}" for i in range(len(AGAINST_THE_DICTIONARY))])
def test_names_and_types_are_checked_against_the_dictionary(tmp_path: Path, text: str,
                                                            pattern: str) -> None:
    import re

    message = error(tmp_path, text)
    assert re.search(pattern, message), message


def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read it"):
        load(tmp_path / "missing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match=r"bin\.toml"):
        load(tmp_path / "bin.toml")


def test_overrides_change_the_dictionary_a_file_is_checked_against(tmp_path: Path) -> None:
    text = '[scenario]\n{over}\n[[step]]\ncommand = "jobs.noop"\n'
    load(write(tmp_path, text.format(over="")))
    message = error(tmp_path, text.format(over='overrides = ["apps.jobs.enabled=false"]'))
    assert "app 'jobs' is not started in this scenario's configuration" in message
