#!/usr/bin/env bash
# A private OCI registry for the tests: Debian's docker-registry (CNCF distribution 2.8) listening on
# 127.0.0.1 only. Docker allows plain-HTTP registries on 127.0.0.0/8 without any daemon setting.
#
#   scripts/services/registry.sh start    install docker-registry if missing, start (or reuse) it
#   scripts/services/registry.sh stop     stop the registry started by this script
#   scripts/services/registry.sh status   exit 0 only when GET http://ADDR/v2/ answers 200
#   scripts/services/registry.sh addr     print the address (host:port) without starting anything
#   scripts/services/registry.sh prune    delete repositories nobody pushed to for MLOPS_PRUNE_AGE
#                                         (default 1h), then garbage-collect their blobs
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_REGISTRY_PORT (default 5000),
# MLOPS_REGISTRY_STORAGE (blob storage; default $MLOPS_CACHE_DIR/registry/storage),
# MLOPS_REGISTRY_START_TIMEOUT (seconds, default 30).
# Idempotent and safe to call from several processes at once (flock).

DOCKER_REGISTRY_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

PORT=${MLOPS_REGISTRY_PORT:-5000}
ADDR=127.0.0.1:$PORT
REG_DIR=$CACHE_DIR/registry
STORAGE=${MLOPS_REGISTRY_STORAGE:-$REG_DIR/storage}
CONFIG=$REG_DIR/config-$PORT.yml
PIDFILE=$REG_DIR/registry-$PORT.pid
LOG=$REG_DIR/registry-$PORT.log
START_TIMEOUT=${MLOPS_REGISTRY_START_TIMEOUT:-30}
case "$PORT" in ''|*[!0-9]*) die "MLOPS_REGISTRY_PORT must be a number, got '$PORT'" ;; esac

check_version() { check_package_version docker-registry "$DOCKER_REGISTRY_VERSION" DOCKER_REGISTRY_VERSION; }

http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$ADDR/v2/" 2>/dev/null || true; }
answers() { [ "$(http_code)" = 200 ]; }
# A live process (a zombie waiting for init to reap it counts as gone).
pid_alive() { alive "$(pid_in "$PIDFILE")"; }
log_tail() { tail_log "$LOG" 30; }

print_versions() {
  local pkg
  pkg=$(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null || echo '?')
  say "docker-registry package $pkg ($(docker-registry --version 2>/dev/null | head -n1))"
  check_version
}

write_config() {
  mkdir -p "$STORAGE"
  cat >"$CONFIG.tmp" <<EOF
# Written by scripts/services/registry.sh; rewritten on every start.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STORAGE
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $ADDR
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
  mv "$CONFIG.tmp" "$CONFIG"
}

start() {
  mkdir -p "$REG_DIR"
  (
    flock -w 300 8 || die "timed out waiting for $REG_DIR/registry-$PORT.lock"
    command -v curl >/dev/null || apt_install curl
    if answers; then
      if pid_alive; then say "reusing the running registry on $ADDR (pid $(pid_in "$PIDFILE"))"
      else say "reusing the registry already answering on $ADDR (not started by this script)"; fi
    else
      command -v docker-registry >/dev/null || apt_install docker-registry
      command -v docker-registry >/dev/null || die "docker-registry not found after installing it"
      if pid_alive; then
        say "registry pid $(pid_in "$PIDFILE") is not answering on $ADDR; restarting it"
        terminate "$(pid_in "$PIDFILE")" 15
      fi
      local code
      code=$(http_code)
      [ "$code" = 000 ] || die "something else answers on $ADDR (HTTP $code for /v2/); set MLOPS_REGISTRY_PORT to a free port"
      write_config
      say "starting docker-registry on $ADDR (storage $STORAGE, log $LOG)"
      setsid docker-registry serve "$CONFIG" </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
      echo $! >"$PIDFILE"
      local deadline=$((SECONDS + START_TIMEOUT))
      until answers; do
        if ! pid_alive; then log_tail; die "docker-registry exited during start-up (log: $LOG)"; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
          log_tail; die "docker-registry did not answer GET http://$ADDR/v2/ with 200 within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.2
      done
      say "registry answering on $ADDR"
    fi
    print_versions
  ) 8>"$REG_DIR/registry-$PORT.lock"
  echo "$ADDR"
}

stop() {
  pid_alive || say "not running (no live pid in $PIDFILE)"
  stop_pidfile "$PIDFILE" docker-registry 15
}

status() {
  if command -v curl >/dev/null && answers; then
    print_versions
    echo "running: $ADDR"
  else
    echo "not running: $ADDR"
    return 1
  fi
}

# Every test run pushes new images under new tags: without this the storage only grows. A repository
# with any file younger than PRUNE_AGE is in use and stays; blobs are collected only when no push can
# be under way (nothing at all written for PRUNE_AGE), because a blob uploaded for a manifest not yet
# put would be collected too.
prune() {
  local repos=$STORAGE/docker/registry/v2/repositories age minutes before r
  [ -d "$repos" ] || { say "nothing to prune: no repositories in $STORAGE"; return 0; }
  age=$(prune_age_seconds) || exit 2
  minutes=$(( (age + 59) / 60 ))
  before=$(du -sh "$STORAGE" | cut -f1)
  # A repository is a folder holding _manifests (names may be nested: team/model).
  while IFS= read -r r; do
    r=${r%/_manifests}
    [ -z "$(find "$r" -type f -mmin "-$minutes" -print -quit)" ] || continue
    rm -rf "$r"
    r=$(dirname "$r")
    while [ "$r" != "$repos" ] && rmdir "$r" 2>/dev/null; do r=$(dirname "$r"); done  # empty namespaces
  done < <(find "$repos" -type d -name _manifests -prune)
  if [ -z "$(find "$STORAGE" -type f -mmin "-$minutes" -print -quit)" ]; then
    write_config
    docker-registry garbage-collect "$CONFIG" >>"$LOG" 2>&1 || { log_tail; die "garbage-collect failed (log: $LOG)"; }
  fi
  say "pruned repositories untouched for $PRUNE_AGE: storage $before -> $(du -sh "$STORAGE" | cut -f1)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  addr) echo "$ADDR" ;;
  prune) prune ;;
  *) echo "usage: $0 start|stop|status|addr|prune" >&2; exit 2 ;;
esac
