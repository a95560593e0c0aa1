"""The command/telemetry/event/parameter dictionary: one JSON document, one source of truth.

It is generated from the apps' own declarations, never written by hand, so the ground can not
drift from the flight software. Ids are positions in each app's declaration (framework entries
first), which is why declarations are append-only; ``hash`` lets the ground notice a mismatch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import flight
from flight.bus import Reason
from flight.config.loader import EXECUTIVE_CLASS, resolve_app_class

#: APID of the app with dictionary id 0 (comms); app ``id`` N has APID ``APID_BASE + N``.
APID_BASE = 0x10


def apid_of(app_id: int) -> int:
    """The space-link APID of an app (docs/icd.md section 8)."""
    return APID_BASE + app_id


def describe_app(cls: Any) -> dict[str, Any]:
    model = cls.full_model
    return {
        "id": cls.app_id,
        "apid": apid_of(cls.app_id),
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "version": cls.version,
        "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "commands": [c.describe(i) for i, c in enumerate(model.commands)],
        "telemetry": [c.describe(i) for i, c in enumerate(model.telemetry)],
        "events": [e.describe(i) for i, e in enumerate(model.events)],
        "parameters": [p.describe() for p in model.parameters],
    }


def build_dictionary(config: dict[str, Any]) -> dict[str, Any]:
    """The dictionary of the executive and every app configured (enabled or not)."""
    apps: dict[str, Any] = {
        "executive": describe_app(resolve_app_class("executive", EXECUTIVE_CLASS, "executive")),
    }
    for name, table in config["apps"].items():
        apps[name] = describe_app(resolve_app_class(name, table["class"], f"apps.{name}"))
    ids = [a["id"] for a in apps.values()]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two apps share an id: {ids}")
    body = {"apps": apps, "reasons": {r.name: int(r) for r in Reason}}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {
        "spec_version": flight.SPEC_VERSION,
        "framework_version": flight.__version__,
        "mission": config["mission"]["name"],
        "hash": digest,
        **body,
    }
