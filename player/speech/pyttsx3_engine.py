"""The default engine: espeak-ng through pyttsx3's ctypes binding, offline, ~1000x real time.

Every pitfall measured in ``shared/notes/audio-stack.md`` is handled here, plus one found
while writing this module:

- **espeak keeps state between utterances** in one process (the pitch-flutter phase is a
  static in ``wavegen.c`` that neither a voice change nor ``espeak_Terminate`` +
  ``espeak_Initialize`` resets). The 2nd, 3rd... utterance of the same text differ from the
  1st by ~0.5 % in length and in every sample. So each clip is spoken by a freshly forked
  child of the worker: clips are deterministic, identical to ``espeak-ng -w`` and independent
  of which worker made them or in what order.
- **Synthesis is synchronous** (``AUDIO_OUTPUT_SYNCHRONOUS``), through pyttsx3's own binding
  of the library (``pyttsx3.drivers._espeak``) rather than its driver. The worker initializes
  espeak once, in synchronous mode, which starts no thread, so forking it stays safe; it never
  synthesizes, so every child starts from the same pristine state a fresh ``espeak-ng``
  process has. A child only sets voice, rate and volume (applied at once in this mode) and
  calls ``espeak_Synth``, which returns when the samples have all reached the callback. The
  samples are the ones pyttsx3's ``save_to_file`` wrote (checked on the whole built-in
  library), at about 15 ms per sentence instead of 50: pyttsx3's driver re-initialized
  espeak in every child, ran its 10 ms polling loop and its asynchronous queue (whose
  property changes could be dropped), and went through a WAV file.
- The driver's pitfalls (``runAndWait`` returning early, stale properties, the last text
  re-spoken, "Audio saved to ..." on stdout) therefore do not arise. The voice list is read
  the way the driver reads it, in a child, and only when a voice is asked for by name.
- An unknown voice is silently ignored by espeak: voices are checked against the list first
  (``SpeechEngine.resolve_voice``).
- espeak may ``exit(1)`` (missing data) when the worker initializes it: the worker dies
  with espeak's message on its stderr, and the main process reports it with the fix.
- Text is plain text: ``Synth`` is called with neither ``espeakSSML`` nor
  ``espeakPHONEMES``, so ``<break time="5s"/>`` or ``[[h@'loU]]`` is read out, never obeyed.

Rate mapping: ``wpm = round(150 * rate)`` clamped to espeak's 80..450. 150 wpm is a calm
guiding pace (espeak's own default, 175, and pyttsx3's 200 sound hurried for meditation);
rate 0.8 -> 120 wpm, 1.2 -> 180 wpm. Volume 0..1 maps to espeak amplitude 0..100 (above 100
espeak clips); the clip pipeline asks for 1.0 and applies the volume as a gain (``dsp``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
from typing import TYPE_CHECKING, Callable

from player.speech.clips import VoiceInfo
from player.speech.engines import SpeechEngine

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

BASE_WPM = 150
MIN_WPM = 80
MAX_WPM = 450
ESPEAK_RATE = 22050  # fixed by pyttsx3's espeak driver
# Bump when this adapter changes what it outputs (mapping, flags): part of the cache key.
ADAPTER_REVISION = 1

# Where pyttsx3 looks for the library on Linux/macOS (same order as pyttsx3.drivers._espeak).
_LIBRARY_NAMES = (
    "libespeak-ng.so.1",
    "/usr/local/lib/libespeak-ng.so.1",
    "libespeak.so.1",
    "/opt/homebrew/lib/libespeak-ng.1.dylib",
    "/usr/local/lib/libespeak-ng.1.dylib",
)

FIX_LIBRARY = "sudo apt-get install libespeak-ng1"
FIX_DATA = "sudo apt-get install --reinstall espeak-ng-data libespeak-ng1"
FIX_PYTTSX3 = "python -m pip install 'pyttsx3>=2.90'"


def words_per_minute(rate: float) -> int:
    """Relative rate -> espeak words per minute (see the module docstring)."""
    return max(MIN_WPM, min(MAX_WPM, int(round(BASE_WPM * rate))))


def _pyttsx3_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("pyttsx3")
    except metadata.PackageNotFoundError:
        return None


def _espeak_version() -> str | None:
    """The espeak-ng library's version, read without initializing it (cheap, cannot exit)."""
    for name in _LIBRARY_NAMES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        info = lib.espeak_Info
        info.restype = ctypes.c_char_p
        info.argtypes = [ctypes.c_void_p]
        raw = info(None)
        return raw.decode("utf-8", "replace") if raw else "unknown"
    return None


class EngineProcessError(RuntimeError):
    """The forked espeak child failed; the message is what the user sees."""


class Pyttsx3Engine(SpeechEngine):
    name = "pyttsx3"
    sample_rate = ESPEAK_RATE

    @classmethod
    def version(cls) -> str:
        return (
            f"pyttsx3 {_pyttsx3_version() or 'missing'}; "
            f"espeak-ng {_espeak_version() or 'missing'}; adapter {ADAPTER_REVISION}"
        )

    @classmethod
    def components(cls) -> dict[str, str]:
        return {
            "pyttsx3": _pyttsx3_version() or "not installed",
            "espeak-ng": _espeak_version() or "not installed",
        }

    @classmethod
    def check_install(cls) -> tuple[bool, str, str | None]:
        if _pyttsx3_version() is None:
            return False, "the Python package pyttsx3 is not installed", FIX_PYTTSX3
        if _espeak_version() is None:
            return False, "the espeak-ng library (libespeak-ng.so.1) is not installed", FIX_LIBRARY
        return True, f"pyttsx3 {_pyttsx3_version()} with espeak-ng {_espeak_version()}", None

    @classmethod
    def fix_for(cls, message: str) -> str | None:
        text = message.lower()
        if "espeak" in text and "installed" in text:
            return FIX_LIBRARY
        if "no module named 'pyttsx3'" in text:
            return FIX_PYTTSX3
        if "phontab" in text or "espeak-ng-data" in text or "died" in text:
            return FIX_DATA
        return None

    # -- worker side -----------------------------------------------------------------------
    def __init__(self) -> None:
        # Loads libespeak-ng (RuntimeError naming eSpeak when it is missing), then initializes
        # it in synchronous mode (no threads). Missing espeak data makes espeak exit(1) here:
        # the worker dies with espeak's message as the last line of its stderr, which the
        # main process reports (``WorkerPool``), with FIX_DATA from ``fix_for``.
        import pyttsx3.drivers._espeak  # noqa: F401

        self._child: int | None = None
        self._espeak_voice = _init_synchronous_espeak()
        # The voice list is read on first use: ~50 ms (espeak reads 131 voice files) that a
        # session with the default voice, the usual case, never needs.
        self._voices: list[VoiceInfo] | None = None
        self._default: str | None = None

    def _load_voices(self) -> list[VoiceInfo]:
        if self._voices is None:
            listing = json.loads(
                self._in_fresh_process(_list_voices_child, self._espeak_voice).decode("utf-8")
            )
            self._default = listing["default"]
            self._voices = [
                VoiceInfo(
                    id=v["id"],
                    name=v["name"],
                    languages=tuple(v["languages"]),
                    engine=self.name,
                    gender=v["gender"],
                )
                for v in listing["voices"]
            ]
        return self._voices

    def voices(self) -> list[VoiceInfo]:
        return list(self._load_voices())

    def default_voice(self) -> str | None:
        self._load_voices()
        return self._default

    def synthesize(self, text: str, voice: str | None, rate: float, volume: float) -> "np.ndarray":
        import numpy as np

        # NUL would end the C string early; other control characters mean nothing spoken.
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        pcm = self._in_fresh_process(
            _synthesize_child,
            text,
            voice or self._espeak_voice,
            words_per_minute(rate),
            int(round(max(0.0, min(1.0, float(volume))) * 100, 2)),
        )
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        child, self._child = self._child, None
        if child:
            try:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def _in_fresh_process(self, fn: Callable[..., bytes], *args: object) -> bytes:
        """Run ``fn(*args)`` in a forked child and return its bytes (see module docstring).

        The child's death is reported as ``EngineProcessError`` with its exit code and the
        last line it wrote to stderr (where espeak explains a missing data file).
        """
        read_fd, write_fd = os.pipe()
        err_start = _stderr_size()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # child: never returns
            _child_main(parent, write_fd, fn, args)
        self._child = pid
        os.close(write_fd)
        chunks = []
        try:
            while chunk := os.read(read_fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(read_fd)
            _, status = os.waitpid(pid, 0)
            self._child = None
        data = b"".join(chunks)
        code = os.waitstatus_to_exitcode(status)
        if code == 0 and data[:1] == b"O":
            return data[1:]
        if data[:1] == b"E":
            raise EngineProcessError(data[1:].decode("utf-8", "replace"))
        if code < 0:
            reason = f"the engine process was killed by signal {-code}"
        else:
            reason = f"the engine process died (exit code {code})"
        detail = _stderr_tail(err_start)
        raise EngineProcessError(f"{reason}: {detail}" if detail else reason)


# -- helpers for the forked child --------------------------------------------------------------


def _stderr_size() -> int:
    try:
        return os.fstat(2).st_size
    except OSError:
        return 0


def _stderr_tail(start: int) -> str:
    """The last non-empty line written to stderr (a file in workers) since ``start``."""
    try:
        data = os.pread(2, 4096, max(start, _stderr_size() - 4096))
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def _child_main(parent: int, write_fd: int, fn: Callable[..., bytes], args: tuple) -> None:
    """Body of the forked child: run ``fn``, send ``O``+bytes or ``E``+message, exit."""
    code = 0
    try:
        # The worker's SIGTERM handler must not run here; SIGINT stays ignored.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Above all the worker's socket to the main process: if the worker is killed, the
        # main process must see the socket close, not wait on a copy held here.
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _max_fd())
        from player.speech.workers import die_with_parent

        die_with_parent(parent)
        payload = b"O" + fn(*args)
    except BaseException as exc:  # noqa: BLE001 - everything must reach the worker
        payload = b"E" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        code = 3
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        os._exit(code)


def _max_fd() -> int:
    try:
        return max(256, int(os.sysconf("SC_OPEN_MAX")))
    except (OSError, ValueError):
        return 65536


def _list_voices_child(default_voice: str) -> bytes:
    """In a forked child: the installed voices and the default voice's id, as JSON.

    The same list, field for field, as pyttsx3's driver gives for ``getProperty("voices")``
    (id: the identifier in lower case; languages: the first language code; gender), and the
    default as its ``getProperty("voice")`` after selecting the default voice. In a child
    because selecting a voice changes espeak's state, which every clip's child inherits.
    """
    from pyttsx3.drivers import _espeak

    genders = [None, "Male", "Female"]
    voices = []
    for v in _espeak.ListVoices(None):
        languages = [v.languages[1:].decode("utf-8", errors="ignore")] if v.languages else []
        voices.append({
            "id": v.identifier.decode("utf-8").lower(),
            "name": v.name.decode("utf-8"),
            "languages": languages,
            "gender": genders[v.gender] if 0 <= v.gender < len(genders) else None,
        })
    _espeak.SetVoiceByName(default_voice.encode("utf-8"))
    current = _espeak.GetCurrentVoice()
    default = (
        current.contents.identifier.decode("utf-8").lower()
        if current and current.contents.name else None
    )
    return json.dumps({"default": default, "voices": voices}).encode("utf-8")


def _init_synchronous_espeak() -> str:
    """Initialize espeak in this process in synchronous mode; returns the default voice.

    The default voice is chosen as pyttsx3's driver chooses it (the current voice's name
    after initialization, else ``gmw/en``), so a request without a voice sounds as before.
    """
    from pyttsx3.drivers import _espeak

    if _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0) == -1:
        raise RuntimeError("could not initialize espeak")
    current = _espeak.GetCurrentVoice()
    if current and current.contents.name:
        return current.contents.name.decode("utf-8")
    return "gmw/en"


def _synthesize_child(text: str, voice: str, wpm: int, amplitude: int) -> bytes:
    """In a forked child of a worker (espeak initialized, synchronous): the clip's int16 PCM."""
    from pyttsx3.drivers import _espeak

    chunks: list[bytes] = []

    def collect(wav, numsamples, events) -> int:
        if numsamples > 0:
            chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0  # 0: go on

    _espeak.SetSynthCallback(collect)
    if _espeak.SetVoiceByName(voice.encode("utf-8")) != _espeak.EE_OK:
        raise RuntimeError(f"espeak could not select the voice {voice}")
    _espeak.SetParameter(_espeak.RATE, wpm, 0)
    _espeak.SetParameter(_espeak.VOLUME, amplitude, 0)
    # pyttsx3's binding declares espeak_GetParameter with one argument instead of two (its
    # "stale values"); read the current values through a correct prototype to be sure.
    get_parameter = _espeak.dll.espeak_GetParameter
    get_parameter.restype = ctypes.c_int
    get_parameter.argtypes = [ctypes.c_int, ctypes.c_int]
    if get_parameter(_espeak.RATE, 1) != wpm or get_parameter(_espeak.VOLUME, 1) != amplitude:
        raise RuntimeError("espeak did not apply the rate and volume settings")
    # The flags pyttsx3 uses, never SSML or PHONEMES: the text is plain text.
    status = _espeak.Synth(text.encode("utf-8"), flags=_espeak.ENDPAUSE | _espeak.CHARS_UTF8)
    if status != _espeak.EE_OK:
        raise RuntimeError(f"espeak failed (error {status})")
    return b"".join(chunks)
