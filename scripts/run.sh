#!/usr/bin/env bash
# The main job: the HTTP service on port 3000 (release build) with the bundled avatar and every
# installed engine (Wav2Lip models from models/ when present, the viseme engine always). Extra arguments
# go to `lipsync serve` (e.g. --port 8080 --max-jobs 2); LIPSYNC_* environment variables work too.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .build/release/lipsync serve "$@"
