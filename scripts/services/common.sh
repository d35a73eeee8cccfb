# shellcheck shell=bash
# The prelude of every service script, sourced first thing (`source "$(dirname "$0")/common.sh"`):
# strict mode, where things are, the pins of tools/versions.env, messages, process checks, stopping a
# process by its pid file, the one apt-get path and the prune age. A script sets the pins it reads to
# '' before sourcing this, so that they are defined (set -u) even without tools/versions.env.
set -euo pipefail

# shellcheck disable=SC2034  # used by the sourcing scripts
{
  me=${0##*/}                                          # the script's name, in messages
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # scripts/services
  repo=$(cd "$here/../.." && pwd)
  CACHE_DIR=${MLOPS_CACHE_DIR:-/var/cache/mlops}
}
# shellcheck source=/dev/null
[ ! -f "$repo/tools/versions.env" ] || source "$repo/tools/versions.env"

die() { echo "$me: $*" >&2; exit 2; }
say() { echo "$me: $*" >&2; }
tail_log() {  # FILE LINES: the end of a log on stderr, when there is one (after a failure)
  [ -f "$1" ] || return 0
  { echo "--- last lines of $1 ---"; tail -n "$2" "$1"; } >&2
}

# A pid that is alive and not a zombie (PID 1 here is slow to reap killed daemons).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
pid_in() { cat "$1" 2>/dev/null || true; }  # PIDFILE: its pid, "" when there is none

# SIGTERM, then SIGKILL if PID still lives after SECONDS (saying KILL-MESSAGE first, when given).
# Does not wait after the SIGKILL: a killed process can stay a zombie for a while (see alive).
terminate() {  # PID SECONDS [KILL-MESSAGE]
  local pid=$1 deadline=$((SECONDS + $2))
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ -z "${3:-}" ] || say "$3"
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
}

# Stops the process PIDFILE names, if it is alive, and removes PIDFILE in any case.
stop_pidfile() {  # PIDFILE NAME SECONDS [KILL-MESSAGE]
  local pid
  pid=$(pid_in "$1")
  if alive "$pid"; then
    say "stopping $2 (pid $pid)"
    terminate "$pid" "$3" "${4:-}"
  fi
  rm -f "$1"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# The Debian package version tools/versions.env was checked with; another one only warns (security updates).
check_package_version() {  # PACKAGE EXPECTED-VERSION VARIABLE-NAME
  local have
  have=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)
  if [ -n "$2" ] && [ -n "$have" ] && [ "$have" != "$2" ]; then
    say "warning: $1 $have is installed; tools/versions.env names $3=$2"
  fi
}

# apt-get install without letting a package's init script start its own service (Debian's
# docker.io and docker-registry would); serialised through one lock shared by the service
# scripts, with `apt-get update` only when something has to be installed.
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "must run as root to install: $*"
  command -v apt-get >/dev/null || die "needs a Debian-based system to install: $*"
  mkdir -p "$CACHE_DIR"
  (
    flock -w 900 9 || die "timed out waiting for $CACHE_DIR/apt.lock"
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ "${#missing[@]}" -gt 0 ] || exit 0
    say "installing ${missing[*]} (apt-get update first)"
    local policy=/usr/sbin/policy-rc.d created=
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
      trap '[ -n "$created" ] && rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  ) 9>"$CACHE_DIR/apt.lock"
}

# MLOPS_PRUNE_AGE (default 1h) in seconds: what `prune` of the docker and registry scripts leaves
# alone, so that a test run in progress on the same machine keeps its images.
PRUNE_AGE=${MLOPS_PRUNE_AGE:-1h}
prune_age_seconds() {  # 90s, 30m, 2h, 1h30m
  local text=$PRUNE_AGE total=0 number
  [[ "$text" =~ ^([0-9]+[hms])+$ ]] || die "MLOPS_PRUNE_AGE must be a duration such as 30m, 2h or 1h30m, got '$PRUNE_AGE'"
  while [ -n "$text" ]; do
    number=${text%%[hms]*}
    case "${text:${#number}:1}" in
      h) total=$((total + number * 3600)) ;;
      m) total=$((total + number * 60)) ;;
      s) total=$((total + number)) ;;
    esac
    text=${text:$((${#number} + 1))}
  done
  echo "$total"
}
