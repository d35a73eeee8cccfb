#!/usr/bin/env bash
# Lints the Jenkins library's Groovy (vars/, src/, Jenkinsfile), offline once installed:
#  1. npm-groovy-lint (CodeNarc; rules in .groovylintrc.json: the recommended-jenkinsfile preset plus
#     CodeNarc's Jenkins/CPS rules applied to every *.groovy file), failing on any warning;
#  2. CodeNarc's Jenkins/CPS rules again, run straight from the jars npm-groovy-lint bundles, with
#     the library's src/ classes and a @NonCPS stub on the compile classpath. Several of those rules
#     (CpsCallFromNonCpsMethod, ExpressionInCpsMethodNotSerializable, ...) compile each file first and
#     silently skip it when an import does not resolve, which is what happens inside npm-groovy-lint.
#     Here a file that does not compile fails the lint.
#
#   scripts/lint-groovy.sh              lint this repository
#   scripts/lint-groovy.sh --root DIR   lint another library laid out the same way
#   scripts/lint-groovy.sh --self-test  prove the rules fire: tests/groovy/fixtures/lint-bad must fail
#                                       (every Jenkins rule named), tests/groovy/fixtures/lib must pass
#
# Needs Node >= 20 with npm (the first run does `npm ci --prefix tools/groovy-lint`) and a Java 17.
# Java 17 is put first on PATH: with a newer Java npm-groovy-lint tries to download a JRE.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tool_dir="$repo/tools/groovy-lint"
expected_version=16.2.0
jenkins_rules=(ClassNotSerializable ClosureInGString CpsCallFromNonCpsMethod ExpressionInCpsMethodNotSerializable
  ForbiddenCallInCpsMethod ObjectOverrideOnlyNonCpsMethods ParameterOrReturnTypeNotSerializable)

die() { echo "lint-groovy: $*" >&2; exit 2; }

find_java17() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -q '"17\.'; then
    return
  fi
  JAVA_HOME=
  for candidate in /usr/lib/jvm/java-17-openjdk-*; do
    if [ -x "$candidate/bin/java" ]; then JAVA_HOME=$candidate; break; fi
  done
  [ -n "$JAVA_HOME" ] || die "no Java 17 in /usr/lib/jvm/java-17-openjdk-* (apt-get install openjdk-17-jre-headless)"
}

ensure_tool() {
  command -v node >/dev/null || die "node is not installed (Node >= 20 with npm is needed)"
  command -v npm >/dev/null || die "npm is not installed (Node >= 20 with npm is needed)"
  local installed=
  if [ -f "$tool_dir/node_modules/npm-groovy-lint/package.json" ]; then
    installed=$(node -p "require('$tool_dir/node_modules/npm-groovy-lint/package.json').version")
  fi
  if [ "$installed" != "$expected_version" ]; then
    echo "lint-groovy: installing npm-groovy-lint $expected_version (npm ci --prefix tools/groovy-lint)" >&2
    npm ci --prefix "$tool_dir" --prefer-offline --no-audit --no-fund --loglevel=error >&2 ||
      die "npm ci failed: npm-groovy-lint $expected_version could not be installed"
  fi
  java_dir="$tool_dir/node_modules/npm-groovy-lint/lib/java"
  [ -d "$java_dir/groovy/lib" ] || die "no CodeNarc jars in $java_dir"
}

# CodeNarc's Jenkins rules with the library compiled on the classpath. $1: library root.
codenarc_jenkins() (
  local root=$1 work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/stubs/com/cloudbees/groovy/cps" "$work/stubs/org/jenkinsci/plugins/workflow/libs" "$work/classes"
  cat >"$work/stubs/com/cloudbees/groovy/cps/NonCPS.java" <<'EOF'
package com.cloudbees.groovy.cps;
import java.lang.annotation.*;
@Retention(RetentionPolicy.RUNTIME) @Target({ElementType.METHOD, ElementType.CONSTRUCTOR})
public @interface NonCPS {}
EOF
  cat >"$work/stubs/org/jenkinsci/plugins/workflow/libs/Library.java" <<'EOF'
package org.jenkinsci.plugins.workflow.libs;
import java.lang.annotation.*;
@Retention(RetentionPolicy.SOURCE)
public @interface Library { String[] value(); boolean changelog() default true; }
EOF
  cat >"$work/logback.xml" <<'EOF'
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
EOF
  {
    echo 'ruleset {'
    echo "    ruleset('rulesets/jenkins.xml') {"
    for rule in "${jenkins_rules[@]}"; do
      echo "        $rule(applyToFileNames: '*.groovy,Jenkinsfile')"
    done
    echo '    }'
    echo '}'
  } >"$work/jenkins-rules.groovy"

  local groovy_cp="$java_dir/groovy/lib/*"
  local sources=("$work/stubs/com/cloudbees/groovy/cps/NonCPS.java" "$work/stubs/org/jenkinsci/plugins/workflow/libs/Library.java")
  if [ -d "$root/src" ]; then
    while IFS= read -r -d '' f; do sources+=("$f"); done < <(find "$root/src" -name '*.groovy' -print0)
  fi
  # Groovy 4 (bundled with CodeNarc) compiles src/ for the classpath: the same compiler CodeNarc uses.
  if ! "$JAVA_HOME/bin/java" -cp "$groovy_cp" org.codehaus.groovy.tools.FileSystemCompiler -j \
      -d "$work/classes" "${sources[@]}" >"$work/compile.log" 2>&1; then
    cat "$work/compile.log" >&2
    echo "lint-groovy: src/ does not compile (see above)" >&2
    return 1
  fi

  local includes='vars/*.groovy,src/**/*.groovy,Jenkinsfile'
  local cp="$work/classes:$(echo "$java_dir"/CodeNarc-*.jar):$(echo "$java_dir"/GMetrics-*.jar):$groovy_cp"
  cp="$cp:$(echo "$java_dir"/slf4j-api-*.jar):$(echo "$java_dir"/logback-classic-*.jar):$(echo "$java_dir"/logback-core-*.jar)"
  local rc=0
  "$JAVA_HOME/bin/java" -Dlogback.configurationFile="$work/logback.xml" -cp "$cp" org.codenarc.CodeNarc \
    -basedir="$root" -includes="$includes" -rulesetfiles="file:$work/jenkins-rules.groovy" \
    -report=text:"$work/report.txt" -failOnError=true \
    -maxPriority1Violations=0 -maxPriority2Violations=0 -maxPriority3Violations=0 >"$work/codenarc.log" 2>&1 || rc=$?
  grep -E '^(Summary|File:|    Violation)' "$work/report.txt" 2>/dev/null | grep -B1 -E '^    Violation|^Summary' || true
  if grep -q 'Compilation error\|Compilation failed' "$work/codenarc.log"; then
    cat "$work/codenarc.log" >&2
    echo "lint-groovy: a file did not compile, so CodeNarc's CPS rules could not check it (see above)." >&2
    echo "lint-groovy: library files must import what they use explicitly (e.g. com.cloudbees.groovy.cps.NonCPS;" >&2
    echo "lint-groovy: a Jenkinsfile with @Library needs 'import org.jenkinsci.plugins.workflow.libs.Library')." >&2
    return 1
  fi
  if [ "$rc" -ne 0 ]; then
    grep -v '^\s*$' "$work/codenarc.log" >&2 || true
    echo "lint-groovy: CodeNarc's Jenkins/CPS rules found violations" >&2
    return 1
  fi
  return 0
)

# Both passes over one library root. $1: root.
lint_root() {
  local root=$1 status=0
  local targets=()
  for t in vars src Jenkinsfile; do
    [ -e "$root/$t" ] && targets+=("$t")
  done
  [ -d "$root/vars" ] || die "$root has no vars/: nothing to lint"

  echo "lint-groovy: npm-groovy-lint $expected_version (.groovylintrc.json, --failon warning) on ${targets[*]} in $root"
  (cd "$root" && "$tool_dir/node_modules/.bin/npm-groovy-lint" --noserver --config "$repo" --failon warning \
    --loglevel warning --javaexecutable "$JAVA_HOME/bin/java" --output txt "${targets[@]}") || status=1

  echo "lint-groovy: CodeNarc Jenkins/CPS rules (${jenkins_rules[*]}) with src/ on the classpath"
  codenarc_jenkins "$root" || status=1
  return $status
}

self_test() {
  local fixture="$repo/tests/groovy/fixtures/lint-bad" out rc=0
  [ -d "$fixture" ] || die "no $fixture"
  out=$(lint_root "$fixture" 2>&1) || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "$out"
    echo "lint-groovy: SELF-TEST FAILED: the deliberately bad sample passed the lint" >&2
    return 1
  fi
  local missing=()
  for rule in "${jenkins_rules[@]}"; do
    grep -q "Rule=$rule " <<<"$out" || missing+=("$rule")
  done
  grep -q 'ClosureInGString' <<<"$(sed -n '/npm-groovy-lint/,/CodeNarc Jenkins/p' <<<"$out")" || missing+=("ClosureInGString (npm-groovy-lint pass)")
  if [ "${#missing[@]}" -ne 0 ]; then
    echo "$out"
    echo "lint-groovy: SELF-TEST FAILED: these rules did not fire on $fixture: ${missing[*]}" >&2
    return 1
  fi
  # And a clean library passes: the failures above come from the rules, not from the set-up.
  local good="$repo/tests/groovy/fixtures/lib"
  if ! out=$(lint_root "$good" 2>&1); then
    echo "$out"
    echo "lint-groovy: SELF-TEST FAILED: the clean fixture library $good did not pass" >&2
    return 1
  fi
  echo "lint-groovy: self-test passed: the bad sample fails the lint (exit $rc) with all ${#jenkins_rules[@]} Jenkins/CPS rules firing, the clean fixture library passes"
}

main() {
  local mode=lint root=$repo
  while [ $# -gt 0 ]; do
    case $1 in
      --self-test) mode=self-test ;;
      --root) shift; [ $# -gt 0 ] || die "--root needs a directory"; root=$(cd "$1" && pwd) ;;
      -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
  done
  find_java17
  export JAVA_HOME
  export PATH="$JAVA_HOME/bin:$PATH"
  ensure_tool
  if [ "$mode" = self-test ]; then
    self_test
  else
    lint_root "$root" && echo "lint-groovy: OK"
  fi
}

main "$@"
