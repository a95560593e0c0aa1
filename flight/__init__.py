"""Sunlit flight software: everything that runs on the board.

The package holds the onboard bus, the app framework, the executive, the apps, the hardware
abstraction layer, the checkpoint store and the space-link protocol.
"""

__version__ = "0.1.0"

#: Version of the command/telemetry/event/parameter dictionary format and bus envelope.
SPEC_VERSION = "1.0"
