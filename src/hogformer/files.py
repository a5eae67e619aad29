"""Writing files atomically: a reader, or a run killed mid-write, only ever sees the old file or the new one.

The one home of the temporary-file-and-rename pattern that images, weights, training checkpoints and configs
are written with.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``path`` when the block ends without an exception.

    The bytes go to a hidden temporary file in the same folder, are flushed to disk, and the file is renamed
    over ``path`` with ``os.replace``. Parent folders are created. An existing file keeps its permission bits;
    a new one gets the usual ones (0o666 less the umask). On an exception the temporary file is removed and
    ``path`` is untouched; a process killed mid-write may leave a ``.<name>.<random>.tmp`` file behind, never a
    partial ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        keep_mode: int | None = target.stat().st_mode & 0o7777
    except OSError:
        keep_mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_writer`."""
    with atomic_writer(path) as fh:
        fh.write(data)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the filesystem supports syncing a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - filesystems without directory fsync
        pass
    finally:
        os.close(fd)


__all__ = ["atomic_write_bytes", "atomic_writer"]
