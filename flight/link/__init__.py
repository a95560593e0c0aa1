"""The space link's codecs: CCSDS space packets, PUS-C, CDS time and the authentication envelope.

Pure functions and small classes over bytes: no sockets, no threads, no bus. The comms app (on
board) and the ground station (on the operator's machine) both build on it, so the wire is
defined in one place. ``docs/icd.md`` is the prose version of the same contract.

Typical use, on board::

    auth = Authenticator({1: load_key(path)}, store=FileArsnStore(run_dir, "arsn-rx"))
    try:
        tc = Telecommand.decode(auth.open(datagram).packet)
    except LinkError as exc:
        counters[exc.reason] += 1
"""

from flight.link.apids import BROADCAST_ID, GROUND_ID, Apid, apid_for
from flight.link.arsn import (
    ArsnCounter,
    ArsnExhaustedError,
    ArsnStore,
    ArsnStoreError,
    FileArsnStore,
    MemoryArsnStore,
)
from flight.link.auth import OVERHEAD, PLAIN_SPI, Authenticator, Opened, PlainLink, compute_mac
from flight.link.cds import CdsTime
from flight.link.crc import crc16
from flight.link.keys import KEY_SIZE, KeyFileError, generate_key, load_key
from flight.link.pus import DEFAULT_MAX_SIZE, Ack, Telecommand, TelemetryPacket, request_id_of
from flight.link.reasons import AuthError, CrcError, LinkError, PacketError, PusError, RejectReason
from flight.link.replay import DEFAULT_WINDOW, ReplayWindow
from flight.link.sequence import MessageCounters, SequenceCounters
from flight.link.services import (
    MESSAGE_TYPES,
    FailureCode,
    Service,
    Verification,
    VerificationReport,
    failure_code_for,
    verification_packet,
)
from flight.link.spacepacket import IDLE_APID, PacketType, PrimaryHeader, SequenceFlags

__all__ = [
    "BROADCAST_ID",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_WINDOW",
    "GROUND_ID",
    "IDLE_APID",
    "KEY_SIZE",
    "MESSAGE_TYPES",
    "OVERHEAD",
    "PLAIN_SPI",
    "Ack",
    "Apid",
    "ArsnCounter",
    "ArsnExhaustedError",
    "ArsnStore",
    "ArsnStoreError",
    "AuthError",
    "Authenticator",
    "CdsTime",
    "CrcError",
    "FailureCode",
    "FileArsnStore",
    "KeyFileError",
    "LinkError",
    "MemoryArsnStore",
    "MessageCounters",
    "Opened",
    "PacketError",
    "PacketType",
    "PlainLink",
    "PrimaryHeader",
    "PusError",
    "RejectReason",
    "ReplayWindow",
    "SequenceCounters",
    "SequenceFlags",
    "Service",
    "Telecommand",
    "TelemetryPacket",
    "Verification",
    "VerificationReport",
    "apid_for",
    "compute_mac",
    "crc16",
    "failure_code_for",
    "generate_key",
    "load_key",
    "request_id_of",
    "verification_packet",
]
