"""Link and telecommand faults: real datagrams dropped, delayed, forged, replayed, malformed."""

from __future__ import annotations

import random
import time

import pytest

from ground.station import GroundStation
from hil.faults import FaultError, Injection, get_fault
from hil.faults.onboard import fresh_housekeeping
from hil.testbed import Testbed


def _ground(bed: Testbed) -> GroundStation:
    assert bed.ground is not None
    return bed.ground


def _gone_quiet(ground: GroundStation, quiet_s: float, deadline_s: float) -> bool:
    """True once a whole ``quiet_s`` passes without telemetry (within ``deadline_s``)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            ground.await_telemetry(timeout=quiet_s)
        except TimeoutError:
            return True
    return False


def test_outage_stops_telemetry_until_cleared(bed: Testbed, rng: random.Random) -> None:
    fault = get_fault("link_outage")
    ground = _ground(bed)
    ground.await_telemetry(timeout=10)
    injection = fault.run(bed, "both", rng=rng)
    try:
        assert injection.lasting and bed.link is not None
        assert bed.link.outages() == {"uplink": True, "downlink": True}
        assert _gone_quiet(ground, 1.0, 10.0), "telemetry kept arriving during the outage"
    finally:
        fault.clear(bed, injection)
    assert bed.link.outages() == {"uplink": False, "downlink": False}
    ground.await_telemetry(timeout=10)
    dropped = injection.evidence["stats_at_clear"]["downlink"]["dropped_outage"]
    assert dropped > injection.evidence["stats_before"]["downlink"]["dropped_outage"]


def test_loss_delay_corruption_are_set_and_restored(bed: Testbed, rng: random.Random) -> None:
    assert bed.link is not None
    ground = _ground(bed)
    loss = get_fault("link_loss").run(bed, "uplink", {"loss": 1.0}, rng)
    try:
        with pytest.raises(TimeoutError):
            ground.ping(timeout=1.0)
        assert bed.link.stats()["uplink"]["dropped_loss"] > \
            loss.evidence["stats_before"]["uplink"]["dropped_loss"]
    finally:
        get_fault("link_loss").clear(bed, loss)
    assert bed.link.impairments()["uplink"].loss == 0.0
    delay = get_fault("link_delay").run(bed, "downlink", {"delay_ms": 300.0}, rng)
    try:
        assert ground.ping(timeout=10.0) >= 0.3
    finally:
        get_fault("link_delay").clear(bed, delay)
    assert bed.link.impairments()["downlink"].delay_ms == 0.0
    corrupt = get_fault("link_corrupt").run(bed, "uplink", {"corrupt": 1.0, "bits": 3}, rng)
    try:
        with pytest.raises(TimeoutError):
            ground.ping(timeout=1.0)  # every frame damaged: comms refuses it
    finally:
        get_fault("link_corrupt").clear(bed, corrupt)
    assert bed.link.stats()["uplink"]["corrupted"] > 0
    ground.ping(timeout=10.0)


def _commands_done(bed: Testbed, app: str) -> int:
    housekeeping = fresh_housekeeping(bed, app, timeout=10)
    assert housekeeping is not None
    return int(housekeeping["cmd_count"])


def _rejected(injection: Injection, reason: str) -> int:
    return int(injection.evidence["rejected_delta"].get(reason, 0))


@pytest.mark.parametrize("how", ["bad_mac", "unknown_spi"])
def test_forged_frames_are_refused_and_valid_commands_still_run(bed: Testbed, how: str,
                                                               rng: random.Random) -> None:
    injection = get_fault("tc_forged").run(bed, "comms", {"how": how, "count": 3}, rng)
    assert _rejected(injection, how) == 3 and injection.evidence["refused"] == 3
    assert injection.evidence["accepted_delta"] == 0 and injection.evidence["route"] == "link"
    handle = _ground(bed).command("health", "noop", timeout=10)
    assert handle.ok


def test_replayed_frame_is_refused_and_not_executed_again(bed: Testbed,
                                                          rng: random.Random) -> None:
    _ground(bed).command("health", "noop", timeout=10)  # the frame that will be replayed
    done = _commands_done(bed, "health")
    injection = get_fault("tc_replayed").run(bed, "comms", {"count": 2}, rng)
    assert _rejected(injection, "replay") + _rejected(injection, "arsn_outside_window") == 2
    assert injection.evidence["accepted_delta"] == 0
    assert injection.evidence["replayed_from"] == "the ground station's history"
    assert _commands_done(bed, "health") == done  # the noop did not run a second time


@pytest.mark.parametrize("how", ["bad_crc", "truncated", "oversized"])
def test_malformed_frames_are_counted_by_reason(bed: Testbed, how: str,
                                                rng: random.Random) -> None:
    injection = get_fault("tc_malformed").run(bed, "comms", {"how": how, "count": 2}, rng)
    assert _rejected(injection, how) == 2, injection.evidence["rejected_delta"]
    assert injection.evidence["accepted_delta"] == 0


def test_garbage_is_refused_and_comms_reports_it(bed: Testbed, rng: random.Random) -> None:
    injection = get_fault("tc_malformed").run(bed, "comms", {"how": "garbage", "count": 5}, rng)
    assert sum(injection.evidence["rejected_delta"].values()) == 5
    # The same counters reach the ground in comms' housekeeping.
    total = sum(injection.evidence["counters_after"]["tc_rejected"].values())
    _ground(bed).await_telemetry("comms", "tc_rejected",
                                 lambda v: sum(v.values()) >= total, timeout=10)


def test_link_faults_need_a_direction(bed: Testbed) -> None:
    with pytest.raises(FaultError, match="did you mean 'uplink'"):
        get_fault("link_loss").run(bed, "uplnk")
    with pytest.raises(FaultError, match=r"must be ≤ 1\.0"):
        get_fault("link_loss").run(bed, "uplink", {"loss": 1.5})
