"""The health app (see README.md beside this file)."""

from flight.apps.health.app import HealthApp

__all__ = ["HealthApp"]
