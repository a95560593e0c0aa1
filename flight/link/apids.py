"""The APID plan and the identities on the link: one APID per onboard app, ids for the ground.

A telecommand goes to the APID of the app that serves it; an app's telemetry leaves under its
own APID, so the ground can tell sources apart (and count sequence gaps per source) from the
primary header alone. The numbers are part of the interface control document (docs/icd.md);
they are never reassigned.
"""

from __future__ import annotations

import enum

from flight.link.spacepacket import IDLE_APID

__all__ = ["BROADCAST_ID", "GROUND_ID", "Apid", "apid_for"]


class Apid(enum.IntEnum):
    COMMS = 0x10  # the radio; answers TC[17,1] ping itself
    EXECUTIVE = 0x11
    HEALTH = 0x12
    POWER = 0x13
    THERMAL = 0x14
    RADIATION = 0x15
    JOBS = 0x16
    WORLD = 0x17  # the simulated world; exists only in simulation
    IDLE = IDLE_APID


#: Source id of the primary ground station (``sunlit-ground``) in TCs, and the destination id
#: of unsolicited TM (housekeeping, events). Other ground sources use 0x0002..0x00FF.
GROUND_ID = 0x0001
#: Destination id meaning "whoever listens"; source id 0 means "not identified".
BROADCAST_ID = 0x0000


def apid_for(app: str) -> Apid:
    """The APID of an onboard app by its name (``"power"`` -> ``Apid.POWER``)."""
    try:
        apid = Apid[app.upper()]
    except KeyError:
        raise KeyError(f"no APID assigned to app {app!r}") from None
    if apid is Apid.IDLE:
        raise KeyError("'idle' is not an app")
    return apid
