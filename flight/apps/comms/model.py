"""What the comms app offers, and the link settings it is configured with."""

from __future__ import annotations

from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Limits,
    Param,
    Severity,
    ValueType,
)

FLOAT, INT, BOOL, STR, MAP, ENUM = (ValueType.FLOAT, ValueType.INT, ValueType.BOOL,
                                    ValueType.STR, ValueType.MAP, ValueType.ENUM)

COMMS_SETTINGS = (
    Param("address", STR, "127.0.0.1:52001", "UDP address the link listens on (HOST:PORT)."),
    Param("auth", ENUM, "hmac-sha256", "Telecommand authentication; 'none' for a lab bench.",
          choices=("hmac-sha256", "none")),
    Param("key_file", STR, "", "Link key: 64 hex characters, readable by its owner only. "
          "Empty: RUN_DIR/keys/link.key, generated on first start."),
    Param("spi", INT, 1, "Security parameter index of the key.", min=1, max=0xFFFE),
    Param("ground", STR, "", "Ground addresses that always get telemetry (HOST:PORT,...)."),
    Param("max_datagram", INT, 4096, "Largest datagram accepted or sent (bytes).",
          min=64, max=65_507),
    Param("store_max_packets", INT, 200_000, "Telemetry packets kept on board out of contact.",
          min=10, max=100_000_000),
    Param("link_rate_bps", INT, 4_000_000, "Downlink rate (bits per second).",
          min=1_000, max=10_000_000_000),
    Param("contact", ENUM, "world", "When the ground is in view: as the world says, or "
          "always (a bench with a cable).", choices=("world", "always")),
)

COMMS_MODEL = AppModel(
    commands=(
        Command("status", "Return the link's state, counters and the schedule."),
        Command("set_link_rate", "Change the downlink rate.",
                args=(Arg("bps", INT, "Bits per second.", min=1_000, max=10_000_000_000),)),
    ),
    telemetry=(
        Channel("auth", STR, "Telecommand authentication in force."),
        Channel("in_contact", BOOL, "A ground station is in view."),
        Channel("station", STR, "The station in view, or empty."),
        Channel("rx_datagrams", INT, "Datagrams received."),
        Channel("tc_accepted", INT, "Telecommands accepted."),
        Channel("tc_rejected", MAP, "Datagrams rejected, by reason.",
                limits=Limits(yellow_high=0)),
        Channel("tm_sent", INT, "Telemetry packets sent to the ground."),
        Channel("tm_stored", INT, "Telemetry packets put in the on-board store."),
        Channel("store_packets", INT, "Packets waiting in the on-board store."),
        Channel("downlink_queue", INT, "Packets in contact waiting for link capacity (memory)."),
        Channel("store_dropped", INT, "Stored packets dropped because the store was full.",
                limits=Limits(yellow_high=0)),
        Channel("send_errors", INT, "Datagrams the socket refused.",
                limits=Limits(yellow_high=0)),
        Channel("scheduled", INT, "Time-tagged telecommands waiting."),
        Channel("ground_address", STR, "Where telemetry goes (last accepted telecommand)."),
    ),
    events=(
        Event("LINK_OPEN", Severity.INFO, "Link listening on {address} ({auth})"),
        Event("AUTH_DISABLED", Severity.WARNING, "Telecommand authentication is OFF: anyone "
              "who can reach {address} can command this spacecraft"),
        Event("KEY_GENERATED", Severity.WARNING, "Generated a new link key at {path}"),
        Event("CONTACT", Severity.INFO, "Contact {state} ({station}); {stored} packets stored"),
        Event("STORE_RECOVERED", Severity.ERROR, "Telemetry store unreadable: moved to {path}"),
        Event("STORE_DROPPING", Severity.WARNING, "Telemetry store full: oldest packets dropped "
              "({dropped} so far)"),
        Event("REJECTIONS", Severity.WARNING, "{count} datagram(s) rejected in the last "
              "{period_s:.0f} s: {reasons}"),
        Event("TIMETAG_RELEASED", Severity.INFO, "Time-tagged command {request_id:#010x} "
              "released {late_s:.1f} s after its time"),
    ),
)
