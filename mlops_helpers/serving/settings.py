"""Model-server settings: from the CLI in the launcher, from MLOPS_SERVE_* in each worker."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlops_helpers.errors import MlopsError

DEFAULT_FEEDBACK_CAPACITY = 100_000


def _feedback_capacity() -> int:
    """MLOPS_SERVE_FEEDBACK_CAPACITY (an environment setting, no CLI option): requests /feedback can score."""
    raw = os.environ.get("MLOPS_SERVE_FEEDBACK_CAPACITY") or str(DEFAULT_FEEDBACK_CAPACITY)
    if not raw.isdigit() or int(raw) < 1:
        raise MlopsError(f"MLOPS_SERVE_FEEDBACK_CAPACITY must be a whole number >= 1, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class ServerSettings:
    artefact_dir: Path
    version: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    max_batch_rows: int = 256
    max_wait_ms: float = 2.0
    max_request_rows: int = 10_000
    prediction_log: Path | None = None
    log_sample_rate: float = 1.0
    feedback_capacity: int = field(default_factory=_feedback_capacity)

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Worker processes are configured through MLOPS_SERVE_* variables set by the launcher."""
        env = os.environ
        return cls(
            artefact_dir=Path(env["MLOPS_SERVE_ARTEFACT"]),
            version=env.get("MLOPS_SERVE_VERSION") or None,
            max_body_bytes=int(env.get("MLOPS_SERVE_MAX_BODY_BYTES", cls.max_body_bytes)),
            max_batch_rows=int(env.get("MLOPS_SERVE_MAX_BATCH_ROWS", cls.max_batch_rows)),
            max_wait_ms=float(env.get("MLOPS_SERVE_MAX_WAIT_MS", cls.max_wait_ms)),
            prediction_log=Path(env["MLOPS_SERVE_PREDICTION_LOG"]) if env.get("MLOPS_SERVE_PREDICTION_LOG") else None,
            log_sample_rate=float(env.get("MLOPS_SERVE_LOG_SAMPLE_RATE", cls.log_sample_rate)),
        )

    def to_env(self) -> dict[str, str]:
        return {
            "MLOPS_SERVE_ARTEFACT": str(self.artefact_dir),
            "MLOPS_SERVE_VERSION": self.version or "",
            "MLOPS_SERVE_MAX_BODY_BYTES": str(self.max_body_bytes),
            "MLOPS_SERVE_MAX_BATCH_ROWS": str(self.max_batch_rows),
            "MLOPS_SERVE_MAX_WAIT_MS": str(self.max_wait_ms),
            "MLOPS_SERVE_PREDICTION_LOG": str(self.prediction_log or ""),
            "MLOPS_SERVE_LOG_SAMPLE_RATE": str(self.log_sample_rate),
            "MLOPS_SERVE_FEEDBACK_CAPACITY": str(self.feedback_capacity),
        }
