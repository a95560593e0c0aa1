"""Fault injectors: the ways a test engineer breaks a running flatsat on purpose.

See :mod:`hil.faults.base` for the interface; :func:`all_faults` lists them.
"""

from hil.faults.base import (
                             Fault,
                             FaultClass,
                             FaultError,
                             Injection,
                             Param,
                             all_faults,
                             get_fault,
                             register,
)

__all__ = ["Fault", "FaultClass", "FaultError", "Injection", "Param", "all_faults",
           "get_fault", "register"]
