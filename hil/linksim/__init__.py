"""``hil.linksim``: a UDP link-impairment proxy between a ground station and a flight stack.

The CI kernel has no netem, so the space link's delay, jitter, loss, duplication, reordering,
corruption, rate limit and outages are simulated in user space, per direction, reproducibly for a
seed. See ``docs/linksim.md``.

>>> from hil.linksim import LinkSim
>>> with LinkSim("127.0.0.1:0", "127.0.0.1:52001",
...              uplink={"loss": 0.05, "delay_ms": 50}, seed=7) as sim:  # doctest: +SKIP
...     ground_sends_to = sim.ground_address
...     sim.set("downlink", corrupt=0.01)
...     sim.outage(True)
...     print(sim.stats())
"""

from __future__ import annotations

from hil.linksim.control import ControlClient, ControlError, handle_request
from hil.linksim.impair import COUNTERS, DIRECTIONS, Channel, Impairments, flip_bits
from hil.linksim.proxy import LinkSim, format_address, parse_address

__all__ = ["COUNTERS", "DIRECTIONS", "Channel", "ControlClient", "ControlError", "Impairments",
           "LinkSim", "flip_bits", "format_address", "handle_request", "parse_address"]
