#!/usr/bin/env bash
# The Groovy tests of the Jenkins library: every JUnit 4 class in tests/groovy/**/*Test.groovy,
# run on the plain-Groovy pipeline harness (tests/groovy/harness). Needs Debian's groovy and junit4
# (scripts/install-system-deps.sh) and a Java 17. Prints `N passed, N failed` last; exit 1 on any
# failure or when no test ran.
#   scripts/test-groovy.sh [FILTER...]    FILTER: part of a test class name or path
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

die() { echo "test-groovy: $*" >&2; exit 2; }

# Java 17: Groovy 2.4 runs on it, and the harness was built on it. Never pick a newer JDK that
# happens to be first on PATH.
if [ -z "${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/java" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q '"17\.'; then
  JAVA_HOME=
  for candidate in /usr/lib/jvm/java-17-openjdk-*; do
    if [ -x "$candidate/bin/java" ]; then JAVA_HOME=$candidate; break; fi
  done
  [ -n "$JAVA_HOME" ] || die "no Java 17 in /usr/lib/jvm/java-17-openjdk-* (run scripts/install-system-deps.sh)"
fi
export JAVA_HOME

command -v groovy >/dev/null || die "groovy is not installed (run scripts/install-system-deps.sh)"
for jar in /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar; do
  [ -f "$jar" ] || die "$jar is missing (run scripts/install-system-deps.sh)"
done

# Tests may run the real `mlops` CLI: the repository's virtualenv comes first on PATH.
if [ -d "$repo/.venv/bin" ]; then
  export PATH="$repo/.venv/bin:$PATH"
fi

# Workspaces and projects the tests create go here and are removed after the run.
MLOPS_TEST_TMP=$(mktemp -d -t mlops-groovy-tests.XXXXXX)
export MLOPS_TEST_TMP
trap 'rm -rf "$MLOPS_TEST_TMP"' EXIT
groovy -cp /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar tests/groovy/RunTests.groovy "$@"
