#!/usr/bin/env bash
# The tracking ingest benchmark as recorded in BENCHMARKS.md.
set -euo pipefail
exec "$(dirname "$0")/../.venv/bin/omnicart" bench ingest --json "$@"
