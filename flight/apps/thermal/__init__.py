"""The thermal governor: the compute duty-cycle limit, battery heaters, survival limits."""

from flight.apps.thermal.app import ThermalApp

__all__ = ["ThermalApp"]
