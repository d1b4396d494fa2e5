#!/usr/bin/env bash
# The connectors benchmark as recorded in BENCHMARKS.md.
set -euo pipefail
exec "$(dirname "$0")/../.venv/bin/omnicart" bench connectors --json "$@"
