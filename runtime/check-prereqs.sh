#!/usr/bin/env bash
# Checks what `make install` needs before it starts: Python 3.11 with venv, Java 17+ and Maven (and notes
# a missing Go, which only the test suite's compose-file check needs).
# Prints one line per missing prerequisite, saying how to get it, and exits 1 if any is missing.
# Usage: runtime/check-prereqs.sh [python-command]   (default python3.11)
set -u
python_cmd=${1:-python3.11}
missing=0

say() { echo "missing prerequisite: $*" >&2; missing=1; }

if ! command -v "$python_cmd" >/dev/null 2>&1; then
  say "$python_cmd (Python 3.11): install it (Debian/Ubuntu: apt-get install python3.11 python3.11-venv; macOS: brew install python@3.11; or pyenv install 3.11) or run make with PYTHON_SYS=/path/to/python3.11"
else
  version=$("$python_cmd" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "?")
  if [ "$version" != "3.11" ]; then
    say "Python 3.11 ($python_cmd is $version): install Python 3.11 and run make with PYTHON_SYS=/path/to/python3.11"
  elif ! "$python_cmd" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    say "the venv module of $python_cmd: install it (Debian/Ubuntu: apt-get install python3.11-venv)"
  fi
fi

java_cmd=java
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java_cmd="$JAVA_HOME/bin/java"; fi
if ! command -v "$java_cmd" >/dev/null 2>&1; then
  say "Java 17 (no java on PATH or in JAVA_HOME): install a JDK 17 (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless; macOS: brew install openjdk@17) and put it on PATH or set JAVA_HOME"
else
  major=$("$java_cmd" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n 1)
  major=${major#1.}
  if ! [ "${major:-0}" -ge 17 ] 2>/dev/null; then
    say "Java 17 ($java_cmd is version ${major:-unknown}): install a JDK 17 and put it first on PATH or set JAVA_HOME"
  fi
fi

if ! command -v mvn >/dev/null 2>&1; then
  say "Maven (mvn, fetches the Kafka broker and the Flink Kafka connector): install it (Debian/Ubuntu: apt-get install maven; macOS: brew install maven)"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "note: Go not found: the system runs without it, but the test suite checks docker-compose.yml with the real Compose loader, which needs Go 1.24+ (Debian/Ubuntu: apt-get install golang; macOS: brew install go)" >&2
fi

exit $missing
