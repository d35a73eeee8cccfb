"""The small interface every backend implements (local processes and Kubernetes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.analysis import Snapshot
from mlops_helpers.rollout.state import Deployment, Routing, Server


class BackendError(MlopsError):
    """A version could not be started, reached or stopped; the message says which and why."""


class PreviewAnswer(NamedTuple):
    status: int  # HTTP status; 0 when nothing answered
    version: str | None  # the model version that answered, as the server's response says
    body: str


class Backend(Protocol):
    name: str
    replicas: int  # servers (or pods) per version
    ready_timeout: float  # seconds a new server may take to become ready
    # True when apply_routing alone brings the stable version back to full scale (on Kubernetes the
    # Deployment controller does it); False when its servers must be started first (local processes).
    routing_restores_stable: bool

    @property
    def url(self) -> str:
        """Where callers send requests (the router or the gateway)."""

    def prepare(self) -> None:
        """Make sure the shared parts (router, gateway) run; idempotent."""

    def start_server(self, version: str, artefact: str, index: int) -> Server:
        """Start one server of a version (not ready yet); returns at once."""

    def wait_ready(self, servers: list[Server], timeout: float, cancelled: Callable[[], bool]) -> None:
        """Block until every server is ready; BackendError with the server's log when one cannot start."""

    def server_alive(self, server: Server) -> bool:
        """The server's process or pod still exists (it may not be ready yet)."""

    def apply_routing(self, routing: Routing, stable: Deployment | None, candidate: Deployment | None,
                      warm: Deployment | None) -> None:
        """Send traffic as `routing` says. The roles matter to backends that run versions as tracks
        (Kubernetes); `warm` is a previous version kept up, without traffic, for an instant undo."""

    def retire(self, servers: list[Server], drain_timeout: float = 30.0) -> None:
        """Wait for requests in flight to finish (servers already out of the routing), then stop them."""

    def preview_predict(self, payload: dict[str, Any]) -> PreviewAnswer:
        """POST `payload` to /predict of the new version through its preview route (the blue/green smoke test)."""

    def snapshot(self, deployments: list[Deployment]) -> Snapshot:
        """Counters per version for the built-in metrics."""

    def teardown(self, deployments: list[Deployment]) -> None:
        """Stop everything of this environment."""
