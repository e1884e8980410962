#!/usr/bin/env bash
# Quick start: set up, generate two talking-face clips (one in sync, one whose audio leads by 320 ms),
# analyse them and write HTML reports to samples/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p samples
.venv/bin/avsync sample samples/in_sync.mp4 --offset-ms 0 >/dev/null
.venv/bin/avsync sample samples/dubbed_320ms.mp4 --offset-ms 320 >/dev/null
# the generated clips have drawn faces: the training-free motion sync model reads them (the default, syncnet,
# is trained on real and photo-realistic generated faces)
.venv/bin/avsync analyze samples/in_sync.mp4 --sync-model motion --html samples/in_sync.html --no-progress
.venv/bin/avsync analyze samples/dubbed_320ms.mp4 --sync-model motion --html samples/dubbed_320ms.html --no-progress
echo "reports: samples/in_sync.html samples/dubbed_320ms.html"
