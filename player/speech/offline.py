"""Keep the speech libraries offline: Haven promises that nothing leaves the computer.

onnxruntime, which runs the neural voice (Piper), is built with Microsoft's 1DS telemetry
switched on. About 9 s after ``import onnxruntime`` its uploader looks up
``mobile.events.data.microsoft.com`` by DNS and writes a device id and an event store under
``$XDG_CACHE_HOME`` (``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``). The one switch
that stops all of it is ``ORT_DISABLE_TELEMETRY=1`` in the environment **before**
onnxruntime initializes, which it does on import; ``onnxruntime.disable_telemetry_events()``
after the import does not stop it (measured with onnxruntime 1.32: the look-ups go on).

So the switch is set in two places, both from :data:`OFFLINE_ENV` here:

- in the environment every speech worker starts with (``workers._worker_env``), so it is
  there before the worker's interpreter imports anything;
- in this process by :func:`keep_offline`, which ``piper_engine`` calls when it is imported,
  before any of its code can import onnxruntime or piper (``bench``, tests and anything else
  that builds a ``PiperEngine`` in-process).

The values are forced, not defaults: a ``ORT_DISABLE_TELEMETRY=0`` in the user's environment
must not turn the telemetry back on. piper-tts itself only touches the network in its voice
download and HTTP server commands, which Haven never runs (voices are files, loaded directly).
``tests/test_no_network.py`` proves the result: a neural-voice render of over 20 s inside a
network namespace without interfaces, traced with ``strace -f``, opens no internet socket.
"""

from __future__ import annotations

import os
from typing import Mapping, MutableMapping

# Environment switches that keep third-party libraries from reaching the network. Read by the
# libraries when they initialize, so they must be in place before the first import.
OFFLINE_ENV: Mapping[str, str] = {
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime: no 1DS uploader, events or device id
}


def offline_env(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Apply :data:`OFFLINE_ENV` to ``env`` (overriding any other value) and return it."""
    env.update(OFFLINE_ENV)
    return env


def keep_offline() -> None:
    """Set :data:`OFFLINE_ENV` in this process; call it before onnxruntime or piper is imported."""
    offline_env(os.environ)
