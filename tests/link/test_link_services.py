"""Service definitions, failure codes and service 1 report encoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.app.model import Severity
from flight.bus.reasons import Reason
from flight.link import (
    MESSAGE_TYPES,
    Apid,
    CdsTime,
    FailureCode,
    LinkError,
    RejectReason,
    Telecommand,
    TelemetryPacket,
    Verification,
    VerificationReport,
    apid_for,
    failure_code_for,
    verification_packet,
)
from flight.link.services import APP_FAILURE_LIMIT, Direction, EventReport, Service

REQ = bytes.fromhex("1810c001")


def test_app_failure_codes_are_bus_reasons_and_never_collide() -> None:
    """An app's FAILED reason is the report's failure code as is: it must fit its range."""
    assert all(0 < reason < APP_FAILURE_LIMIT for reason in Reason if reason is not Reason.OK)
    assert all(code >= APP_FAILURE_LIMIT for code in FailureCode)


def test_event_subtypes_equal_severities() -> None:
    for severity in (Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL):
        assert EventReport(int(severity)).value == severity.value


def test_failure_codes_are_unique_and_16_bit() -> None:
    values = [int(c) for c in FailureCode]
    assert len(set(values)) == len(values) and all(0 < v <= 0xFFFF for v in values)


@pytest.mark.parametrize("reason", list(RejectReason))
def test_every_rejection_has_a_reasoned_failure_code_mapping(reason: RejectReason) -> None:
    code = failure_code_for(reason)
    no_report = {RejectReason.UNKNOWN_SPI, RejectReason.BAD_MAC, RejectReason.REPLAY,
                 RejectReason.ARSN_OUTSIDE_WINDOW, RejectReason.IDLE, RejectReason.NOT_TC,
                 RejectReason.NOT_TM, RejectReason.BAD_VERSION, RejectReason.OVERSIZED,
                 RejectReason.BAD_TIME_CODE}
    assert (code is None) == (reason in no_report)
    if code is not None:
        assert code.name == reason.name and 0x0100 <= code < 0x0200


def test_message_types() -> None:
    assert MESSAGE_TYPES[(17, 1)].direction is Direction.TC
    assert MESSAGE_TYPES[(17, 2)].direction is Direction.TM
    assert MESSAGE_TYPES[(8, 1)].name == "function.perform"
    assert all(mt.direction is Direction.TM for (s, _), mt in MESSAGE_TYPES.items() if s == 1)
    assert all(s < 128 or s == Service.JOBS for (s, _) in MESSAGE_TYPES)


def test_apid_plan() -> None:
    assert apid_for("comms") == 0x10 and apid_for("world") == 0x17
    assert [int(a) for a in Apid][:8] == list(range(0x10, 0x18))
    with pytest.raises(KeyError):
        apid_for("idle")
    with pytest.raises(KeyError):
        apid_for("nope")


request_ids = st.binary(min_size=4, max_size=4)
reports = st.one_of(
    st.builds(VerificationReport, st.sampled_from([1, 3, 7]).map(Verification), request_ids),
    st.builds(VerificationReport, st.just(Verification.PROGRESS_SUCCESS), request_ids,
              st.integers(0, 2**32 - 1)),
    st.builds(VerificationReport, st.sampled_from([2, 4, 8, 10]).map(Verification), request_ids,
              st.none(), st.integers(0, 0xFFFF), st.binary(max_size=128)),
)


@given(reports)
def test_report_round_trip(report: VerificationReport) -> None:
    assert VerificationReport.decode(report.subtype, report.encode()) == report


def test_report_layouts() -> None:
    assert VerificationReport(Verification.COMPLETION_SUCCESS, REQ).encode() == REQ
    step = VerificationReport(Verification.PROGRESS_FAILURE, REQ, step=2, code=5, data=b"x")
    assert step.encode() == REQ + bytes.fromhex("00000002" "0005") + b"x"
    assert step.is_failure


@pytest.mark.parametrize("kwargs", [
    {"subtype": 1, "request_id": b"\x00" * 3},
    {"subtype": 1, "request_id": REQ, "code": 1},
    {"subtype": 2, "request_id": REQ},
    {"subtype": 5, "request_id": REQ},
    {"subtype": 3, "request_id": REQ, "step": 1},
    {"subtype": 2, "request_id": REQ, "code": 0x10000},
    {"subtype": 2, "request_id": REQ, "code": 1, "data": bytes(129)},
    {"subtype": 7, "request_id": REQ, "data": b"x"},
    {"subtype": 9, "request_id": REQ},
])
def test_report_rejects_inconsistent_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        VerificationReport(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("subtype", "data", "reason"), [
    (9, REQ, RejectReason.UNKNOWN_SUBTYPE),
    (1, REQ[:3], RejectReason.BAD_APP_DATA),
    (1, REQ + b"\x00", RejectReason.BAD_APP_DATA),
    (2, REQ + b"\x01", RejectReason.BAD_APP_DATA),
    (6, REQ + b"\x00\x00\x00\x01\x00", RejectReason.BAD_APP_DATA),
    (8, REQ + b"\x00\x01" + bytes(129), RejectReason.BAD_APP_DATA),
])
def test_report_decode_errors(subtype: int, data: bytes, reason: RejectReason) -> None:
    with pytest.raises(LinkError) as info:
        VerificationReport.decode(subtype, data)
    assert info.value.reason is reason


@given(st.integers(0, 255), st.binary(max_size=200))
def test_report_decoder_raises_only_link_errors(subtype: int, data: bytes) -> None:
    with contextlib.suppress(LinkError):
        VerificationReport.decode(subtype, data)


def test_verification_packet_for_a_telecommand() -> None:
    tc = Telecommand(apid=0x13, service=8, subtype=1, seq_count=77, source_id=1)
    report = VerificationReport(Verification.COMPLETION_FAILURE, tc.request_id,
                                code=Reason.BUSY, data=b"load shedding")
    tm = verification_packet(report, apid=tc.apid, time=CdsTime(1, 2), seq_count=3,
                             msg_counter=4, destination_id=tc.source_id)
    back = TelemetryPacket.decode(tm.encode())
    assert (back.service, back.subtype, back.destination_id) == (1, 8, 1)
    assert VerificationReport.decode(back.subtype, back.source_data) == report
