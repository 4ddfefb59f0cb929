#!/usr/bin/env bash
# `make run`: play a short exercise, or render it to a file when this machine cannot play sound.
set -euo pipefail
BIN=${1:-.venv/bin}
EXERCISE=${HAVEN_DEMO:-three-minute-breathing-space}

can_play() {
  "$BIN/haven" play --help >/dev/null 2>&1 || return 1
  "$BIN/python" - <<'PY' >/dev/null 2>&1
import sounddevice as sd
sd.query_devices(kind="output")
PY
}

if can_play; then
  exec "$BIN/haven" play "$EXERCISE"
fi
mkdir -p out
"$BIN/haven" render "$EXERCISE" -o "out/$EXERCISE.wav"
echo "No audio output here, so '$EXERCISE' was rendered to out/$EXERCISE.wav instead."
