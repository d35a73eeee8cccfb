"""What the `mlops deploy` and `mlops rollout ...` commands do, on top of the engine.

Each function takes the project config and returns the rollout state (its `summary()` is
what the CLI prints and Jenkins reads) plus the outcome that becomes the exit code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from mlops_helpers.config import MlopsConfig
from mlops_helpers.console import Reporter
from mlops_helpers.errors import MlopsError
from mlops_helpers.rollout.backends.base import Backend, BackendError
from mlops_helpers.rollout.context import Hooks
from mlops_helpers.rollout.engine import Engine
from mlops_helpers.rollout.state import Deployment, RolloutState, Routing, StateStore, changing
from mlops_helpers.rollout.steps import full_promotion_index
from mlops_helpers.rollout.strategies import build_plan
from mlops_helpers.rollout.transitions import abort_rollout, retire_previous


@dataclass
class Environment:
    name: str
    config: MlopsConfig
    store: StateStore
    backend: Backend

    @property
    def deploy(self):
        return self.config.deploy


def open_environment(config: MlopsConfig, environment: str | None = None) -> Environment:
    from mlops_helpers.rollout.backends.local.backend import LocalBackend
    from mlops_helpers.rollout.backends.local.state import FileStateStore

    name = environment or config.deploy.environment
    if config.deploy.target == "kubernetes":
        return _kubernetes_environment(config, name)
    folder = config.resolve(config.deploy.local.state_dir) / name
    backend = LocalBackend(config.deploy.local, folder, config.root)
    return Environment(name, config, FileStateStore(folder), backend)


def _kubernetes_environment(config: MlopsConfig, name: str) -> Environment:
    """State in the cluster (any machine with the kubeconfig can steer), versions as Helm release tracks."""
    import os

    from kubernetes import client
    from kubernetes import config as kube_config

    from mlops_helpers.kube.helm import find_helm
    from mlops_helpers.rollout.backends.kubernetes.backend import KubernetesBackend
    from mlops_helpers.rollout.backends.kubernetes.state import KubeStateStore

    kubeconfig = os.environ.get("KUBECONFIG") or None
    try:
        api_client = kube_config.new_client_from_config(config_file=kubeconfig)
    except Exception as exc:  # the client raises several kinds for a missing or broken kubeconfig
        raise MlopsError(f"cannot load the kubeconfig ({kubeconfig or '~/.kube/config'}): {exc}") from None
    namespace = config.deploy.kubernetes.namespace
    store = KubeStateStore(client.CoreV1Api(api_client), client.CoordinationV1Api(api_client), namespace, name)
    backend = KubernetesBackend(config, name, lambda: store.require().strategy, api_client,
                                Path(kubeconfig) if kubeconfig else None, find_helm())
    return Environment(name, config, store, backend)


def deploy(env: Environment, reporter: Reporter, version_ref: str | None, strategy: str | None,
           timeout: float | None) -> tuple[RolloutState, str]:
    """Start a rollout of a registered version and drive it; returns (state, outcome)."""
    from mlops_helpers.registry import open_registry

    strategy = strategy or env.deploy.strategy
    registry = open_registry(env.config.registry_path())
    version = registry.verify(env.config.model_name, _ref(version_ref))
    previous = env.store.load()
    if previous is not None and previous.active:
        raise MlopsError(f"a rollout is already in progress in '{env.name}': v{previous.candidate.version if previous.candidate else '?'} "
                         f"({previous.strategy}, {previous.status}); promote or abort it first "
                         f"(`mlops rollout status --env {env.name}`)")
    retire_previous(env.store, env.backend)  # a new rollout replaces the undo target
    stable = previous.stable if previous is not None else None
    if stable is not None and stable.version == str(version.version):
        raise MlopsError(f"v{version.version} already serves in '{env.name}' (`mlops rollout status --env {env.name}`)")
    if stable is not None and not any(env.backend.server_alive(server) for server in stable.servers):
        reporter.warn(f"v{stable.version} is recorded as stable in '{env.name}' but none of its servers runs; "
                      "deploying as a first deploy")
        stable = None
    env.backend.prepare()
    replicas = env.backend.replicas
    state = RolloutState(
        environment=env.name, model=env.config.model_name, strategy=strategy, revision=env.store.next_revision(),
        status="progressing", plan=build_plan(strategy, env.deploy, replicas, first_deploy=stable is None,
                                              backend=env.backend.name),
        stable=stable, candidate=Deployment(str(version.version), str(version.path)), version=str(version.version),
        previous=previous.previous if previous is not None else None,
        routing=previous.routing if previous is not None and stable is not None else Routing(),
    )
    env.store.create(state)
    env.store.event("started", f"{strategy} rollout of v{version.version}"
                    + (f" replacing v{stable.version}" if stable else " (first deploy)"), revision=state.revision)
    reporter.note(f"{strategy} rollout of {env.config.model_name} v{version.version} in '{env.name}' "
                  f"({len(state.plan)} steps) — router {env.backend.url}")
    return _drive(env, reporter, timeout)


def resume(env: Environment, reporter: Reporter, timeout: float | None) -> tuple[RolloutState, str]:
    state = env.store.require()
    if not state.active:
        return state, state.status
    if state.status == "paused":
        raise MlopsError(f"the rollout in '{env.name}' is paused ({state.reason}); `mlops rollout promote` continues it")
    if env.store.engine_running():
        lapse = env.store.engine_lock_lapse
        died = f"; if that process died, its lease lapses within {lapse:.0f}s: resume then" if lapse else ""
        raise MlopsError(f"the rollout in '{env.name}' is being driven by another process; watch it with "
                         f"`mlops rollout status --env {env.name}`{died}")
    env.store.event("resumed", f"resumed at step {state.step_index + 1}/{len(state.plan)}", revision=state.revision)
    return _drive(env, reporter, timeout)


def promote(env: Environment, reporter: Reporter, full: bool, timeout: float | None) -> tuple[RolloutState, str]:
    """Continue past a pause (or skip the rest with --full); drive the rest unless an engine runs."""
    with env.store.transaction() as state:
        if state is None or not state.active:
            raise MlopsError(f"nothing to promote in '{env.name}'" + (f": the rollout is {state.status}" if state else ""))
        if state.status == "paused":
            state.status, state.pause, state.reason = "progressing", None, "promoted by hand"
            state.step_index = full_promotion_index(state.plan) if full else state.step_index + 1
            state.step_state = {}
        else:
            state.requests = {"promote": True, "promote_full": full}
        revision = state.revision
    env.store.event("promote", "promote requested" + (" (full)" if full else ""), revision=revision)
    if env.store.engine_running():
        return env.store.require(), "progressing"
    return _drive(env, reporter, timeout)


def abort(env: Environment, reporter: Reporter, reason: str) -> RolloutState:
    try:
        return abort_rollout(env.store, env.backend, reason, reporter=reporter)
    except BackendError as exc:
        raise MlopsError(str(exc)) from None


def undo(env: Environment, reporter: Reporter) -> RolloutState:
    """Back to the previous version: instant while it is kept warm, else it is started first."""
    state = env.store.require()
    if state.active:
        raise MlopsError(f"a rollout is in progress in '{env.name}'; use `mlops rollout abort`")
    if state.previous is None:
        raise MlopsError(f"no previous version to go back to in '{env.name}'")
    previous = state.previous
    warm = any(env.backend.server_alive(server) for server in previous.servers)
    # Kubernetes rolls the stable Deployment back by itself (its old pods serve until the new are
    # Ready); local servers must be started and ready before any traffic moves to them.
    rolls_back_itself = not warm and env.backend.routing_restores_stable
    if not warm:
        reporter.note(f"v{previous.version} is no longer warm: starting it")
        env.backend.prepare()
        servers = [env.backend.start_server(previous.version, previous.artefact, index)
                   for index in range(env.backend.replicas)]
        with changing(env.store) as current:
            current.require("previous").servers = servers
        if not rolls_back_itself:
            env.backend.wait_ready(servers, env.backend.ready_timeout, cancelled=lambda: False)
    with changing(env.store) as state:
        leaving, back = state.require_stable(), state.require("previous")
        state.stable, state.previous = back, Deployment(leaving.version, leaving.artefact)
        back.keep_until = None
        state.routing = Routing(weights={back.version: 100})
        env.backend.apply_routing(state.routing, back, None, None)
        state.status, state.finished_at = "rolled_back", time.time()
        state.reason = f"undo: v{back.version} serves 100% again (v{leaving.version} stopped)"
        finished = state
    env.store.event("rolled_back", finished.reason, revision=finished.revision)
    env.backend.retire(leaving.servers)
    env.store.record_history(finished)
    _promote_in_registry(env, finished)
    if rolls_back_itself:
        try:
            env.backend.wait_ready(back.servers, env.backend.ready_timeout, cancelled=lambda: False)
        except BackendError as exc:
            raise MlopsError(f"undo: {exc}; the rollback to v{back.version} is recorded and goes on: "
                             f"until its pods are Ready, the rolling update keeps v{leaving.version}'s serving") from None
    return finished


def undeploy(env: Environment) -> None:
    """Stop everything; the state then says "undeployed" and names no version, so status does not
    show a stable version that no longer serves and the next deploy is a first deploy."""
    state = env.store.load()
    deployments = [d for d in (state.stable, state.candidate, state.previous) if d] if state else []
    env.backend.teardown(deployments)
    if state is not None:
        with changing(env.store) as current:
            stopped = [f"v{d.version}" for d in (current.stable, current.candidate) if d is not None]
            interrupted = f" (its {current.status} rollout interrupted)" if current.active else ""
            current.status, current.finished_at = "undeployed", time.time()
            current.reason = f"{' and '.join(stopped) or 'nothing'} stopped with `mlops undeploy`{interrupted}"
            current.stable = current.candidate = current.previous = None
            current.routing, current.pause = Routing(), None
        env.store.event("undeployed", f"router and model servers stopped: {current.reason}", revision=current.revision)


def housekeeping(env: Environment) -> None:
    """Stop a previous version whose keep window has passed (no daemon does it for us)."""
    retire_previous(env.store, env.backend, only_expired=True)


def _drive(env: Environment, reporter: Reporter, timeout: float | None) -> tuple[RolloutState, str]:
    engine = Engine(env.store, env.backend, env.deploy, reporter, Hooks(on_promoted=lambda s: _promote_in_registry(env, s)),
                    deadline=time.monotonic() + timeout if timeout else None)
    outcome = engine.run()
    return env.store.require(), outcome


def _promote_in_registry(env: Environment, state: RolloutState) -> None:
    """The registry alias named like the environment follows what serves 100% there."""
    from mlops_helpers.registry import open_registry

    registry = open_registry(env.config.registry_path())
    registry.promote(env.config.model_name, int(state.require_stable().version), env.name)


def _ref(version_ref: str | None) -> int | str:
    if version_ref is None:
        return "latest"
    ref = version_ref.lstrip("v@")
    return int(ref) if ref.isdigit() else ref

