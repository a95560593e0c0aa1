"""The comms app: the space link's end on board (uplink, verification, downlink, store)."""

from flight.apps.comms.app import CommsApp

__all__ = ["CommsApp"]
