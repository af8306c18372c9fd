#!/usr/bin/env bash
# Sets up everything the tests need and runs the whole suite (slow real-model tests included).
# Extra arguments go to pytest, e.g. tools/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --dev

export QT_QPA_PLATFORM=offscreen
# Recording and playback run for real through PulseAudio with a null sink (see tools/pulse.sh).
source tools/pulse.sh
start_null_sink_pulseaudio

# The layering contracts of docs/architecture.md ([tool.importlinter] in pyproject.toml) come first: a
# broken one fails the run before any test (tests/test_import_contracts.py checks them too).
.venv/bin/lint-imports --no-cache

# The tests must not touch a user's models folder or settings.
export VOCALIS_TEST_HOME="$(mktemp -d)"
status=0
.venv/bin/python -m pytest -ra -p no:cacheprovider "$@" || status=$?
[ $status -eq 5 ] && { echo "pytest collected no tests" >&2; status=1; }
exit $status
