"""How a step leaves the engine's loop early; the engine turns each into a state transition."""

from __future__ import annotations


class Stopped(Exception):
    """The rollout left the active states (aborted from another shell): stop driving it."""


class TimedOut(Exception):
    """The caller's --timeout passed; the rollout stays as it is (resume or abort later)."""


class AbortRollout(Exception):
    """A step decided the new version must go: all traffic back to stable, then stop it."""

    def __init__(self, reason: str, status: str = "aborted") -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status
