"""Imports every injector module so that each registers itself."""

from hil.faults import process  # noqa: F401
