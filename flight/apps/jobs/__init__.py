"""The job runner app (``jobs``): see README.md beside this file."""

from flight.apps.jobs.app import JobsApp

__all__ = ["JobsApp"]
