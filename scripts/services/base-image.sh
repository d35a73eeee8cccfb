#!/usr/bin/env bash
# The base image for model images, built here because no image can be pulled from a public hub:
#   debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates SUITE DIR MIRROR
# with MIRROR taken from this machine's apt sources, docs/man pages/locales/apt lists stripped, then
#   tar -C DIR -c . | docker import - mlops-base:SUITE
#
#   scripts/services/base-image.sh            ensure the image exists in the engine (prints its name)
#   scripts/services/base-image.sh --rebuild  run debootstrap again even if a cached tarball exists
#
# Cost is paid once per machine: the root filesystem tarball is cached in the cache dir, keyed by
# suite, variant, package list, architecture and strip recipe, so a later run only `docker import`s it
# (a few seconds), and does nothing at all when the engine already has the image with the same key.
# Starts the engine with docker.sh when it is not running. Installs debootstrap if missing.
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_BASE_IMAGE (default
# mlops-base:SUITE), MLOPS_DEBIAN_SUITE (default DEBIAN_SUITE from tools/versions.env, bookworm),
# MLOPS_DEBIAN_MIRROR (default: the first matching entry of the apt sources).

DEBIAN_SUITE='' DEBOOTSTRAP_VERSION=''   # from tools/versions.env, sourced by common.sh
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

SUITE=${MLOPS_DEBIAN_SUITE:-${DEBIAN_SUITE:-bookworm}}
IMAGE=${MLOPS_BASE_IMAGE:-mlops-base:$SUITE}
VARIANT=minbase
INCLUDE=python3,python3-venv,ca-certificates
# Bump when the stripping below or the image settings change: it is part of the cache key.
RECIPE=1
IMPORT_CHANGES=(
  "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  "ENV LANG=C.UTF-8"
  'CMD ["/bin/bash"]'
)
REBUILD=
case "${1:-}" in
  '') ;;
  --rebuild) REBUILD=1 ;;
  *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

BASE_DIR=$CACHE_DIR/base-image
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
KEY=$(printf '%s\n' "$SUITE" "$VARIANT" "$INCLUDE" "$ARCH" "$RECIPE" "${IMPORT_CHANGES[@]}" | sha256sum | cut -c1-16)
TARBALL=$BASE_DIR/$SUITE-$VARIANT-$KEY.tar

check_version() { check_package_version debootstrap "$DEBOOTSTRAP_VERSION" DEBOOTSTRAP_VERSION; }

# The Debian mirror named in this machine's apt sources (one-line .list and deb822 .sources files):
# the first `deb` entry for SUITE with component main, else the first non-security `deb` entry.
find_mirror() {
  local files=() f
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && files+=("$f"); done
  [ "${#files[@]}" -gt 0 ] || return 1
  awk -v suite="$SUITE" '
    function consider(types, uris, suites, comps,   n, i, u, s, j, m) {
      if (types !~ /(^|[ \t])deb([ \t]|$)/ || comps !~ /(^|[ \t])main([ \t]|$)/) return
      n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (u[i] == "" || u[i] ~ /^cdrom:/) continue
        for (j = 1; j <= m; j++) if (s[j] == suite && exact == "") exact = u[i]
        if (fallback == "" && u[i] !~ /security/) fallback = u[i]
      }
    }
    function flush() {
      if (types != "" && tolower(enabled) != "no") consider(types, uris, suites, comps)
      types = uris = suites = comps = enabled = ""
    }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 {
      if ($0 ~ /^[ \t]*#/) next
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      key = tolower($0); sub(/:.*/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") types = val; else if (key == "uris") uris = val
      else if (key == "suites") suites = val; else if (key == "components") comps = val
      else if (key == "enabled") enabled = val
      next
    }
    /^[ \t]*deb[ \t]/ {
      line = $0; sub(/#.*/, "", line); gsub(/\[[^]]*\]/, "", line)
      k = split(line, w, /[ \t]+/); start = (w[1] == "") ? 2 : 1
      c = ""; for (i = start + 3; i <= k; i++) c = c " " w[i]
      consider("deb", w[start + 1], w[start + 2], c)
    }
    END { flush(); if (exact != "") print exact; else if (fallback != "") print fallback }
  ' "${files[@]}"
}

image_key() { docker image inspect -f '{{index .Config.Labels "org.mlops.base.key"}}' "$IMAGE" 2>/dev/null || true; }

print_size() {
  local bytes
  bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE")
  say "image $IMAGE: $(awk -v b="$bytes" 'BEGIN{printf "%.0f MB", b/1e6}') ($bytes bytes), key $KEY"
}

unmount_under() {
  # Mounts debootstrap may leave behind after a failure (proc, sys, dev), deepest first.
  local m
  for m in $(awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

strip_rootfs() {
  local root=$1
  # Keep the copyright files; drop documentation, man pages, translations and package caches.
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian/* \
    "$root"/usr/share/locale/* "$root"/usr/share/i18n/locales/* \
    "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache
  mkdir -p "$root/var/lib/apt/lists/partial"
  # Later `apt-get install`s in derived images stay small too (as in Debian's official images).
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/etc/apt/apt.conf.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-mlops-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$root/etc/apt/apt.conf.d/01-mlops-clean" <<'EOF'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
  : >"$root/etc/machine-id"
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  touch "$root/etc/resolv.conf"
}

build_tarball() {
  command -v debootstrap >/dev/null || apt_install debootstrap debian-archive-keyring
  command -v gpgv >/dev/null || apt_install gpgv
  command -v debootstrap >/dev/null || die "debootstrap not found after installing it"
  local mirror=${MLOPS_DEBIAN_MIRROR:-}
  [ -n "$mirror" ] || mirror=$(find_mirror) || true
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources; set MLOPS_DEBIAN_MIRROR"
  say "debootstrap $(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null): $VARIANT $SUITE with $INCLUDE from $mirror"
  check_version
  local work=$BASE_DIR/rootfs.$$ t0
  unmount_under "$work"; rm -rf --one-file-system "$work"
  trap 'unmount_under "'"$work"'"; rm -rf --one-file-system "'"$work"'"' EXIT
  t0=$(now)
  if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$work" "$mirror" >"$BASE_DIR/debootstrap.log" 2>&1; then
    tail_log "$BASE_DIR/debootstrap.log" 30
    [ ! -f "$work/debootstrap/debootstrap.log" ] || tail -n 30 "$work/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log: $BASE_DIR/debootstrap.log)"
  fi
  say "debootstrap done in $(since "$t0")"
  unmount_under "$work"
  chroot "$work" dpkg-query -W -f='${Package} ${Version}\n' >"$TARBALL.packages"
  say "$(wc -l <"$TARBALL.packages") packages; $(chroot "$work" python3 --version)"
  strip_rootfs "$work"
  t0=$(now)
  tar -C "$work" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  say "rootfs tarball $TARBALL ($(du -m "$TARBALL" | cut -f1) MB) written in $(since "$t0")"
  rm -rf --one-file-system "$work"
  trap - EXIT
}

main() {
  local t_all
  t_all=$(now)
  eval "$(bash "$here/docker.sh" start)"   # sets DOCKER_HOST
  export DOCKER_HOST
  mkdir -p "$BASE_DIR"
  (
    flock -w 1200 7 || die "timed out waiting for $BASE_DIR.lock"
    if [ -z "$REBUILD" ] && [ "$(image_key)" = "$KEY" ]; then
      say "$IMAGE is already in the engine"
    else
      if [ -n "$REBUILD" ] || [ ! -s "$TARBALL" ]; then
        build_tarball
      else
        say "using the cached rootfs $TARBALL"
      fi
      local t0 args=() c old
      old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
      t0=$(now)
      for c in "${IMPORT_CHANGES[@]}"; do args+=(--change "$c"); done
      args+=(--change "LABEL org.mlops.base.key=$KEY org.mlops.base.suite=$SUITE org.mlops.base.packages=$INCLUDE")
      docker import "${args[@]}" - "$IMAGE" <"$TARBALL" >/dev/null
      say "docker import done in $(since "$t0")"
      # The replaced image, unless images built from it still need it.
      [ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
    fi
    print_size
    say "ready in $(since "$t_all")"
  ) 7>"$BASE_DIR.lock"
  echo "$IMAGE"
}

main
