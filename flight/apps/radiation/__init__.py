"""The radiation-fault monitor: upset evidence, the response policy, scrubbing, statistics."""

from flight.apps.radiation.app import RadiationApp

__all__ = ["RadiationApp"]
