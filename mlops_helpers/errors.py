"""Exceptions that map onto the CLI's exit codes.

0 ok · 1 a check failed (gate, data validation) · 2 usage or configuration error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


class MlopsError(Exception):
    """An error the user can fix (bad config, missing file, bad argument): exit 2."""

    exit_code = EXIT_USAGE


class ConfigError(MlopsError):
    """mlops.yaml is missing, unreadable or invalid. The message names the field."""


class IntegrityError(MlopsError):
    """A stored artefact does not match its recorded checksum."""


class CheckFailed(Exception):
    """A gate or a data check failed: exit 1. `result` is the machine-readable report."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}
