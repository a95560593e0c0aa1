"""Counters every bus endpoint keeps, so dropped and rejected input is visible in telemetry."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class BusCounters:
    """What one process's bus sockets have seen; reported in each app's housekeeping."""

    tx: int = 0
    tx_dropped: int = 0
    rx: int = 0
    rx_malformed: int = 0
    rx_oversized: int = 0
    rx_gaps: int = 0

    def count_rejection(self, kind: str) -> None:
        """Count a decode failure under the counter its kind names."""
        if kind == "oversized":
            self.rx_oversized += 1
        else:
            self.rx_malformed += 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def reset(self) -> None:
        for name in self.as_dict():
            setattr(self, name, 0)
