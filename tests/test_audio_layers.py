"""The playing path's three modules stay in layers: devices <- engine <- playback (session).

``player.audio.devices`` (sounddevice, outputs) knows nothing of the engine or the session;
``player.audio.engine`` (ring, producer, callback) knows the devices only; the session
runner ``player.audio.playback`` uses both. Importing any of them stays light: numpy and
sounddevice load only when sound is made.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "sounddevice", "soundfile", "scipy")
LAYERS = ("player.audio.devices", "player.audio.engine", "player.audio.playback")


def loaded_after_import(module: str) -> set[str]:
    """The modules (of ours, and the heavy ones) a fresh interpreter holds after ``import module``."""
    code = (
        "import sys\n"
        f"import {module}\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('player.') "
        f"or m in {HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module, allowed_layers", [
    ("player.audio.devices", {"player.audio.devices"}),
    ("player.audio.engine", {"player.audio.devices", "player.audio.engine"}),
    ("player.audio.playback", set(LAYERS)),
])
def test_each_layer_imports_only_the_layers_below_it_and_nothing_heavy(module, allowed_layers):
    loaded = loaded_after_import(module)
    assert module in loaded
    assert loaded & set(LAYERS) == allowed_layers
    assert not loaded & set(HEAVY)
    assert not {m for m in loaded if m.startswith("player.cli")}


def test_each_name_has_one_home_so_a_patch_on_another_module_fails_loudly():
    """Tests replace ``devices.load_sounddevice`` with a fake device; were the name also bound
    in the engine or the session runner, a patch there would quietly test the real device.
    With one home, ``monkeypatch.setattr(playback, "load_sounddevice", ...)`` is an error."""
    from player.audio import devices, engine, playback

    assert playback.Player is engine.Player
    for name in ("load_sounddevice", "preload_sounddevice", "output_devices", "resolve_output",
                 "OutputDevice", "FIX_NO_DEVICE", "FIX_PORTAUDIO"):
        assert hasattr(devices, name)
        assert not hasattr(engine, name) and not hasattr(playback, name), name
    for name in ("Ring", "fade_curve", "CallbackStop", "CallbackAbort", "EVENTS", "FADE_S"):
        assert hasattr(engine, name)
        assert not hasattr(devices, name) and not hasattr(playback, name), name
    with pytest.raises(AttributeError):
        pytest.MonkeyPatch().setattr(playback, "load_sounddevice", lambda: None)
