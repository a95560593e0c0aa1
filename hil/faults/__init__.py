"""Fault injectors: the ways a test engineer breaks a running flatsat on purpose.

See :mod:`hil.faults.base` for the interface and ``docs/faults.md`` for the catalogue;
:func:`all_faults` lists them. One module per class: :mod:`~hil.faults.process`,
:mod:`~hil.faults.memory`, :mod:`~hil.faults.data`, :mod:`~hil.faults.storage`,
:mod:`~hil.faults.disk`, :mod:`~hil.faults.link`, :mod:`~hil.faults.telecommand`,
:mod:`~hil.faults.environment`; ``sunlit-hil inject`` is :mod:`~hil.faults.cli`.
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
