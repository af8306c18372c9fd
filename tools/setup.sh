#!/usr/bin/env bash
# Sets Vocalis up on a Debian/Ubuntu machine: system packages (when root), a virtual environment in .venv,
# the Python packages, and the embedded Whisper base model. Safe to run again: finished steps are skipped.
# Usage: tools/setup.sh [--dev]    (--dev adds what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--dev" ] && extra="[dev,cluster]"   # the tests run the Ray executor on a real local cluster

APT_PACKAGES=(
  python3-venv
  libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins       # audio devices (sounddevice / PortAudio)
  libsndfile1 ffmpeg                                                  # decoding; ffmpeg covers rarer formats
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0      # Qt's xcb platform plugin
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 libfontconfig1 fonts-dejavu-core
)
if [ -n "$extra" ]; then
  APT_PACKAGES+=(espeak-ng sox xvfb)   # tests synthesise speech and signals; screenshots run under Xvfb
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "vocalis setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "vocalis setup: these system packages are missing and need root to install:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    echo "vocalis setup: continuing; audio devices or the window may not work until they are installed." >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.vocalis-installed$extra"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "vocalis setup: installing Python packages into .venv (torch is large; the first run takes minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".$extra"
  echo "$want" > "$stamp"
fi

# The embedded default transcription model, reassembled once into the models folder; works offline.
.venv/bin/vocalis models install-embedded --quiet
echo "vocalis setup: ready (.venv/bin/vocalis)"
