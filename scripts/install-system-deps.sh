#!/usr/bin/env bash
# System packages for the Jenkins library's Groovy tests (scripts/test-groovy.sh): Debian's groovy
# (2.4, the Groovy line Jenkins runs) and junit4 (with hamcrest), plus a Java 17 for them.
# Idempotent: installs only what is missing, and runs `apt-get update` only then. Run as root on
# Debian/Ubuntu. Node >= 20 with npm (for scripts/lint-groovy.sh) is expected to be there already.
set -euo pipefail

die() { echo "install-system-deps: $*" >&2; exit 2; }

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || die "needs a Debian-based system (apt-get, dpkg-query)"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have_java17() { compgen -G '/usr/lib/jvm/java-17-openjdk-*/bin/java' >/dev/null; }

missing=()
for pkg in groovy junit4; do
  installed "$pkg" || missing+=("$pkg")
done
have_java17 || missing+=(openjdk-17-jre-headless)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: nothing to install (groovy, junit4 and a Java 17 are present)"
else
  [ "$(id -u)" -eq 0 ] || die "must run as root to install: ${missing[*]}"
  echo "install-system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

java17=
for candidate in /usr/lib/jvm/java-17-openjdk-*; do
  if [ -x "$candidate/bin/java" ]; then java17=$candidate; break; fi
done
[ -n "$java17" ] || die "no Java 17 found in /usr/lib/jvm after installing"
for jar in /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar; do
  [ -f "$jar" ] || die "$jar is missing after installing junit4"
done

# Debian's groovy launcher needs JAVA_HOME (or default-java); the test script sets it the same way.
source "$(dirname "$0")/../tools/versions.env"
groovy_version=$(JAVA_HOME=$java17 groovy --version)
echo "install-system-deps: $groovy_version"
case "$groovy_version" in
  *"Groovy Version: $GROOVY_VERSION "*) ;;
  *) die "groovy $GROOVY_VERSION is required (tools/versions.env), found: $groovy_version" ;;
esac
echo "install-system-deps: junit4 $(dpkg-query -W -f='${Version}' junit4), Java 17 at $java17"
