"""The speech cache is compact, bounded and robust: 16-bit storage with a measured error bound,
a size cap with least-recently-used eviction, hostile entries as plain misses, and `cache info`
that counts only real clips."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from player import paths
from player.cli.app import main
from player.speech import ClipRequest, synthesize
from player.speech import cache

RATE = 48000
TEXTS = ["Breathe in.", "Breathe out.", "Rest."]
OTHER_TEXTS = ["Let go.", "Soften the shoulders."]


def make(*texts: str):
    return synthesize([ClipRequest(t) for t in texts])


def key_of(n: int) -> str:
    return hashlib.sha256(f"entry {n}".encode()).hexdigest()


def noise(n: int, seed: int, peak: float = 0.25) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return (x * np.float32(peak / np.max(np.abs(x)))).astype(np.float32)


def put(key: str, samples: np.ndarray) -> cache.Encoded:
    return cache.store(key, samples, sample_rate=RATE, request={"text": key[:8]})


def entry_bytes(key: str) -> int:
    return sum(p.stat().st_size for p in cache.entry_paths(key))


def set_last_use(key: str, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(cache.entry_paths(key)[1], (stamp, stamp))


def present(keys) -> list[int]:
    return [i for i, key in enumerate(keys) if all(p.exists() for p in cache.entry_paths(key))]


# --- compact storage --------------------------------------------------------------------------


def test_real_speech_round_trip_is_16_bit_with_error_far_below_hearing(monkeypatch):
    """Every clip of a spoken script: half the bytes of float32, error <= half a step."""
    originals: dict[int, np.ndarray] = {}
    real_encode = cache.encode

    def remember(samples):  # a spy: the real encoder runs, we keep its input to compare
        encoded = real_encode(samples)
        originals[id(encoded.samples)] = np.array(samples, dtype=np.float32)
        return encoded

    monkeypatch.setattr(cache, "encode", remember)
    texts = TEXTS + ["Notice the weight of your body on the chair, and let it be held."]
    clips = make(*texts)
    assert len(originals) == len(texts)
    for clip in clips:
        x = originals[id(clip.samples)]
        y = clip.samples
        audio, _ = cache.entry_paths(clip.key)
        assert audio.stat().st_size == 24 + 2 * x.size == 24 + x.nbytes // 2
        peak = float(np.max(np.abs(x)))
        rms = math.sqrt(float(np.mean(x.astype(np.float64) ** 2)))
        err = (y.astype(np.float64) - x.astype(np.float64))
        step = peak / 32767
        assert float(np.max(np.abs(err))) <= 0.5 * step + peak * 2**-23  # + float32 rounding
        err_rms_db = 20 * math.log10(math.sqrt(float(np.mean(err**2))) / rms)
        assert err_rms_db < -80, err_rms_db  # measured about -87 dB and lower
        loaded, _notice = cache.load(clip.key, RATE)
        assert loaded.dtype == np.float32 and not loaded.flags.writeable
        assert np.array_equal(loaded, y)  # cold and warm cache give the same samples


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(0, 3000),
        elements=st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_encode_error_is_within_half_a_step_of_the_clip_peak(x):
    encoded = cache.encode(x)
    assert len(encoded.data) == 24 + 2 * x.size
    y = encoded.samples
    assert y.shape == x.shape and y.dtype == np.float32 and not y.flags.writeable
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if x.size:
        # half a step, float32 rounding, and slack for subnormal peaks (below 1e-35: silence)
        bound = 0.5 * peak / 32767 + peak * 2**-23 + 1e-35
        assert float(np.max(np.abs(y.astype(np.float64) - x))) <= bound
    assert np.array_equal(cache._decode(encoded.data, x.size), y)


def test_silence_and_non_finite_samples_store_safely():
    assert not np.any(cache.encode(np.zeros(100, np.float32)).samples)
    odd = np.array([0.5, np.nan, np.inf, -np.inf, -0.25], dtype=np.float32)
    assert cache.encode(odd).samples.tolist() == [0.5, 0.0, 0.0, 0.0, pytest.approx(-0.25, abs=1e-4)]


def test_a_hit_does_not_import_soundfile():
    """Loading stays a numpy-only read on the way to a warm session's first audio."""
    key = key_of(0)
    put(key, noise(4800, 0))
    code = (
        "import sys; from player.speech import cache; "
        f"hit = cache.load({key!r}, {RATE}); "
        "print(hit is not None, 'soundfile' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ), check=True).stdout
    assert out.split() == ["True", "False"]


def test_an_older_layout_entry_is_a_miss_removed_and_made_again():
    (clip,) = make("Rest.")
    audio, meta_path = cache.entry_paths(clip.key)
    old = audio.with_suffix(".f32")
    data = np.ascontiguousarray(clip.samples, dtype="<f4").tobytes()
    old.write_bytes(data)
    audio.unlink()
    meta = json.loads(meta_path.read_text())
    del meta["encoding"]
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    meta_path.write_text(json.dumps(meta))
    assert cache.load(clip.key, RATE) is None
    assert not old.exists() and not meta_path.exists()
    (again,) = make("Rest.")
    assert np.array_equal(again.samples, clip.samples)
    assert cache.load(clip.key, RATE) is not None and not old.exists()


# --- size cap, least recently used first ------------------------------------------------------


def test_cap_evicts_least_recently_used_first_and_keeps_what_is_in_use():
    keys = [key_of(i) for i in range(6)]
    for i, key in enumerate(keys):
        put(key, noise(10_000, i))
        set_last_use(key, 3600 - 60 * i)  # written an hour ago, a minute apart: 0 oldest
    size = entry_bytes(keys[0])
    assert all(entry_bytes(k) == size for k in keys)
    assert cache.load(keys[0], RATE) is not None  # used now: the newest
    assert cache.load(keys[2], RATE) is not None
    assert cache.enforce_cap(limit=6 * size) == (0, 0)  # at the cap: nothing to do
    # order of last use, oldest first: 1, 3, 4, 5, 0, 2
    assert cache.enforce_cap(limit=3 * size + size // 2) == (6, 3 * size)
    assert present(keys) == [0, 2, 5]
    assert cache.enforce_cap(limit=size, keep=[keys[5]]) == (4, 2 * size)
    assert present(keys) == [5]  # kept although it is the least recently used
    assert cache.cache_info()["entries"] == 1


def test_old_junk_goes_after_new_speech_even_under_the_cap_but_fresh_files_stay():
    put(key_of(1), noise(10_000, 1))
    shard = cache.entry_paths(key_of(1))[0].parent
    old_layout = [shard / f"{key_of(2)}.json", shard / f"{key_of(2)}.f32"]  # never used again
    old, fresh = shard / "left-over.tmp", shard / ".half-written.tmp"
    for file in old_layout + [old, fresh]:
        file.write_bytes(b"x" * 50_000)
    stamp = time.time() - 3600
    for file in old_layout + [old]:
        os.utime(file, (stamp, stamp))
    assert cache.cache_info()["other_files"] == 4
    assert cache.enforce_cap() == (3, 150_000)  # 500 MB: far under the cap
    assert not any(f.exists() for f in old_layout + [old])
    assert fresh.exists()  # maybe another process's write in progress
    assert present([key_of(1)]) == [0]
    cache.enforce_cap(limit=0, keep=[key_of(1)])
    assert fresh.exists() and present([key_of(1)]) == [0]


def test_config_cap_applies_after_new_speech_and_spares_the_running_call():
    runner = CliRunner()
    result = runner.invoke(main, ["config", "set", "cache.max_mb", "0"])
    assert result.exit_code == 0 and result.output == "cache.max_mb = 0\n"
    first = make(*TEXTS)
    assert present([c.key for c in first]) == [0, 1, 2]  # this call's clips stay
    second = make(*OTHER_TEXTS)
    assert present([c.key for c in first]) == []
    assert present([c.key for c in second]) == [0, 1]
    again = make(*OTHER_TEXTS)  # all hits: nothing written, nothing evicted
    assert present([c.key for c in again]) == [0, 1]


@pytest.mark.parametrize(
    "value, message",
    [
        ("-1", "Error: cache.max_mb: '-1' must be a whole number from 0 to 100000\n"),
        ("2.5", "Error: cache.max_mb: '2.5' must be a whole number from 0 to 100000\n"),
        ("100001", "Error: cache.max_mb: '100001' must be a whole number from 0 to 100000\n"),
        ("lots", "Error: cache.max_mb: 'lots' must be a whole number from 0 to 100000\n"),
    ],
)
def test_config_cap_is_validated(value, message):
    runner = CliRunner()
    result = runner.invoke(main, ["config", "set", "--", "cache.max_mb", value])
    assert result.exit_code == 2 and result.output == message
    ok = runner.invoke(main, ["config", "set", "cache.max_mb", "100"])
    assert ok.exit_code == 0 and ok.output == "cache.max_mb = 100\n"
    assert cache.max_bytes() == 100_000_000


def test_an_unreadable_config_leaves_the_default_cap():
    paths.config_path().parent.mkdir(parents=True)
    paths.config_path().write_text("[cache]\nmax_mb = 'big'\n")
    assert cache.max_bytes() == 500_000_000


# --- hostile entries: each one a miss, removed where safe, and a fresh clip --------------------


def huge_sample_count(clip):
    meta_path = cache.entry_paths(clip.key)[1]
    meta = json.loads(meta_path.read_text())
    meta["samples"] = 2**40
    meta_path.write_text(json.dumps(meta))


def sidecar_fifo(clip):
    meta_path = cache.entry_paths(clip.key)[1]
    meta_path.unlink()
    os.mkfifo(meta_path)


def audio_fifo(clip):
    audio = cache.entry_paths(clip.key)[0]
    audio.unlink()
    os.mkfifo(audio)


def sidecar_dev_zero(clip):
    meta_path = cache.entry_paths(clip.key)[1]
    meta_path.unlink()
    meta_path.symlink_to("/dev/zero")


def audio_dev_zero(clip):
    audio = cache.entry_paths(clip.key)[0]
    audio.unlink()
    audio.symlink_to("/dev/zero")


def garbage_json(clip):
    cache.entry_paths(clip.key)[1].write_bytes(b"\xff{{ not json")


def deep_json(clip):
    cache.entry_paths(clip.key)[1].write_text("[" * 60_000)


def big_sidecar(clip):
    cache.entry_paths(clip.key)[1].write_bytes(b" " * (1 << 20))


def mismatched_hash(clip):
    meta_path = cache.entry_paths(clip.key)[1]
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))


def tampered_scale(clip):
    """The scale lives in the audio header, under the checksum: changing it is detected."""
    audio = cache.entry_paths(clip.key)[0]
    data = bytearray(audio.read_bytes())
    data[8:16] = np.float64(1.0).tobytes()
    audio.write_bytes(bytes(data))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "damage",
    [huge_sample_count, sidecar_fifo, audio_fifo, sidecar_dev_zero, audio_dev_zero, garbage_json,
     deep_json, big_sidecar, mismatched_hash, tampered_scale],
)
def test_hostile_entry_is_a_miss_then_a_fresh_clip(damage):
    original = make(*TEXTS)
    victim = original[1]
    damage(victim)
    assert cache.load(victim.key, RATE) is None
    for path in cache.entry_paths(victim.key):
        if os.path.lexists(path):  # only a FIFO is left, for the next write to replace
            assert damage in (sidecar_fifo, audio_fifo) and stat.S_ISFIFO(path.lstat().st_mode)
    again = make(*TEXTS)
    for a, b in zip(original, again):
        assert np.array_equal(a.samples, b.samples)
    assert cache.load(victim.key, RATE) is not None  # the entry is good again
    assert cache.cache_info()["entries"] == 3 and cache.cache_info()["other_files"] == 0


@pytest.mark.timeout(60)
def test_a_folder_in_place_of_a_sidecar_is_a_miss_and_left_alone():
    original = make(*TEXTS)
    victim = original[0]
    meta_path = cache.entry_paths(victim.key)[1]
    meta_path.unlink()
    meta_path.mkdir()
    (meta_path / "keep.txt").write_text("not the cache's to delete")
    assert cache.load(victim.key, RATE) is None
    notices: list[str] = []
    again = synthesize([ClipRequest(t) for t in TEXTS], notify=notices.append)
    assert np.array_equal(again[0].samples, victim.samples)  # spoken all the same
    assert len(notices) == 1 and notices[0].startswith("could not save speech to the cache")
    assert (meta_path / "keep.txt").read_text() == "not the cache's to delete"


def test_a_link_out_of_the_cache_is_removed_never_its_target(tmp_path):
    outside = tmp_path / "precious.json"
    outside.write_text("{ my own file }")
    (clip,) = make("Rest.")
    audio, meta_path = cache.entry_paths(clip.key)
    meta_path.unlink()
    meta_path.symlink_to(outside)
    assert cache.load(clip.key, RATE) is None
    assert not os.path.lexists(meta_path) and not audio.exists()
    assert outside.read_text() == "{ my own file }"
    shard = audio.parent
    (shard / "stray-link").symlink_to(outside)
    assert cache.cache_clear() == (1, len(str(outside)))  # the link itself
    assert outside.read_text() == "{ my own file }"


# --- cache info -------------------------------------------------------------------------------


def test_cache_info_counts_only_real_clips():
    keys = [key_of(i) for i in range(3)]
    for i, key in enumerate(keys):
        put(key, noise(100_000, i))
    root = paths.speech_cache_dir()
    shard = cache.entry_paths(keys[0])[0].parent
    (shard / f"{key_of(7)}.json").write_bytes(b"x" * 1000)  # a sidecar without audio
    (shard / f"{key_of(8)}.f32").write_bytes(b"x" * 200_000)  # an older layout's audio
    (shard / ".half.tmp").write_bytes(b"x" * 500)
    (root / "notes.json").write_bytes(b"x" * 10)
    (root / "zz").mkdir()
    (root / "zz" / "deeper").mkdir()
    clips_bytes = sum(entry_bytes(k) for k in keys)
    assert 600_000 < clips_bytes < 602_000
    info = cache.cache_info()
    assert info["entries"] == 3 and info["other_files"] == 4
    assert info["other_bytes"] == 201_510 and info["bytes"] == clips_bytes + 201_510
    result = CliRunner().invoke(main, ["cache", "info"], env={"COLUMNS": "1000"})  # the long path on one line
    assert result.exit_code == 0
    assert result.output == (
        f"Folder:  {root}\n"
        "Clips:   3\n"
        "Size:    0.8 MB\n"
        "Limit:   500 MB, least recently used clips go first (haven config set cache.max_mb N)\n"
        "Other:   4 files (0.2 MB) that are no clip; haven cache clear removes them\n"
    )
    assert CliRunner().invoke(main, ["config", "set", "cache.max_mb", "0"]).exit_code == 0
    over = CliRunner().invoke(main, ["cache", "info"], env={"COLUMNS": "1000"}).output.splitlines()
    assert over[2] == "Size:    0.8 MB (over the limit: trimmed when new speech is next saved)"
    assert over[3].startswith("Limit:   0 MB, ")
    result = CliRunner().invoke(main, ["cache", "clear"])
    assert result.exit_code == 0 and result.output == "Removed 10 files (0.8 MB).\n"
    assert (root / "zz" / "deeper").is_dir()  # folders that are not ours stay
    assert CliRunner().invoke(main, ["cache", "info"], env={"COLUMNS": "1000"}).output.splitlines()[1:3] == [
        "Clips:   0", "Size:    0.0 MB"
    ]


def test_streaming_start_path_stores_compactly_and_applies_the_cap():
    """Playback's own synthesis (hits first, then misses in order) keeps the same promises."""
    from player.audio.render import SessionSettings, synthesize_speech
    from player.audio.timeline import SpeechRequest

    def stream(*texts: str) -> dict[str, np.ndarray]:
        got: dict[str, np.ndarray] = {}
        synthesize_speech(
            [SpeechRequest(t) for t in texts], SessionSettings(sample_rate=RATE, jobs=1),
            on_clip=lambda request, samples: got.setdefault(request.text, samples),
        )
        return got

    assert CliRunner().invoke(main, ["config", "set", "cache.max_mb", "0"]).exit_code == 0
    first = stream(*TEXTS)
    assert cache.cache_info()["entries"] == 3  # the running session's clips stay
    warm = make(*TEXTS)  # the same keys as file rendering: hits, sample for sample
    assert all(np.array_equal(first[c.text], c.samples) for c in warm)
    stream(*OTHER_TEXTS)
    assert present([c.key for c in warm]) == []
    assert cache.cache_info()["entries"] == 2


def test_cache_clear_that_cannot_delete_says_so_in_one_line():
    (clip,) = make("Rest.")
    shard = cache.entry_paths(clip.key)[0].parent
    # Root ignores permissions: an immutable folder is what stops it; others, a read-only one.
    lock, unlock = (["chattr", "+i"], ["chattr", "-i"]) if os.geteuid() == 0 else (None, None)
    if lock:
        subprocess.run([*lock, str(shard)], check=True)
    else:
        shard.chmod(0o500)
    try:
        result = CliRunner().invoke(main, ["cache", "clear"])
    finally:
        if unlock:
            subprocess.run([*unlock, str(shard)], check=True)
        else:
            shard.chmod(0o700)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("Error: removed 0 files (0.0 MB) but not 2: cannot delete ")
    assert str(shard) in lines[0]
    assert cache.cache_info()["entries"] == 1


def test_on_clip_hands_over_cached_clips_first_then_the_missing_ones_in_order():
    """The streaming player starts from ``on_clip``: a cached clip at once (to every request
    that uses it), the missing ones in request order, each the clip that is returned."""
    make("Rest.")
    texts = ["Breathe in.", "Rest.", "Breathe out.", "Rest."]
    handed: list[tuple[int, object]] = []
    clips = synthesize([ClipRequest(t) for t in texts], jobs=1,
                       on_clip=lambda index, clip: handed.append((index, clip)))
    assert [index for index, _ in handed] == [1, 3, 0, 2]
    assert all(clip is clips[index] for index, clip in handed)
