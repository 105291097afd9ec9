#!/usr/bin/env bash
# The main job. Until the generator exists: speak a Russian and an English paragraph and compute the
# Wav2Lip mel of each, into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
LIPSYNC=.build/debug/lipsync
$LIPSYNC speak --language ru --text-file scripts/samples/ru.txt -o out/ru.wav --timeline out/ru.timeline.json
$LIPSYNC mel out/ru.wav -o out/ru.mel.npy
$LIPSYNC speak --language en --text-file scripts/samples/en.txt -o out/en.wav --timeline out/en.timeline.json
$LIPSYNC mel out/en.wav -o out/en.mel.npy
