#!/usr/bin/env bash
# Set up and run the whole test suite (tests needing ../shared skip with a reason when it is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
