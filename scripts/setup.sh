#!/usr/bin/env bash
# Create .venv with avsync and its dependencies (torch 2.13.0 CPU first), plus the system packages
# the optional features and the test suite use. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: espeak-ng (synthetic speech for tests), chromium (HTML report rendering test)
APT_PACKAGES=(${AVSYNC_APT_PACKAGES-chromium espeak-ng})
if [ "${#APT_PACKAGES[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "setup: could not install ${missing[*]}; the tests that need them will be skipped" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first, pinned: an unpinned torch would pull several GB of CUDA wheels
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,mediapipe]" 2>&1 | grep -v "^WARNING: Location" || true
# GE2E speaker-encoder weights ship in resemblyzer's wheel; its declared deps do not install on 3.11, and
# avsync never imports it (it only reads the weights file), hence --no-deps
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "resemblyzer==0.1.4" 2>&1 | grep -v "^WARNING: Location" || true
# MediaPipe face mesh (optional lip-landmark backend, its model ships in the wheel): the package declares
# numpy<2 and more, none of which the face mesh needs, hence --no-deps (the mediapipe extra above holds what it needs)
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "mediapipe==0.10.21" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import avsync, torch; print(f'avsync {avsync.__version__} with torch {torch.__version__} ready in .venv')"
