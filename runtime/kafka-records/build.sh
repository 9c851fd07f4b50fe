#!/usr/bin/env bash
# Builds the JVM pieces around the Kafka connector: the partition-tagging deserializer
# (PartitionTaggedValues.java) and the split of batched forecast lines into records (SplitLines.java):
#   build.sh <flink-sql-connector-kafka jar> <flink-dist jar> <output jar>
# Compiled against the very connector and Flink jars the cluster runs; the output goes beside the connector,
# so the cluster's lib folder and local (MiniCluster) runs load it with the connector.
set -euo pipefail
connector="$1"
dist="$2"
out="$3"
here="$(cd "$(dirname "$0")" && pwd)"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 11 -nowarn -cp "$connector:$dist" -d "$classes" "$here"/*.java
mkdir -p "$(dirname "$out")"
jar cf "$out.tmp" -C "$classes" io
mv "$out.tmp" "$out"
