"""Output devices: loading sounddevice (PortAudio), listing outputs, choosing the one to open.

sounddevice is imported lazily (it needs the PortAudio library and costs ~70 ms), and every
failure becomes an ``AudioDeviceError`` with the fix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from player.errors import AudioDeviceError

FIX_PORTAUDIO = "sudo apt-get install libportaudio2, or render to a file: haven render NAME -o out.wav"
FIX_NO_DEVICE = (
    "connect headphones or speakers and check `haven devices`, or render to a file: "
    "haven render NAME -o out.wav"
)


def load_sounddevice():
    """Import sounddevice, or raise AudioDeviceError saying how to get PortAudio."""
    try:
        import sounddevice
    except OSError as exc:  # the wheel has no PortAudio; Debian's libportaudio2 provides it
        raise AudioDeviceError(
            "cannot play sound: the PortAudio library is missing", hint=FIX_PORTAUDIO
        ) from None
    except ImportError as exc:
        raise AudioDeviceError(
            f"cannot play sound: the sounddevice module is not installed ({exc})",
            hint="reinstall Haven (make setup), or render to a file: haven render NAME -o out.wav",
        ) from None
    return sounddevice


def preload_sounddevice() -> threading.Thread:
    """Start importing sounddevice in a thread; ``load_sounddevice`` then finds it loaded,
    or raises the same error again (a failed import leaves nothing behind)."""

    def run() -> None:
        try:
            load_sounddevice()
        except BaseException:  # noqa: BLE001 - the main thread's own call reports it
            pass

    thread = threading.Thread(target=run, name="haven-sounddevice", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: float
    is_default: bool

    def to_json(self) -> dict:
        return dict(self.__dict__)


def output_devices(sd=None) -> list[OutputDevice]:
    """Every device that can play sound (``haven devices``)."""
    sd = sd or load_sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default = sd.default.device[1]
    except Exception as exc:  # noqa: BLE001 - PortAudio errors are plain exceptions
        raise AudioDeviceError(f"cannot list audio devices ({exc})", hint=FIX_NO_DEVICE) from None
    if isinstance(default, str):
        default = -1
    result = []
    for i, d in enumerate(devices):
        if d["max_output_channels"] > 0:
            result.append(
                OutputDevice(
                    index=i,
                    name=d["name"],
                    hostapi=apis[d["hostapi"]]["name"],
                    channels=int(d["max_output_channels"]),
                    default_rate=float(d["default_samplerate"]),
                    is_default=i == default,
                )
            )
    return result


def resolve_output(sd, device, *, rate: int, channels: int):
    """The device to open (index, or None for the default), checked for our stream format.

    ``device`` is None, an index (int or digits) or part of a device name.
    """
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device.strip())
    try:
        if device is None:
            info = sd.query_devices(kind="output")
        else:
            info = sd.query_devices(device, kind="output")
    except ValueError as exc:  # a name that matches nothing (or several devices)
        raise AudioDeviceError(f"no output device is called '{device}'",
                               hint="see `haven devices` for the names and numbers") from None
    except Exception:  # noqa: BLE001 - PortAudioError: no default device, or a bad index
        if device is None:
            raise AudioDeviceError("no audio output device found", hint=FIX_NO_DEVICE) from None
        raise AudioDeviceError(
            f"there is no output device {device}",
            hint="see `haven devices` for the devices you can use",
        ) from None
    if info["max_output_channels"] < 1:
        raise AudioDeviceError(f"'{info['name']}' cannot play sound (it has no outputs)",
                               hint="see `haven devices` for the devices you can use")
    index = info["index"] if device is not None else None
    out_channels = min(channels, int(info["max_output_channels"]))
    try:
        sd.check_output_settings(device=index, channels=out_channels, dtype="float32",
                                 samplerate=rate)
    except Exception as exc:  # noqa: BLE001
        raise AudioDeviceError(
            f"'{info['name']}' cannot play {rate} Hz float audio ({exc})",
            hint="choose another device (`haven devices`), or render to a file: "
            "haven render NAME -o out.wav",
        ) from None
    return index, info["name"], out_channels
