#!/usr/bin/env bash
# The tracking ingest benchmark as recorded in BENCHMARKS.md (it needs both cores: run it
# on an otherwise idle machine).
set -euo pipefail
exec "$(dirname "$0")/../.venv/bin/omnicart" bench ingest --json "$@"
