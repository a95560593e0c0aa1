"""Imports every injector module so that each registers itself (one module per fault class)."""

from hil.faults import (  # noqa: F401
    data,
    disk,
    environment,
    link,
    memory,
    process,
    storage,
    telecommand,
)
