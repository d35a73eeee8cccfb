#!/usr/bin/env bash
# helm, built from source with the Go toolchain (the Go module proxy is reachable; a prebuilt
# binary from the internet is not), at the version pinned in tools/versions.env (HELM_VERSION).
#
#   scripts/services/helm.sh install   build helm if the cache lacks it; print the binary's path
#   scripts/services/helm.sh path      print the binary's path; exit 1 when it is not built yet
#   scripts/services/helm.sh version   build if needed, then print `helm version`
#
# The binary goes to $MLOPS_CACHE_DIR/bin/helm-$HELM_VERSION (default /var/cache/mlops/bin),
# outside the repo. It is built with the ldflags of helm's own Makefile, so `helm version` names
# the release and the default Kubernetes version (helm template / lint) is the one of the
# client-go helm was released with, not helm's fallback 1.20.
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_HELM_VERSION (overrides the pin),
# GO (default: go on PATH, else /usr/local/go/bin/go).
# Idempotent and safe to call from several processes at once (flock).

HELM_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

HELM_VERSION=${MLOPS_HELM_VERSION:-$HELM_VERSION}
[ -n "$HELM_VERSION" ] || die "HELM_VERSION is not set in tools/versions.env"
case "$HELM_VERSION" in v3.*) ;; *) die "HELM_VERSION must be a helm v3 release like v3.22.0, got '$HELM_VERSION'" ;; esac

BIN_DIR=$CACHE_DIR/bin
BIN=$BIN_DIR/helm-$HELM_VERSION
MODULE=helm.sh/helm/v3

find_go() {
  if [ -n "${GO:-}" ]; then echo "$GO"; return; fi
  if command -v go >/dev/null; then command -v go; return; fi
  [ -x /usr/local/go/bin/go ] && { echo /usr/local/go/bin/go; return; }
  die "no Go toolchain found (install Go 1.26 or set GO=/path/to/go)"
}

# The binary answers `helm version` with the pinned version.
works() { [ -x "$BIN" ] && "$BIN" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; }

build() {
  local go gomod client_go k8s_minor k8s_major tmp started ldflags
  go=$(find_go)
  started=$SECONDS
  say "building helm $HELM_VERSION with $("$go" version) (go install $MODULE/cmd/helm@$HELM_VERSION)"
  # helm's Makefile derives the default Kubernetes version from the client-go it depends on.
  gomod=$("$go" mod download -json "$MODULE@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || die "go mod download $MODULE@$HELM_VERSION failed (is the Go module proxy reachable?)"
  client_go=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v\([0-9.]*\).*/\1/p' "$gomod" | head -n1)
  k8s_major=$(( ${client_go%%.*} + 1 ))
  k8s_minor=$(echo "$client_go" | cut -d. -f2)
  ldflags="-w -s -X $MODULE/internal/version.version=$HELM_VERSION"
  ldflags="$ldflags -X $MODULE/internal/version.gitTreeState=clean"
  ldflags="$ldflags -X $MODULE/pkg/lint/rules.k8sVersionMajor=$k8s_major -X $MODULE/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldflags="$ldflags -X $MODULE/pkg/chartutil.k8sVersionMajor=$k8s_major -X $MODULE/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  tmp=$(mktemp -d "$BIN_DIR/.build-XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  if ! CGO_ENABLED=0 GOBIN="$tmp" "$go" install -trimpath -ldflags "$ldflags" "$MODULE/cmd/helm@$HELM_VERSION" >"$tmp/build.log" 2>&1; then
    tail -n 30 "$tmp/build.log" >&2
    die "go install $MODULE/cmd/helm@$HELM_VERSION failed"
  fi
  mv "$tmp/helm" "$BIN.tmp.$$" && mv -f "$BIN.tmp.$$" "$BIN"
  rm -rf "$tmp"
  trap - EXIT
  works || die "$BIN does not report version $HELM_VERSION"
  say "built $BIN in $((SECONDS - started))s (default Kubernetes version v$k8s_major.$k8s_minor)"
}

install() {
  mkdir -p "$BIN_DIR"
  (
    flock -w 1800 8 || die "timed out waiting for $BIN_DIR/helm.lock"
    works || build
  ) 8>"$BIN_DIR/helm.lock"
  echo "$BIN"
}

case "${1:-}" in
  install) install ;;
  path) if works; then echo "$BIN"; else echo "$BIN (not built: run $0 install)" >&2; exit 1; fi ;;
  version) "$(install)" version ;;
  *) echo "usage: $0 install|path|version" >&2; exit 2 ;;
esac
