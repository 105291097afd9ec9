#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, then builds.
# Idempotent: each step checks what is already there and does nothing when it is.
#   scripts/setup.sh          runtime dependencies + debug build
#   scripts/setup.sh --dev    also the Python references used by the tests and benchmarks
#   SETUP_SKIP_BUILD=1        skip the Swift build (used by steps that build on their own)
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

# 1. Debian packages: C libraries with headers, ffmpeg, pkg-config.
APT_PACKAGES=(espeak-ng libespeak-ng-dev libfftw3-dev libsoxr-dev ffmpeg pkg-config python3-venv)
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

# 3. Build.
if [[ ${SETUP_SKIP_BUILD:-0} != 1 ]]; then
  log "building"
  swift build
fi
log "done in $(($(date +%s) - START)) s"
