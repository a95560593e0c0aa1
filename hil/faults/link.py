"""Link faults: datagrams lost, delayed, corrupted, or none at all, between ground and comms.

They act on the link-impairment proxy (:mod:`hil.linksim`) between the ground station and comms:
the testbed's own, in this process, or one in another process driven over its control port
(``sunlit-hil inject --linksim-control HOST:PORT``). Each is lasting: ``clear`` puts back the
settings it changed, and only those, so two link faults on the same direction can overlap.

What the stack should do: nothing breaks. Telecommands the ground retries get through, each
executed once (the ARSN window and the reply cache see to that); corrupted frames are counted
(``bad_mac``/``bad_crc``) and dropped; telemetry resumes after an outage.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register

if TYPE_CHECKING:
    from hil.linksim import LinkSim
    from hil.linksim.control import ControlClient
    from hil.testbed import Testbed

DIRECTIONS = ("uplink", "downlink", "both")
NO_PROXY = ("no link proxy (start_testbed has one; for a flatsat run elsewhere give "
            "--linksim-control HOST:PORT)")


def proxy(bed: Testbed) -> LinkSim | ControlClient | None:
    """The link proxy of ``bed``: in this process, or over a control port; None if neither."""
    if bed.link is not None:
        return bed.link
    return getattr(bed, "link_control", None)


def _require(bed: Testbed) -> LinkSim | ControlClient:
    link = proxy(bed)
    if link is None:
        raise FaultError(f"this flatsat has {NO_PROXY}")
    return link


def impairments(link: LinkSim | ControlClient) -> dict[str, dict[str, Any]]:
    """Direction → its impairment settings as plain values."""
    from hil.linksim.control import ControlClient

    if isinstance(link, ControlClient):
        return {k: dict(v) for k, v in link.get()["impairments"].items()}
    return {k: v.as_dict() for k, v in link.impairments().items()}


def _directions(target: str) -> tuple[str, ...]:
    return ("uplink", "downlink") if target == "both" else (target,)


def _call(what: str, action: Any) -> Any:
    """Run a proxy call; its errors (bad value, no answer) become :class:`FaultError`."""
    from hil.linksim.control import ControlError

    try:
        return action()
    except (ValueError, ControlError, OSError) as exc:
        raise FaultError(f"link proxy refused {what}: {exc}") from None


class _Impairment(Fault):
    """A lasting change of some impairment fields on one or both directions."""

    fault_class = FaultClass.LINK
    lasting = True
    target_doc = "a link direction: uplink, downlink or both (needs a link proxy)"

    def targets(self, bed: Testbed) -> list[str]:
        return list(DIRECTIONS) if proxy(bed) is not None else []

    def why_no_targets(self, bed: Testbed) -> str:
        return NO_PROXY

    def fields(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The impairment fields this fault sets, from its checked parameters."""
        raise NotImplementedError

    def describe_change(self, fields: Mapping[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in fields.items())

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        link = _require(bed)
        fields = self.fields(params)
        now = _call("a read of its settings", lambda: impairments(link))
        before = {d: {k: now[d][k] for k in fields} for d in _directions(target)}
        stats = _call("a read of its counters", link.stats)
        _call(f"{self.describe_change(fields)}", lambda: link.set(target, **fields))
        return Injection(self.name, self.fault_class.value, target, dict(params),
                         f"link {target}: {self.describe_change(fields)} (until cleared)",
                         evidence={"set": fields, "before": before, "stats_before": stats})

    def clear(self, bed: Testbed, injection: Injection) -> None:
        link = _require(bed)
        for direction, fields in injection.evidence.get("before", {}).items():
            _call(f"restoring {direction}", lambda d=direction, f=fields: link.set(d, **f))
        injection.evidence["stats_at_clear"] = _call("a read of its counters", link.stats)


@register
class LinkLoss(_Impairment):
    name = "link_loss"
    doc = ("Drop a fraction of the datagrams crossing the link: the ground must retry, "
           "comms must execute each command once, telemetry has gaps the ground counts.")
    params = (Param("loss", float, "probability a datagram is dropped", default=0.3, min=0.0,
                    max=1.0),)

    def fields(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"loss": params["loss"]}


@register
class LinkDelay(_Impairment):
    name = "link_delay"
    doc = ("Delay every datagram (fixed delay plus jitter): verification and telemetry come "
           "late; nothing may time out on board that should not.")
    params = (Param("delay_ms", float, "one-way delay", default=500.0, min=0.0, max=600_000.0),
              Param("jitter_ms", float, "± variation of the delay", default=0.0, min=0.0,
                    max=600_000.0))

    def fields(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"delay_ms": params["delay_ms"], "jitter_ms": params["jitter_ms"]}


@register
class LinkCorrupt(_Impairment):
    name = "link_corrupt"
    doc = ("Flip bits in a fraction of the datagrams: comms must count and drop damaged "
           "telecommands (bad_mac, bad_crc ...), the ground damaged telemetry.")
    params = (Param("corrupt", float, "probability a datagram is damaged", default=0.3,
                    min=0.0, max=1.0),
              Param("bits", int, "at most this many bits flipped in a damaged datagram",
                    default=1, min=1, max=64))

    def fields(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"corrupt": params["corrupt"], "corrupt_bits": params["bits"]}


@register
class LinkOutage(Fault):
    name = "link_outage"
    fault_class = FaultClass.LINK
    lasting = True
    doc = ("Take the link down: nothing crosses until cleared. Comms keeps telemetry for "
           "later only when it knows it is out of contact; telecommands wait on the ground.")
    target_doc = _Impairment.target_doc

    def targets(self, bed: Testbed) -> list[str]:
        return list(DIRECTIONS) if proxy(bed) is not None else []

    def why_no_targets(self, bed: Testbed) -> str:
        return NO_PROXY

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        link = _require(bed)
        stats = _call("a read of its counters", link.stats)
        _call("an outage", lambda: link.outage(True, target))
        return Injection(self.name, self.fault_class.value, target, dict(params),
                         f"link {target} down (until cleared)",
                         evidence={"stats_before": stats})

    def clear(self, bed: Testbed, injection: Injection) -> None:
        link = _require(bed)
        _call("the end of an outage", lambda: link.outage(False, injection.target))
        injection.evidence["stats_at_clear"] = _call("a read of its counters", link.stats)
