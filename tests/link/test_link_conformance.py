"""Conformance with an independent implementation: spacepackets (used here, never in flight/).

The contract says any conformant decoder must read every packet Sunlit emits, and Sunlit must
accept any conformant encoder's telecommands. spacepackets stands in for "any": it is the PUS-C
library ground tools in the Python world use, written without reference to Sunlit.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import SequenceFlags as SpSequenceFlags
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss.fields import PacketFieldEnum
from spacepackets.ecss.pus_1_verification import (
    FailureNotice,
    ManagedParamsVerification,
    Service1Tm,
    VerificationParams,
)
from spacepackets.ecss.pus_1_verification import MessageSubtype as Sp1
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import ManagedParams, MiscParams, PusTm

from flight.link import CdsTime, Telecommand, TelemetryPacket, VerificationReport
from flight.link.services import Verification, verification_packet
from tests.link.strategies import apids, cds_times, payloads, seq_counts, telemetry, u8, u16

#: How Sunlit's service 1 fields are sized (docs/icd.md): 4-byte step id, 2-byte failure code.
SUNLIT_VERIFICATION = ManagedParamsVerification(bytes_step_id=4, bytes_err_code=2)


def sp_tm_from(tm: TelemetryPacket) -> PusTm:
    return PusTm(
        service=tm.service, message_subtype=tm.subtype,
        timestamp=CdsShortTimestamp(tm.time.days, tm.time.ms_of_day).pack(),
        source_data=tm.source_data, apid=tm.apid, seq_count=tm.seq_count,
        message_counter=tm.msg_counter, destination_id=tm.destination_id,
        misc_params=MiscParams(spacecraft_time_ref=tm.time_ref_status),
    )


@given(telemetry)
def test_spacepackets_reads_every_tm_sunlit_emits(tm: TelemetryPacket) -> None:
    raw = tm.encode()
    theirs = PusTm.unpack(raw, timestamp_len=CdsShortTimestamp.TIMESTAMP_SIZE)  # checks the CRC
    assert (theirs.apid, theirs.seq_count, theirs.service, theirs.message_subtype) == (
        tm.apid, tm.seq_count, tm.service, tm.subtype)
    header = theirs.pus_tm_sec_header
    assert (header.message_counter, header.dest_id, header.spacecraft_time_ref) == (
        tm.msg_counter, tm.destination_id, tm.time_ref_status)
    assert theirs.sp_header.seq_flags == SpSequenceFlags.UNSEGMENTED
    assert theirs.tm_data == tm.source_data
    stamp = CdsShortTimestamp.unpack(theirs.timestamp)
    assert (stamp.ccsds_days, stamp.ms_of_day) == (tm.time.days, tm.time.ms_of_day)


@given(telemetry)
def test_same_tm_fields_give_identical_bytes(tm: TelemetryPacket) -> None:
    theirs = bytes(sp_tm_from(tm).pack())
    assert theirs == tm.encode()
    assert TelemetryPacket.decode(theirs) == tm


@given(apids, u8, u8, payloads, seq_counts, u16, st.integers(0, 15))
def test_sunlit_accepts_every_tc_spacepackets_builds(
    apid: int, service: int, subtype: int, app_data: bytes, seq: int, source: int, ack: int,
) -> None:
    theirs = PusTc(service=service, message_subtype=subtype, apid=apid, app_data=app_data,
                   seq_count=seq, source_id=source, ack_flags=ack)
    raw = bytes(theirs.pack())
    tc = Telecommand.decode(raw)
    assert (tc.apid, tc.service, tc.subtype, tc.app_data) == (apid, service, subtype, app_data)
    assert (tc.seq_count, tc.source_id, int(tc.ack)) == (seq, source, ack)
    assert tc.request_id == RequestId.from_pus_tc(theirs).pack()
    assert tc.encode() == raw


@given(cds_times)
def test_time_field_matches_cds_short_timestamp(stamp: CdsTime) -> None:
    theirs = CdsShortTimestamp(stamp.days, stamp.ms_of_day)
    assert theirs.pack() == stamp.encode()
    assert len(stamp.encode()) == theirs.len_packed == 7
    assert CdsTime.decode(theirs.pack()) == stamp


reports = st.one_of(
    st.builds(VerificationReport, st.sampled_from([1, 3, 7]).map(Verification),
              st.binary(min_size=4, max_size=4)),
    st.builds(VerificationReport, st.just(Verification.PROGRESS_SUCCESS),
              st.binary(min_size=4, max_size=4), st.integers(0, 2**32 - 1)),
    st.builds(VerificationReport, st.sampled_from([2, 4, 8, 10]).map(Verification),
              st.binary(min_size=4, max_size=4), st.none(), u16, st.binary(max_size=128)),
    st.builds(VerificationReport, st.just(Verification.PROGRESS_FAILURE),
              st.binary(min_size=4, max_size=4), st.integers(0, 2**32 - 1), u16,
              st.binary(max_size=128)),
)


@given(reports, cds_times)
def test_spacepackets_reads_sunlit_verification_reports(
    report: VerificationReport, stamp: CdsTime,
) -> None:
    raw = verification_packet(report, apid=0x10, time=stamp).encode()
    if report.subtype == Verification.ROUTING_FAILURE:
        # spacepackets' Service1Tm knows subtypes 1..8 only; [1,10] is read as plain PUS TM.
        tm = PusTm.unpack(raw, timestamp_len=7)
        assert tm.tm_data == report.encode()
        return
    theirs = Service1Tm.unpack(raw, ManagedParams(timestamp_len=7), SUNLIT_VERIFICATION)
    assert theirs.message_subtype == report.subtype
    assert theirs.tc_req_id.pack() == report.request_id
    assert (theirs.step_id.val if theirs.step_id else None) == report.step
    if report.is_failure:
        assert theirs.failure_notice is not None
        assert theirs.failure_notice.code.val == report.code
        assert theirs.failure_notice.data == report.data


def test_sunlit_reads_spacepackets_verification_reports() -> None:
    tc = PusTc(service=17, message_subtype=1, apid=0x10, seq_count=9, source_id=1)
    req = RequestId.from_pus_tc(tc)
    stamp = CdsShortTimestamp(24623, 45296789).pack()
    cases = [
        (Sp1.TM_ACCEPTANCE_SUCCESS, VerificationParams(req)),
        (Sp1.TM_STEP_SUCCESS, VerificationParams(req, PacketFieldEnum(32, 3))),
        (Sp1.TM_COMPLETION_FAILURE,
         VerificationParams(req, None, FailureNotice(PacketFieldEnum(16, 0x0105), b"why"))),
    ]
    for subtype, params in cases:
        raw = bytes(Service1Tm(apid=0x10, message_subtype=subtype, timestamp=stamp,
                               verif_params=params).pack())
        tm = TelemetryPacket.decode(raw)
        report = VerificationReport.decode(tm.subtype, tm.source_data)
        assert report.request_id == req.pack() == Telecommand.decode(tc.pack()).request_id
        assert report.step == (params.step_id.val if params.step_id else None)
        notice = params.failure_notice
        assert report.code == (notice.code.val if notice else None)
        assert report.data == (notice.data if notice else b"")


@pytest.mark.parametrize("seq_flags", [0, 1, 2])
def test_segmented_tcs_from_other_encoders_are_refused(seq_flags: int) -> None:
    theirs = PusTc(service=17, message_subtype=1, apid=0x10)
    theirs.sp_header.seq_flags = SpSequenceFlags(seq_flags)
    with pytest.raises(ValueError, match="segmented"):
        Telecommand.decode(bytes(theirs.pack()))
