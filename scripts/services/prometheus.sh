#!/usr/bin/env bash
# A Prometheus for the tests and the rollout engine's `provider: prometheus`: Debian's prometheus
# package, our own process listening on 127.0.0.1 only, scraping every second whatever targets the
# tests drop into a file_sd folder.
#
#   scripts/services/prometheus.sh start    install prometheus if missing, start (or reuse) it
#   scripts/services/prometheus.sh stop     stop the Prometheus started by this script
#   scripts/services/prometheus.sh status   exit 0 only when OUR Prometheus answers GET /-/ready
#   scripts/services/prometheus.sh url      print the URL (http://127.0.0.1:PORT) without starting anything
#
# Scrape targets: drop a file_sd JSON file into $MLOPS_CACHE_DIR/prometheus/targets/NAME.json
# (write it elsewhere and `mv` it there, so Prometheus never reads half a file); it is read within
# about a second, and removing the file removes the targets:
#
#   [{"targets": ["127.0.0.1:8123"], "labels": {"job": "my-test", "role": "canary"}}]
#
# A `job` label replaces the scrape job's name. Reserved labels change how the target is scraped:
# "__metrics_path__": "/other/metrics" (default /metrics), "__scheme__": "https",
# "__param_NAME": "value" (a URL query parameter).
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_PROMETHEUS_PORT (default 9090),
# MLOPS_PROMETHEUS_START_TIMEOUT (seconds, default 60), MLOPS_PROMETHEUS_RETENTION (default 2d).
# Idempotent and safe to call from several processes at once (flock).

PROMETHEUS_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

PORT=${MLOPS_PROMETHEUS_PORT:-9090}
ADDR=127.0.0.1:$PORT
URL=http://$ADDR
PROM_DIR=$CACHE_DIR/prometheus
TARGETS=$PROM_DIR/targets
DATA=$PROM_DIR/data-$PORT
CONFIG=$PROM_DIR/prometheus-$PORT.yml
PIDFILE=$PROM_DIR/prometheus-$PORT.pid
LOG=$PROM_DIR/prometheus-$PORT.log
START_TIMEOUT=${MLOPS_PROMETHEUS_START_TIMEOUT:-60}
RETENTION=${MLOPS_PROMETHEUS_RETENTION:-2d}
case "$PORT" in ''|*[!0-9]*) die "MLOPS_PROMETHEUS_PORT must be a number, got '$PORT'" ;; esac

check_version() { check_package_version prometheus "$PROMETHEUS_VERSION" PROMETHEUS_VERSION; }

http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$URL$1" 2>/dev/null || true; }
ready() { [ "$(http_code /-/ready)" = 200 ]; }
# The config file of whatever Prometheus answers on the port ("" when none answers).
running_config() {
  curl -s -m 5 "$URL/api/v1/status/flags" 2>/dev/null \
    | sed -n 's/.*"config\.file":"\([^"]*\)".*/\1/p' || true
}
ours() { [ "$(running_config)" = "$CONFIG" ]; }
# A live process (a zombie waiting for init to reap it counts as gone).
pid_alive() { alive "$(pid_in "$PIDFILE")"; }
log_tail() { tail_log "$LOG" 30; }

print_versions() {
  local pkg
  pkg=$(dpkg-query -W -f='${Version}' prometheus 2>/dev/null || echo '?')
  say "prometheus package $pkg ($(prometheus --version 2>&1 | head -n1))"
  check_version
}

# The Debian package's own daemon (/etc/prometheus/prometheus.yml, all interfaces, port 9090) is not
# the one we use. apt_install keeps its init script from starting it, and right after installing
# we disable it for boot (systemd unit and SysV links), so it cannot take the port later. If it runs
# anyway (installed before this script, or started by hand), `start` stops it. Any other Prometheus
# (another config) is left alone; on our port it makes `start` fail with a message.
disable_debian_service() {
  say "disabling the Debian prometheus service at boot (we run our own, see $CONFIG)"
  if command -v deb-systemd-helper >/dev/null; then deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true; fi
  if command -v update-rc.d >/dev/null; then update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
}

prometheus_pids() {
  local f
  for f in /proc/[0-9]*/comm; do
    [ "$(cat "$f" 2>/dev/null)" = prometheus ] && { f=${f#/proc/}; echo "${f%/comm}"; }
  done
  return 0
}

# A process of the Debian service: no --config.file, or the package's default one.
debian_daemon() {
  local args
  args=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$args" in
    *--config.file=/etc/prometheus/prometheus.yml*) return 0 ;;
    *--config.file*) return 1 ;;
    *) return 0 ;;
  esac
}

stop_debian_service() {
  local pid stopped=
  for pid in $(prometheus_pids); do
    alive "$pid" && debian_daemon "$pid" || continue
    say "stopping the Debian prometheus service (pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl stop prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
      /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    stopped="$stopped $pid"
  done
  for pid in $stopped; do terminate "$pid" 15; done   # in case the service manager did not stop it
  [ -z "$stopped" ] || disable_debian_service
}

write_config() {
  mkdir -p "$TARGETS" "$DATA"
  cat >"$CONFIG.tmp" <<EOF
# Written by scripts/services/prometheus.sh; rewritten on every start.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  # Targets come from $TARGETS/*.json (file_sd, re-read every second). A "job" label in a
  # file replaces this job name; "__metrics_path__" changes the path (default /metrics).
  - job_name: file_sd
    file_sd_configs:
      - files: ["$TARGETS/*.json"]
        refresh_interval: 1s
EOF
  mv "$CONFIG.tmp" "$CONFIG"
}

start() {
  mkdir -p "$PROM_DIR"
  (
    flock -w 300 8 || die "timed out waiting for $PROM_DIR/prometheus-$PORT.lock"
    command -v curl >/dev/null || apt_install curl >&2
    if ready && ours; then
      if pid_alive; then say "reusing the running Prometheus on $URL (pid $(pid_in "$PIDFILE"))"
      else say "reusing the Prometheus already answering on $URL with $CONFIG"; fi
    else
      if ! command -v prometheus >/dev/null; then
        apt_install prometheus >&2   # stdout carries only the URL
        disable_debian_service
      fi
      command -v prometheus >/dev/null || die "prometheus not found after installing it"
      stop_debian_service
      if pid_alive; then
        say "prometheus pid $(pid_in "$PIDFILE") is not ready on $URL; restarting it"
        terminate "$(pid_in "$PIDFILE")" 15
      fi
      local code
      code=$(http_code /-/ready)
      [ "$code" = 000 ] || die "something else answers on $ADDR (HTTP $code for /-/ready, config '$(running_config)'); set MLOPS_PROMETHEUS_PORT to a free port"
      write_config
      say "starting prometheus on $URL (config $CONFIG, data $DATA, log $LOG)"
      setsid prometheus \
        --config.file="$CONFIG" \
        --web.listen-address="$ADDR" \
        --storage.tsdb.path="$DATA" \
        --storage.tsdb.retention.time="$RETENTION" \
        --web.enable-lifecycle \
        --log.level=info \
        </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
      echo $! >"$PIDFILE"
      local deadline=$((SECONDS + START_TIMEOUT))
      until ready; do
        if ! pid_alive; then log_tail; die "prometheus exited during start-up (log: $LOG)"; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
          log_tail; die "prometheus did not answer GET $URL/-/ready with 200 within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.2
      done
      ours || die "the Prometheus on $URL does not run $CONFIG (it runs '$(running_config)')"
      say "prometheus ready on $URL; scrape targets from $TARGETS/*.json"
    fi
    print_versions
  ) 8>"$PROM_DIR/prometheus-$PORT.lock"
  echo "$URL"
}

stop() {
  pid_alive || say "not running (no live pid in $PIDFILE)"
  stop_pidfile "$PIDFILE" prometheus 20
}

status() {
  if command -v curl >/dev/null && ready && ours; then
    print_versions
    echo "running: $URL (targets: $TARGETS/*.json)"
  else
    echo "not running: $URL"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
