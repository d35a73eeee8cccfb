#!/usr/bin/env bash
# A headless browser for the tests that render HTML (the monitoring report): Debian's chromium
# package, installed with apt-get when missing (no browser download from the internet), plus
# fonts-dejavu-core so text has a font on a bare machine.
#
#   scripts/services/chromium.sh install   install chromium if missing; print the binary's path
#   scripts/services/chromium.sh path      print the binary's path; exit 1 when it is not installed
#   scripts/services/chromium.sh version   install if needed, then print `chromium --version`
#
# The Debian package version it ran with is recorded in $MLOPS_CACHE_DIR/chromium/version
# (package version, `chromium --version`, binary path) and printed on stderr. The version is
# pinned in tools/versions.env as CHROMIUM_VERSION when that is set; another installed version
# only warns (Debian's security archive replaces chromium often, and only keeps the latest).
# Use it as:
#
#   chromium=$(bash scripts/services/chromium.sh install)
#   "$chromium" --headless --no-sandbox --disable-gpu --screenshot=out.png --window-size=1280,2400 file:///…/report.html
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_CHROMIUM_VERSION (overrides the
# pin in the warning check). Idempotent and safe to call from several processes at once (flock).

CHROMIUM_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

CHROMIUM_VERSION=${MLOPS_CHROMIUM_VERSION:-$CHROMIUM_VERSION}

STATE_DIR=$CACHE_DIR/chromium
RECORD=$STATE_DIR/version
PACKAGES=(chromium fonts-dejavu-core)

# Debian installs the launcher as /usr/bin/chromium (a shell wrapper around /usr/lib/chromium/chromium).
find_binary() {
  local candidate
  for candidate in /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

# The browser starts and names itself (`chromium --version` needs no display).
works() { local bin; bin=$(find_binary) && timeout 60 "$bin" --version 2>/dev/null | grep -qi chromium; }

record() {
  local bin pkg reported
  bin=$(find_binary)
  pkg=$(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo '?')
  reported=$(timeout 60 "$bin" --version 2>/dev/null | head -n1)
  mkdir -p "$STATE_DIR"
  printf 'package=chromium %s\nreported=%s\nbinary=%s\n' "$pkg" "$reported" "$bin" >"$RECORD.tmp.$$"
  mv -f "$RECORD.tmp.$$" "$RECORD"
  say "chromium package $pkg ($reported) at $bin; recorded in $RECORD"
  check_package_version chromium "$CHROMIUM_VERSION" CHROMIUM_VERSION
}

install() {
  mkdir -p "$STATE_DIR"
  (
    flock -w 900 8 || die "timed out waiting for $STATE_DIR/install.lock"
    local missing=() p
    for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ] || ! works; then
      apt_install "${PACKAGES[@]}" >&2   # stdout carries only the binary's path
    fi
    works || die "chromium does not start after installing it (try: /usr/bin/chromium --version)"
    record
  ) 8>"$STATE_DIR/install.lock"
  find_binary
}

case "${1:-}" in
  install) install ;;
  path) if works; then find_binary; else echo "chromium is not installed (run $0 install)" >&2; exit 1; fi ;;
  version) "$(install)" --version ;;
  *) echo "usage: $0 install|path|version" >&2; exit 2 ;;
esac
