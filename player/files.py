"""Reading and writing files safely: bounded reads of regular files, outputs that never clobber.

Every file Haven reads on a user's behalf (scripts, programs, headers, config, imports, cache
sidecars) goes through :func:`read_regular`: regular files only, opened without blocking (a
FIFO in the way can never hang a command), size-capped (a link to ``/dev/zero`` can never eat
memory). Every file a command writes for the user (``-o``) goes through :func:`open_output`:
an atomic replace for regular files and new paths, a write straight through for ``-``,
devices and pipes, and a refusal for anything else. :func:`describe_os_error` turns an
``OSError`` into one line that names the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import IO, Iterator

from player.errors import BadInputError, HavenError

KIB = 1024
MIB = 1024 * KIB


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
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        exc.filename = os.fspath(path)  # name the file the user knows, not the temporary one
        raise
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


# --- what a path is ------------------------------------------------------------------------


def kind_of(mode: int) -> str:
    """A few words for what a ``st_mode`` is, for messages ("a folder", "a named pipe")."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.0f} MiB"
    if n >= KIB:
        return f"{n / KIB:.0f} KiB"
    return f"{n} bytes"


_FIXES = {
    errno.EROFS: ("the file system is read-only", "choose a writable place"),
    errno.EACCES: ("permission denied", "check the permissions of the file and its folder"),
    errno.EPERM: ("operation not permitted", "check the permissions of the file and its folder"),
    errno.ENOSPC: ("no space left on the device", "free some space and try again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space and try again"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.EISDIR: ("it is a folder", "name a file instead"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.ELOOP: ("too many symbolic links", "check the path"),
    errno.EIO: ("input/output error", "check the disk"),
    errno.EFBIG: ("the file is too large for this file system", "choose another place"),
    errno.EMFILE: ("too many open files", "close other programs and try again"),
    errno.ENXIO: ("no reader or device at the other end", "check the path"),
}


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None, *, doing: str = "use") -> str:
    """One line for an ``OSError``: what failed, on which path, why, and what to do.

    ``doing`` is the verb ("read", "write", "create"); ``path`` overrides the exception's own
    filename (which is often a temporary file's).
    """
    where = path if path is not None else (exc.filename if exc.filename is not None else None)
    why, fix = _FIXES.get(exc.errno, (exc.strerror or str(exc), None))
    head = f"cannot {doing} {os.fsdecode(where)}" if where is not None else f"cannot {doing} a file"
    hint = ""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and _under_haven_home(where):
        fix = "make it writable, or set HAVEN_HOME to a writable folder"
    if fix:
        hint = f" ({fix})"
    return f"{head}: {why}{hint}"


def _under_haven_home(path) -> bool:
    if path is None:
        return False
    from player import paths

    try:
        target = Path(os.fsdecode(path)).absolute()
        for base in (paths.data_dir(), paths.cache_dir(), paths.config_dir()):
            if target == base.absolute() or base.absolute() in target.parents:
                return True
    except (OSError, ValueError):
        return False
    return False


class FileAccessError(HavenError):
    """A file or folder Haven needs cannot be read or written (exit code 1)."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.path = path

    @classmethod
    def from_os_error(cls, exc: OSError, path=None, *, doing: str = "use") -> "FileAccessError":
        return cls(describe_os_error(exc, path, doing=doing), path=path if path is not None else exc.filename)


# --- reading ---------------------------------------------------------------------------------


def _open_regular_fd(path, name: str, what: str, error: type[HavenError], limit: int | None) -> int:
    """A blocking descriptor of the regular file at ``path``, opened without blocking.

    Refuses anything that is not a regular file (and, with ``limit``, anything larger) with
    ``error`` and one line naming ``name``; ``FileNotFoundError`` passes through.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise error(f"{name}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(describe_os_error(exc, name, doing="read")) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name}: is {kind_of(st.st_mode)}, not a {what}")
        if limit is not None and st.st_size > limit:
            size, cap = _size(st.st_size), _size(limit)
            if size == cap:  # rounded to the same figure: say it exactly
                size, cap = f"{st.st_size} bytes", f"{limit} bytes"
            raise error(f"{name}: the {what} is {size}, more than the {cap} allowed")
        os.set_blocking(fd, True)
    except OSError as exc:
        os.close(fd)
        raise error(describe_os_error(exc, name, doing="read")) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(
    path: str | os.PathLike,
    *,
    limit: int,
    what: str = "file",
    error: type[HavenError] = BadInputError,
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Refuses, with ``error`` and one line naming the path, anything that is not a regular file
    (a folder, a FIFO, a device, a link to one) and anything larger than ``limit``. Opening
    never blocks and reading never goes past ``limit + 1`` bytes, whatever is at the path.
    ``FileNotFoundError`` is raised as is, so callers can treat "absent" as they like.
    """
    name = os.fsdecode(path)
    fd = _open_regular_fd(path, name, what, error, limit)
    try:
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise error(describe_os_error(exc, name, doing="read")) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{name}: the {what} is more than the {_size(limit)} allowed")
    return data


@contextlib.contextmanager
def open_regular(
    path: str | os.PathLike, *, what: str = "file", error: type[HavenError] = BadInputError
) -> Iterator[IO[bytes]]:
    """Open a regular file for streaming reads (no size cap: for inputs read in bounded pieces).

    Refuses folders, FIFOs and devices like :func:`read_regular`, without blocking.
    """
    fd = _open_regular_fd(path, os.fsdecode(path), what, error, None)
    with os.fdopen(fd, "rb") as fh:
        yield fh


# --- writing ---------------------------------------------------------------------------------


class _AtomicOutput:
    """Bytes written to a temporary file beside the target, renamed over it on success."""

    def __init__(self, target: Path, mode: int):
        self.target = target
        self.tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
        self.fh = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def open_descriptor(path: str) -> int | None:
    """The descriptor of this process that ``path`` names (``/dev/stdout``, ``/dev/stderr``,
    ``/dev/fd/N``, ``/proc/self/fd/N``), if it is open; None for any other path.

    Such a path is the shell's redirection (``> out.json``, ``>> log``, ``>(cmd)``): written
    through that descriptor it keeps the shell's offset and append mode, where replacing the
    file it resolves to would drop what ``>>`` was appending to.
    """
    n = {"/dev/stdout": 1, "/dev/stderr": 2}.get(path)
    if n is None:
        for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
            if path.startswith(prefix) and path[len(prefix):].isdigit() and len(path) - len(prefix) < 8:
                n = int(path[len(prefix):])
                break
    if n is None:
        return None
    try:
        os.fstat(n)
    except OSError:
        return None
    return n


def output_kind(path: str) -> str:
    """How :func:`open_output` will write ``path``: "stdout", "descriptor", "replace", "through".

    Raises :class:`BadInputError` for a path it refuses (a folder, a socket, a missing
    folder on the way).
    """
    if path == "-":
        return "stdout"
    if not path:
        raise BadInputError("cannot write to an empty file name: name a file, or - for standard output")
    if open_descriptor(path) is not None:
        return "descriptor"
    try:
        st = os.stat(path)  # follows links: what the data would reach
    except FileNotFoundError:
        parent = Path(path).parent
        if not parent.is_dir():
            raise BadInputError(
                f"cannot write {path}: the folder {parent} does not exist (create it first)"
            ) from None
        return "replace"
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, path, doing="write") from None
    if stat.S_ISREG(st.st_mode):
        return "replace"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "through"
    raise BadInputError(f"cannot write {path}: it is {kind_of(st.st_mode)}, not a file")


@contextlib.contextmanager
def open_output(path: str | os.PathLike, *, mode: int = 0o600) -> Iterator[IO[bytes]]:
    """A binary file object for a command's output at ``path``; commits when the block ends.

    - ``-``: standard output, written through.
    - a regular file, or a new path in an existing folder: written to a temporary file beside
      it and renamed over it only when everything was written, so a failure leaves the old
      file as it was. A symbolic link is followed: its target is replaced, the link stays.
    - a character device or a pipe (``/dev/null``, a FIFO): written through, never replaced.
    - a descriptor of this process (``/dev/stdout``, ``>(cmd)`` as ``/dev/fd/63``): written
      through that descriptor, whatever it is open on, keeping ``>>``'s append mode.
    - anything else (a folder, a socket): refused with :class:`BadInputError`.

    Every ``OSError`` (a read-only folder, a full disk) becomes a :class:`FileAccessError`
    naming ``path``. Nothing is left behind when the block raises.
    """
    name = os.fsdecode(path)
    how = output_kind(name)
    if how == "stdout":
        if sys.stdout is None:  # started with it closed (`>&-`)
            raise FileAccessError("cannot write to standard output: it is closed")
        out = sys.stdout.buffer
        try:
            yield out
            out.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # the reader went away (`| head`): the CLI exits quietly
            raise FileAccessError.from_os_error(exc, "standard output", doing="write to") from None
        return
    if how in ("through", "descriptor"):
        try:
            if how == "descriptor":
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()  # what was printed before comes first
                fd = os.dup(open_descriptor(name))
            else:
                fd = os.open(name, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            fh = os.fdopen(fd, "wb")
        except OSError as exc:
            raise FileAccessError.from_os_error(exc, name, doing="write") from None
        try:
            yield fh
            fh.flush()
        except OSError as exc:
            raise FileAccessError.from_os_error(exc, name, doing="write") from None
        finally:
            with contextlib.suppress(OSError):
                fh.close()
        return
    target = Path(os.path.realpath(name))
    try:
        out = _AtomicOutput(target, mode)
    except OSError as exc:
        raise FileAccessError.from_os_error(exc, name, doing="write") from None
    try:
        yield out.fh
        out.commit()
    except OSError as exc:
        out.abort()
        raise FileAccessError.from_os_error(exc, name, doing="write") from None
    except BaseException:
        out.abort()
        raise


def write_output(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o600) -> None:
    """Write all of ``data`` to ``path`` by the rules of :func:`open_output`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open_output(path, mode=mode) as fh:
        fh.write(data)
