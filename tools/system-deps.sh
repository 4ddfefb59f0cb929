#!/usr/bin/env bash
# Install what the OS must provide for Haven (speech library, PortAudio, venv support) and its
# tests (strace, unshare, chromium, tmux) when it is missing; with --bench, also what the
# benchmarks need (PulseAudio). Idempotent: does nothing when everything is
# present. Debian/Ubuntu (apt) only.
set -euo pipefail

need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libespeak-ng\.so\.1' || need+=(libespeak-ng1 espeak-ng-data)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
have_lib 'libportaudio\.so\.2' || need+=(libportaudio2)
# MP3 renders use the system's optimised LAME (player/audio/mp3.py): four times faster than
# the unoptimised copy inside the soundfile wheel, which is used only when this is missing.
have_lib 'libmp3lame\.so\.0' || need+=(libmp3lame0)
# Ogg renders drive the system's libvorbis the same way (player/audio/vorbis.py), several
# encoders at once; without it they go through the soundfile wheel, one stream.
have_lib 'libvorbisenc\.so\.2' || need+=(libvorbisenc2)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# For tests/test_no_network.py: trace the sockets of a render inside an empty network namespace.
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# For tests/test_report_browser.py: `haven report`'s page in a real headless browser.
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
# For tests/test_terminal_polish.py: reports read back from a real terminal of a given size.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
python3 -c 'import sysconfig,sys; sys.exit(0)' >/dev/null 2>&1 || need+=(python3)
# `make bench` (tools/system-deps.sh --bench): P7 and P9 play in real time to a private
# PulseAudio null sink, reached through ALSA's pulse plugin (bench/playing.py).
if [ "${1:-}" = "--bench" ]; then
  command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
  ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1 || need+=(libasound2-plugins)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "haven: please install these system packages: ${need[*]} (no apt-get found)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "haven: need root to install: ${need[*]}" >&2; exit 1
  fi
fi
echo "haven: installing system packages: ${need[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
