"""The PUS services and message subtypes Sunlit uses, its failure codes, and service 1 reports.

Numbers follow ECSS-E-ST-70-41C where the standard defines the message; mission services start
at 128. Each subtype enum lists TCs and TMs of its service together; :data:`MESSAGE_TYPES`
says which direction each one travels, so the comms app can refuse what it does not serve.

Service 1 (request verification) source data, big-endian::

    request id     4 bytes   the first 4 bytes of the TC (version, type, flag, APID, seq)
    step id        4 bytes   only in TM[1,5] and TM[1,6]
    failure code   2 bytes   only in failure reports (even subtypes: 2, 4, 6, 8, 10)
    failure data   0..128    only in failure reports; UTF-8 text saying why, for operators
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flight.link._checks import check_uint
from flight.link.cds import CdsTime
from flight.link.pus import REQUEST_ID_SIZE, TelemetryPacket
from flight.link.reasons import PusError, RejectReason

__all__ = [
    "APP_FAILURE_LIMIT",
    "MAX_FAILURE_DATA",
    "MESSAGE_TYPES",
    "Direction",
    "EventReport",
    "FailureCode",
    "FunctionManagement",
    "Housekeeping",
    "Jobs",
    "MessageType",
    "ParameterManagement",
    "Ping",
    "Service",
    "TimeScheduling",
    "Verification",
    "VerificationReport",
    "failure_code_for",
    "verification_packet",
]

MAX_FAILURE_DATA = 128
#: Failure codes below this are ``flight.bus.Reason`` values reported by the apps.
APP_FAILURE_LIMIT = 0x0100
STEP_ID_SIZE = 4
FAILURE_CODE_SIZE = 2


class Service(enum.IntEnum):
    VERIFICATION = 1
    HOUSEKEEPING = 3
    EVENT = 5
    FUNCTION = 8
    SCHEDULING = 11
    TEST = 17
    PARAMETER = 20
    JOBS = 128  # mission service: job uplink and result downlink


class Verification(enum.IntEnum):
    """Service 1: every TM reports on one TC, identified by its request id."""

    ACCEPTANCE_SUCCESS = 1
    ACCEPTANCE_FAILURE = 2
    START_SUCCESS = 3
    START_FAILURE = 4
    PROGRESS_SUCCESS = 5
    PROGRESS_FAILURE = 6
    COMPLETION_SUCCESS = 7
    COMPLETION_FAILURE = 8
    ROUTING_FAILURE = 10


class Housekeeping(enum.IntEnum):
    ENABLE_PERIODIC = 5  # TC: enable periodic reports of the listed structures
    DISABLE_PERIODIC = 6  # TC
    PARAMETER_REPORT = 25  # TM: one housekeeping report
    GENERATE_ONE_SHOT = 27  # TC: report the listed structures now
    MODIFY_INTERVAL = 31  # TC: change the collection interval of structures


class EventReport(enum.IntEnum):
    """Service 5: report subtypes 1..4 equal ``flight.app.model.Severity`` INFO..CRITICAL."""

    INFORMATIVE = 1
    LOW_SEVERITY = 2
    MEDIUM_SEVERITY = 3
    HIGH_SEVERITY = 4
    ENABLE = 5  # TC: enable the listed event definitions
    DISABLE = 6  # TC


class FunctionManagement(enum.IntEnum):
    PERFORM = 1  # TC: function id + msgpack arguments (a dictionary command)
    RESULT_REPORT = 128  # TM (mission subtype): request id + msgpack of what the command returned


class TimeScheduling(enum.IntEnum):
    ENABLE = 1  # TC: enable the time-based schedule execution function
    DISABLE = 2  # TC
    RESET = 3  # TC: delete every scheduled activity
    INSERT = 4  # TC: insert activities (release time + TC)
    DELETE_BY_ID = 5  # TC: delete activities identified by request id
    SUMMARY_REPORT = 13  # TM: summary of scheduled activities
    REPORT_SUMMARY_ALL = 17  # TC: summary-report all scheduled activities


class Ping(enum.IntEnum):
    """Service 17 (test): the are-you-alive connection test."""

    PING = 1  # TC
    PONG = 2  # TM


class ParameterManagement(enum.IntEnum):
    REPORT = 1  # TC: report the values of the listed parameters
    VALUE_REPORT = 2  # TM
    SET = 3  # TC: set parameter values


class Jobs(enum.IntEnum):
    """Service 128 (mission): the job runner's queue and its results (docs/icd.md 9.1)."""

    SUBMIT = 1  # TC: {kind, params, priority} -> TM[128,4] {job, params}
    CANCEL = 2  # TC: {job}
    REPORT_STATUS = 3  # TC: {job} -> that job's record; {} -> the list of jobs
    STATUS_REPORT = 4  # TM
    DOWNLINK_RESULT = 5  # TC
    RESULT_CHUNK = 6  # TM


class Direction(str, enum.Enum):
    TC = "tc"
    TM = "tm"


@dataclass(frozen=True, slots=True)
class MessageType:
    service: int
    subtype: int
    direction: Direction
    name: str


def _table() -> dict[tuple[int, int], MessageType]:
    """Every message type Sunlit defines, keyed by (service, subtype)."""
    tm: set[tuple[int, int]] = {(Service.VERIFICATION, v) for v in Verification}
    tm |= {(Service.EVENT, s) for s in range(1, 5)}
    tm |= {
        (Service.HOUSEKEEPING, Housekeeping.PARAMETER_REPORT),
        (Service.SCHEDULING, TimeScheduling.SUMMARY_REPORT),
        (Service.TEST, Ping.PONG),
        (Service.FUNCTION, FunctionManagement.RESULT_REPORT),
        (Service.PARAMETER, ParameterManagement.VALUE_REPORT),
        (Service.JOBS, Jobs.STATUS_REPORT),
        (Service.JOBS, Jobs.RESULT_CHUNK),
    }
    enums: dict[Service, type[enum.IntEnum]] = {
        Service.VERIFICATION: Verification, Service.HOUSEKEEPING: Housekeeping,
        Service.EVENT: EventReport, Service.FUNCTION: FunctionManagement,
        Service.SCHEDULING: TimeScheduling, Service.TEST: Ping,
        Service.PARAMETER: ParameterManagement, Service.JOBS: Jobs,
    }
    table: dict[tuple[int, int], MessageType] = {}
    for service, subtypes in enums.items():
        for sub in subtypes:
            way = Direction.TM if (service, sub) in tm else Direction.TC
            name = f"{service.name.lower()}.{sub.name.lower()}"
            table[(int(service), int(sub))] = MessageType(int(service), int(sub), way, name)
    return table


#: (service, subtype) -> what it is and which way it travels.
MESSAGE_TYPES: dict[tuple[int, int], MessageType] = _table()


class FailureCode(enum.IntEnum):
    """The 16-bit failure code in service 1 failure reports, by range.

    0x0001-0x00FF: the outcome an app reports for a command it refused or failed. These are
    ``flight.bus.Reason`` values, used as they are (the dictionary's ``reasons`` map names
    them for the ground), so they are not repeated here.
    0x0100-0x01FF: acceptance checks done by the comms app; names equal ``RejectReason`` names.
    0x0200-0x02FF: routing. 0x0300-0x03FF: time-tagged commands (service 11).
    """

    BAD_CRC = 0x0101
    TRUNCATED = 0x0102
    LENGTH_MISMATCH = 0x0103
    NO_SECONDARY_HEADER = 0x0104
    SEGMENTED = 0x0105
    BAD_PUS_VERSION = 0x0106
    UNKNOWN_APID = 0x0107
    UNKNOWN_SERVICE = 0x0108
    UNKNOWN_SUBTYPE = 0x0109
    BAD_APP_DATA = 0x010A
    ROUTING_FAILED = 0x0201  # the target app did not take the command (down, queue full)
    SCHEDULE_FULL = 0x0301
    RELEASE_TIME_PASSED = 0x0302


def failure_code_for(reason: RejectReason) -> FailureCode | None:
    """The acceptance-failure code for a link rejection, or ``None`` when no report is due.

    ``None`` for authentication failures (the frame is not trusted, and an answer would be an
    oracle for whoever forged it), for idle packets, for non-TCs and for datagrams that are not
    CCSDS version-1 packets at all: none of them has a request id worth echoing.
    """
    return FailureCode.__members__.get(reason.name)


_VERIFICATION_SUBTYPES = frozenset(int(v) for v in Verification)


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """The source data of a service 1 report; ``encode``/``decode`` follow the module layout."""

    subtype: Verification
    request_id: bytes
    step: int | None = None
    code: int | None = None
    data: bytes = b""

    def __post_init__(self) -> None:
        kind = Verification(self.subtype)
        object.__setattr__(self, "subtype", kind)
        object.__setattr__(self, "request_id", bytes(self.request_id))
        object.__setattr__(self, "data", bytes(self.data))
        if len(self.request_id) != REQUEST_ID_SIZE:
            raise ValueError(f"request id must be {REQUEST_ID_SIZE} bytes")
        _require(kind, "step id", self.step, _has_step(kind), 0xFFFF_FFFF)
        _require(kind, "failure code", self.code, _is_failure(kind), 0xFFFF)
        if self.data and not _is_failure(kind):
            raise ValueError(f"{kind.name}: failure data in a success report")
        if len(self.data) > MAX_FAILURE_DATA:
            raise ValueError(f"failure data is {len(self.data)} bytes, at most {MAX_FAILURE_DATA}")

    @property
    def is_failure(self) -> bool:
        return _is_failure(self.subtype)

    def encode(self) -> bytes:
        parts = [self.request_id]
        if self.step is not None:
            parts.append(self.step.to_bytes(STEP_ID_SIZE, "big"))
        if self.code is not None:
            parts.append(self.code.to_bytes(FAILURE_CODE_SIZE, "big"))
            parts.append(self.data)
        return b"".join(parts)

    @classmethod
    def decode(cls, subtype: int, source_data: bytes | bytearray) -> VerificationReport:
        """Parse the source data of a TM[1,subtype]; raises :class:`PusError` if malformed."""
        if subtype not in _VERIFICATION_SUBTYPES:
            raise PusError(RejectReason.UNKNOWN_SUBTYPE, f"no service 1 subtype {subtype}")
        kind = Verification(subtype)
        fixed = REQUEST_ID_SIZE + (STEP_ID_SIZE if _has_step(kind) else 0)
        fixed += FAILURE_CODE_SIZE if _is_failure(kind) else 0
        longest = fixed + (MAX_FAILURE_DATA if _is_failure(kind) else 0)
        if not fixed <= len(source_data) <= longest:
            raise PusError(RejectReason.BAD_APP_DATA, f"TM[1,{subtype}] source data is "
                           f"{len(source_data)} bytes, expected {fixed}..{longest}")
        step = code = None
        offset = REQUEST_ID_SIZE
        if _has_step(kind):
            step = int.from_bytes(source_data[offset:offset + STEP_ID_SIZE], "big")
            offset += STEP_ID_SIZE
        if _is_failure(kind):
            code = int.from_bytes(source_data[offset:offset + FAILURE_CODE_SIZE], "big")
            offset += FAILURE_CODE_SIZE
        return cls(kind, bytes(source_data[:REQUEST_ID_SIZE]), step, code,
                   bytes(source_data[offset:]))


def verification_packet(report: VerificationReport, *, apid: int, time: CdsTime,
                        seq_count: int = 0, msg_counter: int = 0,
                        destination_id: int = 0) -> TelemetryPacket:
    """Wrap a report in its TM[1,x] packet."""
    return TelemetryPacket(apid=apid, service=Service.VERIFICATION, subtype=report.subtype,
                           time=time, source_data=report.encode(), seq_count=seq_count,
                           msg_counter=msg_counter, destination_id=destination_id)


def _has_step(subtype: int) -> bool:
    return subtype in (Verification.PROGRESS_SUCCESS, Verification.PROGRESS_FAILURE)


def _is_failure(subtype: int) -> bool:
    """Even subtypes (2, 4, 6, 8, 10) report failures and carry a failure notice."""
    return subtype % 2 == 0


def _require(kind: Verification, what: str, value: int | None, wanted: bool,
             maximum: int) -> None:
    """A field present exactly when the subtype calls for it, and in range when present."""
    if (value is not None) != wanted:
        raise ValueError(f"{kind.name}: {what} {'required' if wanted else 'not allowed'}")
    if value is not None:
        check_uint(what, value, maximum)
