"""Where Haven keeps its files, computed per call.

``$HAVEN_HOME`` moves everything the program writes (journal, cache, config, user scripts);
otherwise the platform's folders from platformdirs are used. Folders are created owner-only
(0700) because the journal holds health data.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "haven"


def _home() -> Path | None:
    value = os.environ.get("HAVEN_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Folder for the journal and the user's own scripts and programs."""
    home = _home()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Folder for synthesized speech clips; safe to delete."""
    home = _home()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Folder for ``config.toml``."""
    home = _home()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def journal_path() -> Path:
    return data_dir() / "journal.sqlite3"


def user_scripts_dir() -> Path:
    """Folder for scripts the user writes; ids there sit beside the built-in ones."""
    return data_dir() / "scripts"


def user_programs_dir() -> Path:
    """Folder for programs the user writes; they sit beside the built-in ones."""
    return data_dir() / "programs"


def speech_cache_dir() -> Path:
    return cache_dir() / "speech"


def builtin_dir(kind: str) -> Path:
    """Folder of shipped assets: ``scripts``, ``programs`` or ``audio``.

    In a wheel they live inside the package (``player/_builtin``); in a source checkout
    (including editable installs) at the project's top level.
    """
    packaged = Path(__file__).resolve().parent / "_builtin" / kind
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with owner-only permissions; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if (path.stat().st_mode & 0o777) != 0o700:
            path.chmod(0o700)
    except OSError:
        pass
    return path
