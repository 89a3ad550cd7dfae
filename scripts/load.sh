#!/usr/bin/env bash
# Load benchmark of the full node over HTTP on 127.0.0.1 (figures in BENCHMARKS.md):
# transactions accepted per second with concurrent clients, the relay delay to a second
# node, and blocks per second when a new node syncs 2 000 full blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench network "$@"
