#!/usr/bin/env bash
# The main job: the HTTP service on port 3000 with the bundled avatar and every installed engine
# (Wav2Lip models from models/ when present, the viseme engine always). Extra arguments go to
# `lipsync serve` (e.g. --port 8080 --max-jobs 2).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .build/debug/lipsync serve "$@"
