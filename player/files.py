"""Writing files so that a crash or Ctrl-C never leaves half of one behind."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(
    path: str | os.PathLike, data: bytes | str, mode: int = 0o600, *, sync: bool = True
) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    The file is created with ``mode`` (owner-only by default: Haven's files hold practice
    notes and mood ratings) and synced before the rename, so readers see the old file or the
    new one, never a mix. ``sync=False`` skips the fsync for data that can be re-made.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
