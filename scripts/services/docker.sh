#!/usr/bin/env bash
# A private Docker engine for the tests: Debian's docker.io daemon, run as root with
#   --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none
# (no bridge network: containers use --network host or --network none; builds use host networking),
# its own socket, exec-root and pid file so it never clashes with another daemon, and its data-root
# in the cache dir so images survive between runs on the same machine.
#
#   scripts/services/docker.sh start    install docker.io if dockerd is missing, start (or reuse) the daemon
#   scripts/services/docker.sh stop     stop the daemon started by this script
#   scripts/services/docker.sh status   exit 0 only when the daemon answers `docker version`
#   scripts/services/docker.sh env      print the export line for DOCKER_HOST
#   scripts/services/docker.sh prune    remove model images (label io.mlops.model.name) and dangling
#                                       images older than MLOPS_PRUNE_AGE (default 1h) that no
#                                       container uses: with vfs every layer is a full copy, so a few
#                                       runs' images fill a disk; scripts/test.sh prunes before the tests
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_DOCKER_RUN_DIR (socket, exec-root,
# pid file; default $MLOPS_CACHE_DIR/docker/run), MLOPS_DOCKER_START_TIMEOUT (seconds, default 60),
# MLOPS_PRUNE_AGE (a Go duration such as 30m or 2h, default 1h).
# Idempotent and safe to call from several processes at once (flock).

DOCKER_IO_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

DOCKER_DIR=$CACHE_DIR/docker
DATA_ROOT=$DOCKER_DIR/data
RUN_DIR=${MLOPS_DOCKER_RUN_DIR:-$DOCKER_DIR/run}
SOCK=$RUN_DIR/docker.sock
EXEC_ROOT=$RUN_DIR/exec
PIDFILE=$RUN_DIR/dockerd.pid
LOG=$DOCKER_DIR/dockerd.log
START_TIMEOUT=${MLOPS_DOCKER_START_TIMEOUT:-60}
export DOCKER_HOST=unix://$SOCK

# The docker CLI on PATH (a 28.x client in /usr/local/bin, or Debian's 20.10 one) talks to this
# daemon through DOCKER_HOST; both negotiate the API version down to the daemon's.
docker_cli() { command -v docker || echo /usr/bin/docker; }

answers() { timeout 10 "$(docker_cli)" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The daemon's pid: from its own pid file, or from ours while it has not written that yet.
daemon_pid() {
  local f pid
  for f in "$PIDFILE" "$PIDFILE.starting"; do
    pid=$(pid_in "$f")
    alive "$pid" && { echo "$pid"; return 0; }
  done
  return 1
}
pid_alive() { daemon_pid >/dev/null; }

log_tail() { tail_log "$LOG" 40; }

check_version() { check_package_version docker.io "$DOCKER_IO_VERSION" DOCKER_IO_VERSION; }

print_versions() {
  local pkg srv
  pkg=$(dpkg-query -W -f='${Version}' docker.io 2>/dev/null || echo "not from Debian")
  srv=$("$(docker_cli)" version --format '{{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' 2>/dev/null || echo '?')
  say "docker.io package $pkg; engine $srv"
  check_version
}

wait_for_daemon() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! pid_alive; then
      log_tail
      die "dockerd exited during start-up (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail
      die "dockerd (pid $(daemon_pid)) did not answer \`docker version\` on $SOCK within ${START_TIMEOUT}s (log: $LOG; stop it with $0 stop)"
    fi
    sleep 0.5
  done
}

start() {
  # Unix socket paths are limited to 108 bytes; containerd's socket lives deeper inside exec-root.
  [ "${#EXEC_ROOT}" -le 70 ] || die "run dir '$RUN_DIR' is too long for unix sockets: set MLOPS_DOCKER_RUN_DIR to a short path"
  mkdir -p "$CACHE_DIR"
  (
    flock -w 300 8 || die "timed out waiting for $DOCKER_DIR.lock"
    if answers; then
      say "reusing the running engine on $SOCK"
    else
      command -v dockerd >/dev/null || apt_install docker.io
      command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"
      command -v docker >/dev/null || [ -x /usr/bin/docker ] || die "no docker CLI found"
      mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
      if pid_alive; then
        say "dockerd (pid $(daemon_pid)) is running but not answering yet; waiting"
        wait_for_daemon
      else
        rm -f "$PIDFILE" "$PIDFILE.starting" "$SOCK"
        clear_stale_containerd
        local t0
        t0=$(date +%s.%N)
        say "starting dockerd (data-root $DATA_ROOT, socket $SOCK, log $LOG)"
        # setsid: the daemon outlives the shell or pytest process that started it.
        setsid dockerd \
          --host "unix://$SOCK" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
          --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
          --containerd-namespace mlops --containerd-plugins-namespace mlops-plugins \
          </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
        # dockerd writes its pid file itself a moment later (and refuses a live pid in it): until then
        # our own file names it.
        echo $! >"$PIDFILE.starting"
        wait_for_daemon
        rm -f "$PIDFILE.starting"
        say "engine answered after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
      fi
    fi
    print_versions
  ) 8>"$DOCKER_DIR.lock"
  echo "export DOCKER_HOST=$DOCKER_HOST"
}

# A containerd left behind by a killed dockerd: dockerd reuses it when it lives, but waits in vain (and
# gives up) when its pid file names a zombie not yet reaped or a pid now used by another program.
clear_stale_containerd() {
  local f=$EXEC_ROOT/containerd/containerd.pid pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$EXEC_ROOT/containerd/"; then
    say "reusing containerd (pid $pid) left by the previous dockerd"
    return 0
  fi
  rm -f "$f"
}

# dockerd leaves mounts in its exec-root (netns/default, container shm); drop them once it is gone so
# that the cache dir can be removed.
unmount_leftovers() {
  local m
  for m in $(awk -v d="$RUN_DIR" 'index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# Not stop_pidfile: the pid is in one of two files (see daemon_pid).
stop() {
  local pid
  if pid=$(daemon_pid); then
    say "stopping dockerd (pid $pid)"
    terminate "$pid" 30 "dockerd did not stop within 30s; killing it"
    rm -f "$PIDFILE" "$PIDFILE.starting"
    unmount_leftovers
  else
    say "not running"
    rm -f "$PIDFILE" "$PIDFILE.starting"
    answers || unmount_leftovers
  fi
}

status() {
  if answers; then
    print_versions
    echo "running: DOCKER_HOST=$DOCKER_HOST"
  else
    echo "not running (DOCKER_HOST=$DOCKER_HOST)"
    return 1
  fi
}

data_root_size() { du -sh "$DATA_ROOT" 2>/dev/null | cut -f1; }

# Images the tests and `mlops package` leave behind: tagged model images and untagged ones (build
# stages, tags moved to a newer build). Only those older than PRUNE_AGE go, so a run in progress on
# the same engine keeps its images; the base image and images in use by a container stay.
prune() {
  [ -d "$DATA_ROOT" ] || { say "nothing to prune: no data-root at $DATA_ROOT"; return 0; }
  local age cli before until id created
  age=$(prune_age_seconds) || exit 2
  answers || start >/dev/null
  cli=$(docker_cli)
  before=$(data_root_size)
  until=$(( $(date +%s) - age ))
  for id in $("$cli" image ls -q --filter label=io.mlops.model.name | sort -u); do
    created=$("$cli" image inspect -f '{{.Created}}' "$id" 2>/dev/null) || continue
    if [ "$(date -d "$created" +%s)" -lt "$until" ]; then
      "$cli" image rm -f "$id" >/dev/null 2>&1 || say "kept image $id (in use)"
    fi
  done
  "$cli" image prune -f --filter "until=$PRUNE_AGE" >/dev/null
  say "pruned images older than $PRUNE_AGE: data-root $before -> $(data_root_size)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  prune) prune ;;
  *) echo "usage: $0 start|stop|status|env|prune" >&2; exit 2 ;;
esac
