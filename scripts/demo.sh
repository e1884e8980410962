#!/usr/bin/env bash
# Quick start: set up, generate a sample clip with a known 120 ms audio lead, and analyse it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p samples
.venv/bin/avsync sample samples/demo.mp4 --offset-ms 120 --duration 6 >/dev/null
.venv/bin/avsync inspect samples/demo.mp4
