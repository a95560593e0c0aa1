"""The power manager: battery state of charge, solar input, loads and the compute budget."""

from flight.apps.power.app import PowerApp

__all__ = ["PowerApp"]
