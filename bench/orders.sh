#!/usr/bin/env bash
# The order book benchmark as recorded in BENCHMARKS.md.
set -euo pipefail
exec "$(dirname "$0")/../.venv/bin/omnicart" bench orders --json "$@"
