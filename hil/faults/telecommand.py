"""Telecommand faults: forged, replayed and malformed frames sent to comms as real datagrams.

The attacker's and the broken ground's view of the space link (ARCHITECTURE §5):

* ``tc_forged`` — a well-formed telecommand in a frame with a MAC made with the wrong key
  (``bad_mac``) or under a security parameter index comms has no key for (``unknown_spi``);
* ``tc_replayed`` — a frame the ground really sent earlier, resent byte for byte (``replay``, or
  ``arsn_outside_window`` once the window has moved past it);
* ``tc_malformed`` — an authentic frame whose packet has a bad CRC (``bad_crc``), a frame too
  short to hold a packet (``truncated``), one above the size limit (``oversized``), or random
  bytes (``garbage``: whatever check they fail first).

Each is sent through the link proxy from the testbed's own ground socket (so the proxy and comms
keep answering the ground station) or, on an attached flatsat, straight to comms' port. Comms
must refuse each, count it under its reason (``tc_rejected`` in ``comms.status`` and telemetry),
execute nothing, answer nothing that is not authentic, and keep serving the real ground. The
counters before and after are the evidence; the injector waits (``wait_s``) until they moved.
"""

from __future__ import annotations

import random
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register
from hil.faults.onboard import call, supervised_apps

if TYPE_CHECKING:
    from hil.testbed import Testbed

COMMS_CLASS = "flight.apps.comms:CommsApp"
#: Routes a datagram can take to comms.
VIA = ("auto", "link", "direct")
FORGERIES = ("any", "bad_mac", "unknown_spi")
MALFORMATIONS = ("any", "bad_crc", "truncated", "oversized", "garbage")
#: The rejection reasons that count as "refused" for each kind (None: any reason).
EXPECTED: dict[str, tuple[str, ...] | None] = {
    "bad_mac": ("bad_mac",), "unknown_spi": ("unknown_spi",),
    "replay": ("replay", "arsn_outside_window"),
    "bad_crc": ("bad_crc",), "truncated": ("truncated",), "oversized": ("oversized",),
    "garbage": None,
}
COMMON_PARAMS = (
    Param("count", int, "datagrams sent (a burst)", default=1, min=1, max=10_000),
    Param("via", str, "link: through the link proxy from the ground's socket; direct: "
          "straight to comms' port; auto: link when the testbed has a ground station",
          default="auto", choices=VIA),
    Param("wait_s", float, "how long to wait for comms' counters to show the rejections",
          default=5.0, min=0.0, max=60.0),
)


# ---------------------------------------------------------------------- comms and its settings
def comms_apps(bed: Testbed) -> list[str]:
    """The running apps that are a comms (by class), i.e. the ends of the space link."""
    apps = bed.config.get("apps", {})
    running = set(supervised_apps(bed))
    return sorted(name for name, section in apps.items()
                  if isinstance(section, dict) and section.get("class") == COMMS_CLASS
                  and name in running)


def settings(bed: Testbed, app: str) -> dict[str, Any]:
    return dict(bed.config["apps"][app])


def authenticated(bed: Testbed, app: str) -> bool:
    return settings(bed, app).get("auth", "hmac-sha256") != "none"


def counters(bed: Testbed, app: str) -> dict[str, Any]:
    """What comms reports about its uplink now: received, accepted, rejected by reason."""
    status = call(bed, app, "status")
    return {"rx_datagrams": status.get("rx_datagrams", 0),
            "tc_accepted": status.get("tc_accepted", 0),
            "tc_rejected": dict(status.get("tc_rejected") or {}),
            "highest_arsn": status.get("highest_arsn")}


def _rejected(snapshot: Mapping[str, Any], reasons: tuple[str, ...] | None) -> int:
    table = snapshot["tc_rejected"]
    return sum(table.values()) if reasons is None else sum(table.get(r, 0) for r in reasons)


# ---------------------------------------------------------------------- building frames
def ping_packet(rng: random.Random, max_size: int) -> bytes:
    """A well-formed TC[17,1] to comms (harmless if it were ever executed)."""
    from flight.dictionary import APID_BASE
    from flight.link import GROUND_ID, Telecommand

    return Telecommand(APID_BASE, 17, 1, b"", seq_count=rng.randrange(1 << 14),
                       source_id=GROUND_ID).encode(max_size)


def arsn_source(bed: Testbed, spi: int, highest: int | None) -> Callable[[], int]:
    """ARSNs nobody used: drawn from the ground's own counter (shared, under its lock, with
    the ground station), above the highest comms accepted."""
    from ground.link import SenderState

    state = SenderState(bed.ground_state or bed.run_dir / "ground")

    def next_arsn() -> int:
        arsn = state.next_arsn(spi)
        if highest is not None and arsn <= highest:
            state.skip_arsn_to(spi, highest)
            arsn = state.next_arsn(spi)
        return arsn
    return next_arsn


def sealer(bed: Testbed, app: str) -> Callable[[bytes, int], bytes]:
    """``seal(packet, arsn)``: a packet in an authentic frame (or bare, on a link without
    authentication), with the key read once for a whole burst."""
    from flight.link import Authenticator, KeyFileError, load_key

    s = settings(bed, app)
    if not authenticated(bed, app):
        return lambda packet, _arsn: packet
    try:
        key = load_key(bed.key_file)
    except (KeyFileError, OSError) as exc:
        raise FaultError(f"cannot read the link key {bed.key_file}: {exc}") from None
    spi = int(s["spi"])
    authenticator = Authenticator({spi: key}, max_packet=int(s["max_datagram"]))
    return lambda packet, arsn: authenticator.seal(spi, arsn, packet)


# ---------------------------------------------------------------------- sending
class Route:
    """Where the datagrams go: the ground station's socket (via the link), or a socket of its
    own straight to comms' port."""

    def __init__(self, bed: Testbed, app: str, via: str) -> None:
        if via == "auto":
            via = "link" if bed.ground is not None else "direct"
        self._sock: socket.socket | None = None
        if via == "link":
            if bed.ground is None:
                raise FaultError("via=link needs the testbed's ground station (its socket is "
                                 "the one the link proxy and comms answer); use via=direct")
            send_raw = getattr(bed.ground.link, "send_raw", None)
            if send_raw is None:
                raise FaultError("the ground station's link cannot send raw frames; use "
                                 "via=direct")
            self.name = "link"
            self._send_raw: Callable[[bytes], None] = send_raw
            return
        self.address = comms_address(bed, app)
        self.name = f"direct {self.address[0]}:{self.address[1]}"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, frame: bytes) -> None:
        try:
            if self._sock is None:
                self._send_raw(frame)
            else:
                self._sock.sendto(frame, self.address)
        except OSError as exc:
            raise FaultError(f"cannot send a datagram ({self.name}): {exc}") from None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


def comms_address(bed: Testbed, app: str) -> tuple[str, int]:
    """Where ``app`` listens: the testbed's address for comms, else its configured one."""
    if bed.address and bed.address[1]:
        return bed.address[0], int(bed.address[1])
    host, _, port = str(settings(bed, app).get("address", "")).rpartition(":")
    if not port.isdigit() or not int(port):
        raise FaultError(f"{app} has no fixed address in the configuration")
    return host or "127.0.0.1", int(port)


def burst(bed: Testbed, app: str, params: Mapping[str, Any], kind: str,
          frames: Callable[[int], bytes]) -> tuple[dict[str, Any], str]:
    """Send ``params['count']`` frames (``frames(i)`` builds the i-th), wait for the counters.

    Returns the evidence and a one-line summary of what comms did about them.
    """
    reasons = EXPECTED[kind]
    before = counters(bed, app)
    built = [frames(i) for i in range(params["count"])]
    route = Route(bed, app, params["via"])
    try:
        for frame in built:
            route.send(frame)
    finally:
        route.close()
    after = _wait(bed, app, before, reasons, params["count"], params["wait_s"])
    refused = _rejected(after, reasons) - _rejected(before, reasons)
    accepted = after["tc_accepted"] - before["tc_accepted"]
    delta = {k: v - before["tc_rejected"].get(k, 0) for k, v in after["tc_rejected"].items()
             if v != before["tc_rejected"].get(k, 0)}
    evidence = {"kind": kind, "route": route.name, "sent": len(built),
                "frame_bytes": [len(f) for f in built[:16]], "first_frame": built[0][:64].hex(),
                "expected_reasons": list(reasons) if reasons else "any",
                "counters_before": before, "counters_after": after,
                "rejected_delta": delta, "refused": refused, "accepted_delta": accepted}
    named = "/".join(reasons) if reasons else "any reason"
    summary = f"{refused} of {len(built)} refused as {named}"
    if accepted:
        summary += f"; comms accepted {accepted} telecommand(s) meanwhile"
    return evidence, summary


def _wait(bed: Testbed, app: str, before: dict[str, Any], reasons: tuple[str, ...] | None,
          count: int, wait_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        now = counters(bed, app)
        if _rejected(now, reasons) - _rejected(before, reasons) >= count \
                or time.monotonic() >= deadline:
            return now
        time.sleep(0.05)


class _TcFault(Fault):
    fault_class = FaultClass.TELECOMMAND
    target_doc = "comms (the end of the space link)"
    needs_auth = False

    def targets(self, bed: Testbed) -> list[str]:
        apps = comms_apps(bed)
        return [a for a in apps if authenticated(bed, a)] if self.needs_auth else apps

    def why_no_targets(self, bed: Testbed) -> str:
        if self.needs_auth and comms_apps(bed):
            return ("comms runs without authentication (auth = \"none\"): there is no MAC or "
                    "ARSN to refuse it by")
        return "comms is not running"

    def _done(self, target: str, params: Mapping[str, Any], kind: str,
              evidence: dict[str, Any], summary: str) -> Injection:
        detail = (f"{evidence['sent']} {kind} frame(s) to {target} via {evidence['route']}: "
                  f"{summary}")
        return Injection(self.name, self.fault_class.value, target, dict(params), detail,
                         evidence=evidence)


@register
class TcForged(_TcFault):
    name = "tc_forged"
    needs_auth = True
    doc = ("Send telecommand frames that are not authentic: a MAC made with the wrong key "
           "(bad_mac) or an SPI with no key on board (unknown_spi). Comms must drop them "
           "unanswered, count them, and go on serving the real ground.")
    params = (Param("how", str, "which forgery (any: drawn at random)", default="any",
                    choices=FORGERIES), *COMMON_PARAMS)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        kind = params["how"] if params["how"] != "any" else rng.choice(FORGERIES[1:])
        s = settings(bed, target)
        spi = int(s["spi"])
        from flight.link import Authenticator

        def frame(_: int) -> bytes:
            packet = ping_packet(rng, int(s["max_datagram"]))
            arsn = rng.randrange(1, 1 << 32)
            if kind == "bad_mac":
                wrong = Authenticator({spi: rng.randbytes(32)}, max_packet=len(packet))
                return wrong.seal(spi, arsn, packet)
            other = rng.randrange(1, 65536)
            other = other if other != spi else other % 65535 + 1
            forger = Authenticator({other: rng.randbytes(32)}, max_packet=len(packet))
            return forger.seal(other, arsn, packet)

        evidence, summary = burst(bed, target, params, kind, frame)
        return self._done(target, params, kind, evidence, summary)


def _archived_frames(path: Path) -> list[bytes]:
    """Uplink frames recorded in a ground archive (newest last); [] if there is none."""
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = db.execute("SELECT raw FROM packets WHERE direction = 'up' "
                              "ORDER BY id DESC LIMIT 256").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise FaultError(f"cannot read the ground archive {path}: {exc}") from None
    return [bytes(r[0]) for r in reversed(rows)]


def sent_frames(bed: Testbed) -> tuple[list[bytes], str]:
    """Frames the ground really sent (oldest first) and where they were found."""
    if bed.ground is not None:
        frames = [h.raw for h in bed.ground.commands() if h.raw]
        if frames:
            return frames, "the ground station's history"
    archives = list(dict.fromkeys([bed.archive_path, bed.run_dir / "ground" / "archive.sqlite"]))
    for archive in archives:
        frames = _archived_frames(archive)
        if frames:
            return frames, f"the ground archive {archive}"
    return [], " or ".join(str(a) for a in archives)


@register
class TcReplayed(_TcFault):
    name = "tc_replayed"
    needs_auth = True
    doc = ("Resend, byte for byte, a frame the ground sent earlier: comms must refuse it by "
           "its ARSN (replay, or arsn_outside_window once the window moved on) and never "
           "execute the command twice.")
    params = (Param("pick", str, "which earlier frame: the last one or any one", default="last",
                    choices=("last", "any")), *COMMON_PARAMS)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        frames, source = sent_frames(bed)
        if not frames:
            raise FaultError(f"no frame to replay: nothing in {source} (send a telecommand "
                             f"from the ground first)")
        original = frames[-1] if params["pick"] == "last" else rng.choice(frames)
        evidence, summary = burst(bed, target, params, "replay", lambda _: original)
        evidence["replayed_from"] = source
        evidence["replayed_arsn"] = int.from_bytes(original[2:6], "big")
        return self._done(target, params, "replayed", evidence, summary)


@register
class TcMalformed(_TcFault):
    name = "tc_malformed"
    doc = ("Send malformed telecommands: an authentic frame whose packet CRC is wrong "
           "(bad_crc), a frame too short for a packet (truncated), one above the size limit "
           "(oversized), or random bytes (garbage). Comms must count each by reason and drop "
           "it, answering (TM[1,2]) only what is authentic.")
    params = (Param("how", str, "which malformation (any: drawn at random)", default="any",
                    choices=MALFORMATIONS), *COMMON_PARAMS)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        kind = params["how"] if params["how"] != "any" else rng.choice(MALFORMATIONS[1:])
        s = settings(bed, target)
        limit = int(s["max_datagram"])
        auth = authenticated(bed, target)
        overhead = 22 if auth else 0
        highest = counters(bed, target)["highest_arsn"] if auth and kind == "bad_crc" else None
        next_arsn = arsn_source(bed, int(s["spi"]), highest) if auth and kind == "bad_crc" \
            else (lambda: 0)
        seal = sealer(bed, target) if kind == "bad_crc" else None

        def frame(_: int) -> bytes:
            if seal is not None:
                packet = bytearray(ping_packet(rng, limit))
                packet[-1 - rng.randrange(2)] ^= 1 << rng.randrange(8)
                return seal(bytes(packet), next_arsn())
            if kind == "truncated":
                return rng.randbytes(rng.randrange(1, overhead + 7))
            if kind == "oversized":
                return rng.randbytes(limit + overhead + 1 + rng.randrange(1024))
            return rng.randbytes(rng.randrange(overhead + 7, 512))

        evidence, summary = burst(bed, target, params, kind, frame)
        return self._done(target, params, kind, evidence, summary)
