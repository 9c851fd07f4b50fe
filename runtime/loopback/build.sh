#!/usr/bin/env bash
# Builds the runtime's loopback fix for the Python runner's gRPC servers (see ServerFactory.java):
#   build.sh <flink-python jar> <output jar>
# Compiles against the very flink-python jar the cluster runs and packages the one fixed class. The output
# jar's name sorts before flink-python's in the cluster's lib folder, so its class is the one loaded.
set -euo pipefail
flink_python="$1"
out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 11 -nowarn -cp "$flink_python" -d "$classes" "$here/ServerFactory.java"
mkdir -p "$(dirname "$out")"
jar cf "$out.tmp" -C "$classes" 'org/apache/beam/sdk/fn/server/ServerFactory$InetSocketAddressServerFactory.class'
mv "$out.tmp" "$out"
