"""The one error type a bad configuration raises.

A flatsat engineer who mistypes a value must learn at once *which file*, *which key* and *what was
expected*, and nothing must have been started. Every validator in Sunlit raises this error so the
CLI can print it the same way and exit non-zero.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value was missing, of the wrong type or out of range."""

    def __init__(self, key: str, expected: str, got: object = None, *, file: str | None = None):
        self.key = key
        self.expected = expected
        self.got = got
        self.file = file
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.file}: " if self.file else ""
        got = "" if self.got is None else f", got {self.got!r}"
        return f"{where}{self.key}: expected {self.expected}{got}"

    def in_file(self, file: str) -> ConfigError:
        """Return the same error attributed to ``file`` (validators do not know the path)."""
        return ConfigError(self.key, self.expected, self.got, file=file)
