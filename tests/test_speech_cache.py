"""The clip cache: hits need no worker, damage is detected and repaired, keys are exact."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from player import paths
from player.speech import ClipRequest, cache_clear, cache_info, synthesize, workers
from player.speech import cache

TEXTS = ["Breathe in.", "Breathe out.", "Rest."]


def make(*texts: str, **kwargs):
    return synthesize([ClipRequest(t, **kwargs) for t in texts])


@pytest.fixture
def no_workers(monkeypatch):
    """Make starting a worker process an error (a cache hit must not need one)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(workers._Worker, "__init__", refuse)


def files_of(clip) -> tuple:
    return cache.entry_paths(clip.key)


def test_hit_loads_verified_clip_without_any_worker(request):
    first = make(*TEXTS)
    request.getfixturevalue("no_workers")
    again = make(*TEXTS)
    for a, b in zip(first, again):
        assert a.key == b.key
        assert np.array_equal(a.samples, b.samples)
        assert b.samples.dtype == np.float32 and not b.samples.flags.writeable


def test_entry_layout_sidecar_and_private_folders():
    (clip,) = make("Rest.")
    audio, meta_path = files_of(clip)
    assert audio.parent.parent == paths.speech_cache_dir()
    meta = json.loads(meta_path.read_text())
    assert meta["format"] == cache.CACHE_FORMAT and meta["key"] == clip.key
    assert meta["encoding"] == cache.ENCODING and audio.suffix == ".s16"
    assert audio.stat().st_size == 24 + 2 * meta["samples"] and meta["samples"] == len(clip.samples)
    assert meta["sample_rate"] == 48000
    assert meta["request"]["text"] == "Rest." and meta["request"]["engine"] == "pyttsx3"
    for folder in (paths.cache_dir(), paths.speech_cache_dir(), audio.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in audio.parent.iterdir()) == [meta_path.name, audio.name]


def flip_bytes(clip):
    audio, _ = files_of(clip)
    data = bytearray(audio.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    audio.write_bytes(bytes(data))


def truncate(clip):
    audio, _ = files_of(clip)
    audio.write_bytes(audio.read_bytes()[:1000])


def drop_sidecar(clip):
    files_of(clip)[1].unlink()


def garble_sidecar(clip):
    files_of(clip)[1].write_text("{not json")


def wrong_length_in_sidecar(clip):
    _, meta_path = files_of(clip)
    meta = json.loads(meta_path.read_text())
    meta["samples"] += 1
    meta_path.write_text(json.dumps(meta))


def drop_audio(clip):
    files_of(clip)[0].unlink()


@pytest.mark.parametrize(
    "damage",
    [flip_bytes, truncate, drop_sidecar, garble_sidecar, wrong_length_in_sidecar, drop_audio],
)
def test_damaged_entry_is_detected_and_made_again(damage):
    original = make(*TEXTS)
    victim = original[1]
    damage(victim)
    assert cache.load(victim.key, 48000) is None  # detected...
    assert not any(p.exists() for p in files_of(victim))  # ...and removed
    damage_again = make(*TEXTS)  # ...and made again, transparently
    for a, b in zip(original, damage_again):
        assert np.array_equal(a.samples, b.samples)
    assert cache.load(victim.key, 48000) is not None  # and the repaired entry is good


def test_damaged_entry_is_remade_by_synthesize_directly():
    (clip,) = make("Let go.")
    flip_bytes(clip)
    (again,) = make("Let go.")
    assert np.array_equal(clip.samples, again.samples)


BASE = dict(
    text="Breathe in.",
    engine="pyttsx3",
    engine_version="pyttsx3 2.99; espeak-ng 1.51; adapter 1",
    voice=None,
    rate=1.0,
    volume=1.0,
    sample_rate=48000,
)


@pytest.mark.parametrize(
    "field, value",
    [
        ("text", "Breathe in"),
        ("engine", "piper"),
        ("engine_version", "pyttsx3 2.99; espeak-ng 1.52; adapter 1"),
        ("voice", "gmw/en"),
        ("rate", 1.01),
        ("volume", 0.99),
        ("sample_rate", 44100),
    ],
)
def test_key_changes_with_each_shaping_field(field, value):
    assert cache.make_key(**BASE) != cache.make_key(**{**BASE, field: value})


def test_key_is_stable_and_changes_with_cache_format(monkeypatch):
    key = cache.make_key(**BASE)
    assert key == cache.make_key(**{**BASE, "rate": 1})  # 1 and 1.0 are the same rate
    assert len(key) == 64 and int(key, 16) >= 0
    monkeypatch.setattr(cache, "CACHE_FORMAT", cache.CACHE_FORMAT + 1)
    assert cache.make_key(**BASE) != key


def test_request_fields_reach_the_key():
    a, b, c = synthesize(
        [ClipRequest("Rest."), ClipRequest("Rest.", rate=1.1), ClipRequest("Rest.", voice="en-us")]
    )
    assert len({a.key, b.key, c.key}) == 3
    (d,) = synthesize([ClipRequest("Rest.")], sample_rate=44100)
    assert d.key != a.key


def test_info_and_clear():
    empty = {"entries": 0, "bytes": 0, "max_bytes": 500_000_000, "other_files": 0,
             "other_bytes": 0, "folder": str(paths.speech_cache_dir())}
    assert cache_info() == empty
    assert not paths.speech_cache_dir().exists()  # info creates nothing
    clips = make(*TEXTS)
    info = cache_info()
    on_disk = sum(p.stat().st_size for p in paths.speech_cache_dir().rglob("*") if p.is_file())
    assert info["entries"] == 3 and info["other_files"] == 0
    assert info["bytes"] == on_disk >= sum(c.samples.nbytes // 2 for c in clips)
    assert cache_clear() == (6, on_disk)
    assert cache_info()["entries"] == 0 and cache_info()["bytes"] == 0
    assert cache_clear() == (0, 0)
    again = make(*TEXTS)  # the cache is rebuilt after a clear
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(clips, again))


def test_unwritable_cache_does_not_stop_speech(monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_write_atomic", fail)
    notices = []
    clips = synthesize([ClipRequest(t) for t in TEXTS], notify=notices.append)
    assert all(c.duration_s > 0.3 for c in clips)
    assert len(notices) == 1 and "No space left on device" in notices[0]
