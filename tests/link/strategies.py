"""Hypothesis strategies for the space-link tests: every field over its whole legal range."""

from __future__ import annotations

from hypothesis import strategies as st

from flight.link import Ack, CdsTime, Telecommand, TelemetryPacket
from flight.link.cds import MAX_MS_OF_DAY

apids = st.integers(0, 0x7FE)  # 0x7FF is idle, never a PUS packet
seq_counts = st.integers(0, 0x3FFF)
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
payloads = st.binary(max_size=300)

cds_times = st.builds(CdsTime, days=u16, ms_of_day=st.integers(0, MAX_MS_OF_DAY))

telecommands = st.builds(
    Telecommand,
    apid=apids,
    service=u8,
    subtype=u8,
    app_data=payloads,
    seq_count=seq_counts,
    source_id=u16,
    ack=st.integers(0, 15).map(Ack),
)

telemetry = st.builds(
    TelemetryPacket,
    apid=apids,
    service=u8,
    subtype=u8,
    time=cds_times,
    source_data=payloads,
    seq_count=seq_counts,
    msg_counter=u16,
    destination_id=u16,
    time_ref_status=st.integers(0, 15),
)
