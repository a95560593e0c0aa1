"""The comms app over a real UDP socket: verification, every kind of bad input, floods."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import msgpack
import pytest

from flight.app.clock import MissionClock
from flight.apps.power import PowerApp
from flight.bus import Reason
from flight.link import CdsTime, Telecommand, crc16
from flight.link.services import FailureCode
from hil.stack import LocalStack, wait_until

APIDS = {"comms": 0x10, "executive": 0x11, "health": 0x12, "power": 0x13, "thermal": 0x14,
         "world": 0x17}


def opcode(cls: type, name: str) -> int:
    return [c.name for c in cls.full_model.commands].index(name)  # type: ignore[attr-defined]


def rejected(stack: LocalStack) -> dict[str, int]:
    return dict(stack.command("comms", "status").data["tc_rejected"])


def test_ping_and_a_noop_to_every_app_are_verified_at_each_stage(linked) -> None:
    _, link = linked
    ping = link.send(link.tc(0x10, 17, 1))
    link.wait(lambda p: p.service == 17 and p.subtype == 2, what="pong")
    assert link.report(ping, 1) and link.report(ping, 7)
    for app, apid in APIDS.items():
        tc = link.command(apid, 0)  # noop is function id 0 of every app
        assert link.report(tc, 1) and link.report(tc, 3), app
        assert link.final(tc).subtype == 7, app


def test_every_tm_decodes_with_spacepackets_and_spacepackets_tcs_are_accepted(linked) -> None:
    from spacepackets.ecss.tc import PusTc
    from spacepackets.ecss.tm import PusTm

    _, link = linked
    theirs = PusTc(service=17, message_subtype=1, apid=0x10, seq_count=77, source_id=1)
    link.raw(link.auth.seal(1, 1, theirs.pack()))  # type: ignore[union-attr]
    link.arsn = 1
    link.wait(lambda p: p.service == 17 and p.subtype == 2, what="pong")
    link.command(0x13, 0)
    link.wait(lambda p: p.service == 1 and p.subtype == 7 and p.apid == 0x13)
    link.wait(lambda p: p.service == 3 and p.apid == 0x14, what="thermal housekeeping")
    assert len(link.received) >= 5
    for packet in link.received:
        raw = packet.encode()
        sp = PusTm.unpack(raw, timestamp_len=7)  # raises on a bad CRC
        assert (sp.apid, sp.service, sp.message_subtype) == (packet.apid, packet.service,
                                                        packet.subtype)
        assert sp.source_data == packet.source_data and sp.seq_count == packet.seq_count


def _reframe(tc: Telecommand, *, byte: int, value: int) -> bytes:
    """``tc`` encoded, one byte changed and the CRC made right again."""
    body = bytearray(tc.encode()[:-2])
    body[byte] = value
    return bytes(body) + crc16(bytes(body)).to_bytes(2, "big")


def test_bad_input_is_rejected_by_reason_and_answered_where_authentic(linked) -> None:
    stack, link = linked
    auth = link.auth
    assert auth is not None
    good = link.tc(0x10, 17, 1).encode()
    # Not authentic: counted, never answered.
    frame = bytearray(link.frame(link.tc(0x10, 17, 1)))
    frame[-1] ^= 0xFF
    link.raw(bytes(frame))  # bad MAC
    replayed = link.frame(link.tc(0x10, 17, 1))
    link.raw(replayed)
    link.raw(replayed)  # replay
    link.raw(auth.seal(1, 10_000, good))
    link.raw(auth.seal(1, 3, good))  # far below the window now
    link.arsn = 10_000
    link.raw(b"\x00\x07" + bytes(4) + good + bytes(16))  # unknown SPI
    link.raw(b"\x00\x01\x00")  # truncated
    link.raw(bytes(6000))  # oversized
    # Authentic but wrong inside: answered with a PUS 1 failure and its code.
    bad_crc = bytearray(link.tc(0x10, 17, 1).encode())
    bad_crc[-1] ^= 1
    link.raw(link.auth.seal(1, link.arsn + 1, bytes(bad_crc)))  # type: ignore[union-attr]
    link.arsn += 1
    bad_version = link.tc(0x10, 17, 1)
    link.raw(auth.seal(1, link.arsn + 1, _reframe(bad_version, byte=6, value=0x1F)))
    link.arsn += 1
    cases = {
        link.send(link.tc(0x55, 17, 1)): FailureCode.UNKNOWN_APID,
        link.send(link.tc(0x10, 99, 1)): FailureCode.UNKNOWN_SERVICE,
        link.send(link.tc(0x10, 17, 9)): FailureCode.UNKNOWN_SUBTYPE,
        link.command(0x13, opcode(PowerApp, "load_on"), {"load": "toaster"}):
            FailureCode.BAD_APP_DATA,
        link.command(0x17, 18, {"duty": 5.0}): FailureCode.BAD_APP_DATA,  # out of range
        link.command(0x13, opcode(PowerApp, "load_on"), {"load": 7}): FailureCode.BAD_APP_DATA,
        link.command(0x13, 999): FailureCode.BAD_APP_DATA,  # no such function
        link.send(link.tc(0x13, 8, 1, b"\x00\x00\xc1")): FailureCode.BAD_APP_DATA,  # bad msgpack
    }
    for tc, code in cases.items():
        report = link.final(tc)
        assert (report.subtype, report.code) == (2, code), tc
    past = CdsTime.from_unix(MissionClock.from_file(stack.run_dir.clock_file).now() - 60)
    tt = link.send(link.tc(0x10, 11, 4, past.encode() + link.tc(0x12, 8, 1, b"\0\0").encode()))
    assert link.final(tt).code == FailureCode.RELEASE_TIME_PASSED
    unarmed = link.command(0x13, opcode(PowerApp, "load_off_critical"), {"load": "radio"})
    report = link.final(unarmed)
    assert (report.subtype, report.code) == (4, Reason.NOT_ARMED)
    assert b"arm" in report.data
    link.wait(lambda p: p.service == 1 and p.subtype == 2
              and p.source_data[4:6] == FailureCode.BAD_CRC.to_bytes(2, "big"))
    link.wait(lambda p: p.service == 1 and p.subtype == 2
              and p.source_data[4:6] == FailureCode.BAD_PUS_VERSION.to_bytes(2, "big"))
    counts = wait_until(lambda: c if len(c := rejected(stack)) >= 12 else None, 5,
                        "every rejection counted")
    for reason in ("bad_mac", "replay", "arsn_outside_window", "unknown_spi", "truncated",
                   "oversized", "bad_crc", "bad_pus_version", "unknown_apid", "unknown_service",
                   "unknown_subtype", "bad_app_data"):
        assert counts.get(reason, 0) >= 1, (reason, counts)


def test_armed_hazardous_command_completes(linked) -> None:
    _stack, link = linked
    arm = link.command(0x13, opcode(PowerApp, "arm"), {"command": "load_off_critical"})
    assert link.final(arm).subtype == 7
    tc = link.command(0x13, opcode(PowerApp, "load_off_critical"), {"load": "radio"})
    assert link.final(tc).subtype == 7


FLOOD = 20_000  # garbage datagrams, at 10,000 a second


def _flood(target: tuple[str, int], sent: list[int]) -> None:
    import random
    import socket as s
    sock = s.socket(s.AF_INET, s.SOCK_DGRAM)
    rng = random.Random(5)
    next_batch = time.monotonic()
    while sent[0] < FLOOD:
        for _ in range(100):  # 100 every 10 ms: 10,000 a second
            sock.sendto(rng.randbytes(rng.randint(1, 300)), target)
        sent[0] += 100
        next_batch += 0.01
        time.sleep(max(0.0, next_batch - time.monotonic()))
    sock.close()


def test_a_garbage_flood_does_not_stop_housekeeping_or_commands(linked) -> None:
    stack, link = linked
    link.send(link.tc(0x10, 17, 1))
    link.wait(lambda p: p.service == 17, what="pong")
    sent = [0]
    thread = threading.Thread(target=_flood, args=(link.target, sent), daemon=True)
    thread.start()
    wait_until(lambda: sent[0] >= 2_000, 10, "the flood to be under way")
    started = len(link.received)
    tc = link.command(0x12, 0)
    assert link.final(tc, timeout=10).subtype == 7  # a valid command completes meanwhile
    while thread.is_alive():  # housekeeping keeps coming while the flood goes on
        with contextlib.suppress(TimeoutError):
            link.wait(lambda p: False, timeout=0.2)
    thread.join()
    hk = [p for p in link.received[started:] if p.service == 3]
    assert len({p.apid for p in hk}) >= 4 and len(hk) >= 8  # every app, more than once
    wait_until(lambda: sum(rejected(stack).values()) >= 0.9 * FLOOD, 10,
               "the flood to be counted")


def test_time_tagged_command_fires_after_a_comms_restart(linked) -> None:
    stack, link = linked
    clock = MissionClock.from_file(stack.run_dir.clock_file)
    embedded = link.tc(0x12, 8, 1, (0).to_bytes(2, "big") + msgpack.packb({}))
    release = clock.now() + 4.0
    insert = link.send(link.tc(0x10, 11, 4, CdsTime.from_unix(release).encode()
                               + embedded.encode()))
    assert link.final(insert).subtype == 7
    summary = link.send(link.tc(0x10, 11, 17))
    report = link.wait(lambda p: p.service == 11 and p.subtype == 13)
    assert msgpack.unpackb(report.source_data)[0]["release_t"] == pytest.approx(release, abs=1)
    assert link.final(summary).subtype == 7
    pid = stack.process_row("comms")["pid"]
    os.kill(pid, signal.SIGKILL)
    stack.wait_running("comms", not_pid=pid)
    link.retarget(stack)  # a free port was asked for: the new process has another one
    link.send(link.tc(0x10, 17, 1))  # tell the new comms where the ground is
    fired = link.final(embedded, timeout=15)
    assert fired.subtype == 7
    assert clock.now() >= release


def test_a_frame_accepted_before_a_restart_is_a_replay_after_it(linked) -> None:
    stack, link = linked
    frame = link.frame(link.tc(0x10, 17, 1))
    link.raw(frame)
    link.wait(lambda p: p.service == 17, what="pong")
    pid = stack.process_row("comms")["pid"]
    os.kill(pid, signal.SIGKILL)
    stack.wait_running("comms", not_pid=pid)
    link.retarget(stack)
    link.raw(frame)
    wait_until(lambda: rejected(stack).get("replay") == 1, 5, "the replay to be refused")


def test_what_a_command_returns_comes_down_before_its_completion(linked) -> None:
    _, link = linked
    tc = link.command(0x13, opcode(PowerApp, "status"))
    assert link.final(tc).subtype == 7
    result = link.wait(lambda p: p.service == 8 and p.subtype == 128
                       and p.source_data[:4] == tc.request_id, what="TM[8,128]")
    body = msgpack.unpackb(result.source_data[4:])
    assert body["hal"]["backend"] == "sim" and "compute" in body["loads"]
    order = [p for p in link.received if p.source_data[:4] == tc.request_id]
    assert (order[-2].service, order[-1].subtype) == (8, 7)  # result, then completion
