"""The system engine: espeak-ng through pyttsx3's ctypes binding, offline, ~1000x real time.

Every pitfall measured in ``shared/notes/audio-stack.md`` is handled here, plus one found
while writing this module:

- **espeak keeps state between utterances** in one process (the pitch-flutter phase is a
  static in ``wavegen.c`` that neither a voice change nor ``espeak_Terminate`` +
  ``espeak_Initialize`` resets). The 2nd, 3rd... utterance of the same text differ from the
  1st by ~0.5 % in length and in every sample. So each clip is spoken by a freshly forked
  child: clips are deterministic, identical to ``espeak-ng -w`` and independent of which
  worker made them or in what order. The children are forked from a small helper process
  (``_helper_main``) that the worker forks before it imports numpy: forking and ending a
  ~25 MB process costs a few milliseconds less per clip than a ~110 MB one (P4).
- **Synthesis is synchronous** (``AUDIO_OUTPUT_SYNCHRONOUS``), through pyttsx3's own binding
  of the library (``pyttsx3.drivers._espeak``) rather than its driver. The helper initializes
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
- Text is read as plain text: ``Synth`` gets it as SSML (``espeakSSML``) only so that
  :func:`espeak_ssml` can add the pauses below, with ``&``, ``<`` and ``>`` escaped, so a
  script's ``<break time="5s"/>`` is still read out, never obeyed (a text without pauses
  gives the very samples it gave as plain text), and ``[[h@'loU]]`` is read as text too.
  The one exception is a pronunciation lexicon's phonemes, marked in the text by
  ``player.speech.text.apply_lexicon``: with them the text's own brackets become parentheses
  and ``espeakPHONEMES`` is set (``phoneme_text``).

Pauses (issue 13, slow speech): espeak-ng holds a comma 0.18-0.19 s and a sentence end
before a lower-case word ("Breathe in... and out") 0.28-0.38 s at 150 wpm, brisk for guided
practice. :func:`espeak_ssml` puts an SSML ``<break>`` after each ``,`` ``;`` ``:`` and dash
(``COMMA_PAUSE_S``) and each sentence end inside the clip (``SENTENCE_PAUSE_S``), growing as
``rate ** -PAUSE_RATE_EXPONENT`` at slower rates. espeak makes such a pause the longer of its
own and the break, as plain silence between two clauses it ends anyway, so the speech around
it is the same samples as before: only the pauses grow, placed by espeak's own reading of the
text (post-processing the clip's quiet runs, as the neural adapter does, would also stretch
the 0.13-0.14 s stop closures found in 6 of 80 built-in sentences). Figures in the README.

Rate mapping: ``wpm = round(150 * rate)`` clamped to espeak's 80..450. 150 wpm is a calm
guiding pace (espeak's own default, 175, and pyttsx3's 200 sound hurried for meditation);
rate 0.8 -> 120 wpm, 1.2 -> 180 wpm. Volume 0..1 maps to espeak amplitude 0..100 (above 100
espeak clips); the clip pipeline asks for 1.0 and applies the volume as a gain (``dsp``).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
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
ADAPTER_REVISION = 2  # 2: SSML pauses (espeak_ssml)
# Pauses at rate 1.0 (the module docstring), asked of espeak as a break. The quiet run a
# listener hears (below -40 dB of the clip's loudest 10 ms) measures 0.33-0.41 s at commas,
# like the neural voice's calm commas (0.31-0.43 s, measured the same way), and 0.59-0.63 s
# at a sentence end inside a clip. The gap between two sentences' clips is the timeline's
# (SENTENCE_GAP_S, 0.7 s).
COMMA_PAUSE_S = 0.35
SENTENCE_PAUSE_S = 0.60
# Slower than 1.0 (bedtime), pauses grow faster than the speech slows: x1.75 at bedtime's
# 0.756, between espeak's own x1.5 (commas 0.19 -> 0.29 s) and the neural voice's ~x2.4.
PAUSE_RATE_EXPONENT = 2.0
_CLOSING = "\"'”’»)]}"
_C = f"[{re.escape(_CLOSING)}]*"  # closing quotes or brackets after the mark
_PAUSE_AT = re.compile(
    rf"(?P<clause>[,;:]{_C}(?=\s+\S)|(?<=\s)(?:--?|–)(?=\s+\S)|—{_C}(?=\s*\S))"
    rf"|(?P<end>[.!?…]+{_C}(?=\s+\S))"
)
_PHONEME_BLOCK = re.compile(r"\[\[[^\[\]]*\]\]")

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


def pause_seconds(rate: float) -> tuple[float, float]:
    """(comma pause, sentence pause) at ``rate``, from the rate espeak really speaks at."""
    scale = (words_per_minute(rate) / BASE_WPM) ** -PAUSE_RATE_EXPONENT
    return COMMA_PAUSE_S * scale, SENTENCE_PAUSE_S * scale


def espeak_ssml(text: str, rate: float, phonemes: bool = False) -> str:
    """``text`` as the SSML espeak is given: escaped, so it is read exactly as plain text,
    with a ``<break>`` after each clause mark and each sentence end inside it (the module
    docstring). With ``phonemes``, ``[[ ]]`` blocks are a lexicon's phonemes: kept whole."""
    from xml.sax.saxutils import escape

    from player.speech.text import ends_sentence

    comma, sentence = (f'<break time="{int(round(s * 1000))}ms"/>' for s in pause_seconds(rate))
    blocks = [m.span() for m in _PHONEME_BLOCK.finditer(text)] if phonemes else []
    out: list[str] = []
    pos = 0
    for match in _PAUSE_AT.finditer(text):
        if any(a <= match.start() < b for a, b in blocks):
            continue
        if match.group("end") is not None and not ends_sentence(text[: match.end()]):
            continue  # "Dr. Smith", "J. Smith": no sentence ends there
        out += [escape(text[pos : match.end()]), comma if match.group("clause") else sentence]
        pos = match.end()
    out.append(escape(text[pos:]))
    return "".join(out)


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
    DEFAULT_VOICE_ID = "gmw/en"  # espeak-ng's default voice, as `haven voices` lists it
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
        # Loads libespeak-ng (RuntimeError naming eSpeak when it is missing), then forks the
        # helper, which initializes it in synchronous mode (no threads). Missing espeak data
        # makes espeak exit(1) in the helper: its death, with espeak's message (the last line
        # of the stderr it shares with the worker), is raised here, and the main process
        # reports it (``WorkerPool``) with FIX_DATA from ``fix_for``.
        import pyttsx3.drivers._espeak  # noqa: F401

        self._helper: int | None = None
        self._conn = None
        self._espeak_voice = self._start_helper()
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

        from player.speech.text import phoneme_text

        # A lexicon's phonemes (marked by player.speech.text) become espeak's [[ ]] input,
        # read as phonemes only then (espeakPHONEMES); brackets of the text itself do not.
        text, phonemes = phoneme_text(text)
        # NUL would end the C string early; other control characters mean nothing spoken.
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        pcm = self._in_fresh_process(
            _synthesize_child,
            espeak_ssml(text, rate, phonemes),
            voice or self._espeak_voice,
            words_per_minute(rate),
            int(round(max(0.0, min(1.0, float(volume))) * 100, 2)),
            phonemes,
        )
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        helper, self._helper = self._helper, None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if helper:
            try:  # its clip's child, if any, dies with it (PR_SET_PDEATHSIG)
                os.kill(helper, signal.SIGKILL)
                os.waitpid(helper, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def _start_helper(self) -> str:
        """Fork the helper process (see ``_helper_main``); returns espeak's default voice.

        The worker calls this before it imports numpy, so the helper is a small process
        (~25 MB instead of ~110) and the fork per clip it makes is cheap: P4 in the README.
        """
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        parent = os.getpid()
        err_start = _stderr_size()
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            ours.close()
            _helper_main(Connection(theirs.detach()), parent)
        theirs.close()
        self._helper = pid
        self._conn = Connection(ours.detach())
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            message = None
        if message is not None and message[0] == "ready":
            return message[1]
        self._helper = None
        self._conn.close()
        self._conn = None
        _, status = os.waitpid(pid, 0)  # it has ended, or is ending: espeak's exit(1)
        raise EngineProcessError(message[1] if message else _death_reason(status, err_start))

    def _in_fresh_process(self, fn: Callable[..., bytes], *args: object) -> bytes:
        """Run ``fn(*args)`` in a freshly forked child of the helper and return its bytes.

        The child's death is reported as ``EngineProcessError`` with its exit code and the
        last line it wrote to stderr (where espeak explains a missing data file).
        """
        if self._conn is None:
            raise EngineProcessError("the engine process is not running")
        err_start = _stderr_size()
        try:
            self._conn.send((fn.__name__, args))
            reply = self._conn.recv()
        except (EOFError, OSError):
            helper, self._helper = self._helper, None
            status = None
            if helper:
                try:
                    _, status = os.waitpid(helper, 0)
                except ChildProcessError:
                    pass
            self.close()
            raise EngineProcessError(_death_reason(status, err_start)) from None
        if reply[0] == "O":
            return reply[1]
        raise EngineProcessError(reply[1])


def _death_reason(status: int | None, err_start: int) -> str:
    """Why a process died, as the user reads it: exit code or signal (``status`` from
    ``waitpid``; None: not known), and the last line it wrote to stderr since ``err_start``."""
    if status is None:
        return _with_tail("the engine process stopped", err_start)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        reason = f"the engine process was killed by signal {-code}"
    else:
        reason = f"the engine process died (exit code {code})"
    return _with_tail(reason, err_start)


def _with_tail(reason: str, err_start: int) -> str:
    detail = _stderr_tail(err_start)
    return f"{reason}: {detail}" if detail else reason


# -- the helper process ---------------------------------------------------------------------------

# What the worker may ask the helper to run in a fresh child, by name.
_CHILD_CALLS: dict[str, Callable[..., bytes]] = {}


def _helper_main(conn, parent: int) -> None:
    """Body of the helper, forked from the worker before numpy: initialize espeak once, in
    synchronous mode, then for each request fork a child that starts from that pristine
    state (``_child_main``), relay its bytes or its death, and reap it. Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the worker's handler
        from player.speech.workers import die_with_parent

        die_with_parent(parent)
        try:
            voice = _init_synchronous_espeak()
        except Exception as exc:  # noqa: BLE001 - reported to the worker
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
            code = 3
            return
        conn.send(("ready", voice))
        while True:
            try:
                name, args = conn.recv()
            except (EOFError, OSError):
                return  # the worker is done (or gone)
            conn.send(_run_in_child(_CHILD_CALLS[name], args))
    except BaseException:  # noqa: BLE001 - nothing may unwind into the worker's code
        code = 3
    finally:
        os._exit(code)


def _run_in_child(fn: Callable[..., bytes], args: tuple) -> tuple[str, bytes | str]:
    """In the helper: ``fn(*args)`` in a forked child; ``("O", bytes)`` or ``("E", why)``."""
    read_fd, write_fd = os.pipe()
    err_start = _stderr_size()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: never returns
        _child_main(parent, write_fd, fn, args)
    os.close(write_fd)
    chunks = []
    try:
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if os.waitstatus_to_exitcode(status) == 0 and data[:1] == b"O":
        return "O", data[1:]
    if data[:1] == b"E":
        return "E", data[1:].decode("utf-8", "replace")
    return "E", _death_reason(status, err_start)


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


def _synthesize_child(text: str, voice: str, wpm: int, amplitude: int,
                      phonemes: bool = False) -> bytes:  # fmt: skip
    """In a forked child of a worker (espeak initialized, synchronous): the clip's int16 PCM
    for ``text``, the SSML made by :func:`espeak_ssml`."""
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
    # The flags pyttsx3 uses, plus SSML for the pauses (the text is escaped: espeak_ssml);
    # PHONEMES only for a lexicon's phonemes, whose text has no other brackets
    # (player.speech.text.phoneme_text).
    flags = (_espeak.ENDPAUSE | _espeak.CHARS_UTF8 | _espeak.SSML
             | (_espeak.PHONEMES if phonemes else 0))
    status = _espeak.Synth(text.encode("utf-8"), flags=flags)
    if status != _espeak.EE_OK:
        raise RuntimeError(f"espeak failed (error {status})")
    return b"".join(chunks)


_CHILD_CALLS.update({f.__name__: f for f in (_synthesize_child, _list_voices_child)})
