"""Transparent forwarding, reply routing, addresses and lifecycle of the link proxy."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hil.linksim import LinkSim, format_address, parse_address
from tests.linksim.linksim_helpers import (
    collect,
    drain_until,
    invariant_holds,
    seq_of,
    seq_payload,
    silence,
    udp,
)


def test_transparent_both_ways_with_reply_routing(make_rig) -> None:
    rig = make_rig()
    rig.up(b"telecommand")
    data, src = rig.flight.recvfrom(65535)
    assert data == b"telecommand"
    assert src == rig.sim.flight_side_address          # flight sees the proxy as the ground
    rig.flight.sendto(b"telemetry", src)                # flight replies to where it came from
    rig.ground.settimeout(2)
    data, src = rig.ground.recvfrom(65535)
    assert data == b"telemetry"
    assert src == rig.sim.ground_address                # ground sees the proxy as flight
    assert rig.sim.ground_peer == rig.ground.getsockname()
    stats = rig.sim.stats()
    for direction, size in (("uplink", 11), ("downlink", 9)):
        s = stats[direction]
        assert (s["received"], s["forwarded"], s["bytes"], s["bytes_received"]) == (1, 1, size,
                                                                                    size)
        assert invariant_holds(s)


def test_downlink_follows_the_last_ground_sender(make_rig) -> None:
    rig = make_rig()
    other = udp()
    try:
        rig.up(b"from A")
        assert collect(rig.flight, 1) == [b"from A"]
        rig.down(b"to A")
        assert collect(rig.ground, 1) == [b"to A"]
        other.sendto(b"from B", rig.sim.ground_address)
        assert collect(rig.flight, 1) == [b"from B"]
        rig.down(b"to B")
        assert collect(other, 1) == [b"to B"]
        assert silence(rig.ground, 0.05) == []
    finally:
        other.close()


def test_fixed_ground_peers_get_downlink_without_uplink(make_rig) -> None:
    peer = udp()
    try:
        rig = make_rig(ground_peers=[peer.getsockname()])
        rig.down(b"beacon")
        assert collect(peer, 1) == [b"beacon"]
        rig.up(b"tc")
        assert collect(rig.flight, 1) == [b"tc"]
        rig.down(b"tm")                          # now both the learned and the fixed peer
        assert collect(peer, 1) == [b"tm"]
        assert collect(rig.ground, 1) == [b"tm"]
        assert rig.stats("downlink")["forwarded"] == 2     # counts datagrams, not destinations
    finally:
        peer.close()


def test_downlink_without_a_ground_address_is_counted(make_rig) -> None:
    rig = make_rig()
    rig.down(b"nobody listens")
    drain_until(rig.ground, lambda _: rig.stats("downlink")["dropped_no_route"] == 1)
    assert rig.stats("downlink")["forwarded"] == 0


def test_many_datagrams_in_order_both_ways(make_rig) -> None:
    rig = make_rig()
    rig.up(b"hello")                                 # teach it the ground address
    collect(rig.flight, 1)
    payloads = [seq_payload(i) for i in range(500)]
    assert rig.pump(payloads) == payloads
    assert rig.pump(payloads, "downlink") == payloads


def test_empty_and_maximum_datagrams(make_rig) -> None:
    rig = make_rig(uplink={"corrupt": 1.0})          # corrupting an empty datagram is a no-op
    rig.up(b"")
    assert collect(rig.flight, 1) == [b""]
    assert rig.stats()["corrupted"] == 0
    rig.sim.set("uplink", corrupt=0.0)
    big = bytes(range(256)) * 255 + b"\x01" * 27     # 65307 bytes
    rig.up(big)
    assert collect(rig.flight, 1) == [big]


def test_ephemeral_ports_are_reported_and_stop_closes_sockets() -> None:
    flight = udp()
    sim = LinkSim("127.0.0.1:0", flight.getsockname(), control="127.0.0.1:0")
    with pytest.raises(RuntimeError):
        _ = sim.ground_address                         # not bound before start()
    with sim:
        ports = [sim.ground_address[1], sim.flight_side_address[1], sim.control_address[1]]
        assert all(p > 0 for p in ports)
        addrs = sim.addresses()
        assert addrs["ground"] == f"127.0.0.1:{ports[0]}"
        assert addrs["flight"] == format_address(flight.getsockname())
        assert sim.running
    assert not sim.running
    for port in ports:                                 # every port is free again
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", port))
        probe.close()
    with pytest.raises(RuntimeError):
        sim.start()                                    # one life only
    flight.close()


def test_stop_is_prompt_with_datagrams_held() -> None:
    flight = udp()
    sim = LinkSim("127.0.0.1:0", flight.getsockname(), uplink={"delay_ms": 60_000}).start()
    ground = udp()
    ground.sendto(b"x", sim.ground_address)
    drain_until(flight, lambda _: sim.stats()["uplink"]["queued"] == 1)
    t0 = time.monotonic()
    sim.stop()
    assert time.monotonic() - t0 < 1.0
    assert not any(t.name == "linksim" and t.is_alive() for t in threading.enumerate()
                   if t is not threading.current_thread())
    ground.close()
    flight.close()


def test_thread_safe_stats_and_set_from_other_threads(make_rig) -> None:
    rig = make_rig()
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                rig.sim.set("both", delay_ms=0.0, loss=0.0)
                assert invariant_holds(rig.sim.stats()["uplink"])
        except BaseException as exc:      # reported below
            errors.append(exc)

    workers = [threading.Thread(target=churn) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        payloads = [seq_payload(i) for i in range(300)]
        got = rig.pump(payloads)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert errors == []
    assert [seq_of(d) for d in got] == list(range(300))


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:52001", ("127.0.0.1", 52001)),
    ("[::1]:9", ("::1", 9)),
    (":0", ("", 0)),
    (("localhost", 5), ("localhost", 5)),
])
def test_parse_address(text, expected) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("bad", ["52001", "host:port", "[::1]9", "h:70000"])
def test_parse_address_rejects(bad) -> None:
    with pytest.raises(ValueError):
        parse_address(bad)


def _has_ipv6_loopback() -> bool:
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6() -> None:
    flight, ground = udp("::1", socket.AF_INET6), udp("::1", socket.AF_INET6)
    try:
        with LinkSim("[::1]:0", flight.getsockname()[:2]) as sim:
            ground.sendto(b"six", sim.ground_address)
            data, src = flight.recvfrom(100)
            assert data == b"six"
            flight.sendto(b"back", src)
            assert collect(ground, 1) == [b"back"]
            assert sim.addresses()["ground"].startswith("[::1]:")
    finally:
        flight.close()
        ground.close()



class _StallingSocket:
    """A real socket whose first ``stalls`` sendto calls report a full send buffer."""

    def __init__(self, sock: socket.socket, stalls: int) -> None:
        self._sock = sock
        self.stalls = stalls

    def sendto(self, data: bytes, addr) -> int:
        if self.stalls > 0:
            self.stalls -= 1
            raise BlockingIOError
        return self._sock.sendto(data, addr)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def test_full_send_buffer_defers_and_keeps_order(monkeypatch, make_rig) -> None:
    from hil.linksim import proxy

    made: list[_StallingSocket] = []
    real = proxy._udp_socket

    def stalling(family, bind):
        wrapped = _StallingSocket(real(family, bind), 3)
        made.append(wrapped)
        return wrapped

    monkeypatch.setattr(proxy, "_udp_socket", stalling)
    rig = make_rig()
    payloads = [seq_payload(i) for i in range(50)]
    got = rig.pump(payloads)
    assert got == payloads
    assert made[1].stalls == 0                 # the flight-side socket did stall
    s = rig.stats()
    assert (s["forwarded"], s["queued"], s["send_errors"]) == (50, 0, 0)


def test_refuses_to_forward_to_itself() -> None:
    probe = udp()
    port = probe.getsockname()[1]
    probe.close()
    sim = LinkSim(f"127.0.0.1:{port}", f"127.0.0.1:{port}")
    with pytest.raises(ValueError, match="own ground address"):
        sim.start()
