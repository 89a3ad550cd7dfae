#!/usr/bin/env bash
# Installs the tools the test suite drives that nobody here wrote: schemathesis (PyPI,
# checks /openapi.json against live servers) in a virtualenv at .venv-test-tools.
# Needs root for apt-get on a fresh Debian machine; .ci/run calls it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.venv-test-tools

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "test-tools: python3-venv is missing; install it (apt-get install python3-venv)" >&2
    exit 1
fi
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version
