"""One process per output at a time: an advisory lock beside each output while it is made.

Two jobs started on the same list (a scheduler requeueing a job whose first copy is
still draining, a command typed twice) would otherwise remove each other's temporary
files.  While a scene is checked, cleaned up and made, its process holds an exclusive
``flock`` on the hidden file ``.<output stem>.lock`` in the output folder; a second
process finds it held and leaves the scene alone.  The kernel releases the lock when a
process dies, even by SIGKILL, so a killed job never blocks its restart; the lock file is
removed when the scene is finished.

Where the file system or the platform has no ``flock`` (Windows, some parallel file
systems mounted without lock support), scenes are made without the lock, as before.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(output: str) -> str:
    """The lock file of ``output``: ``.<stem>.lock`` in the same folder."""
    folder, name = os.path.split(output)
    return os.path.join(folder, f".{os.path.splitext(name)[0]}.lock")


@contextmanager
def claim(output: str) -> Iterator[bool]:
    """Hold the lock of ``output`` for the ``with`` block; yields False (without waiting)
    when another process holds it, True otherwise (also where locks are unsupported).
    The output's folder must exist."""
    if fcntl is None:
        yield True
        return
    path = lock_path(output)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        except OSError:  # no lock support on this file system
            os.close(fd)
            yield True
            return
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        # the holder removed the file between our open and our lock: take the new one
        os.close(fd)
    try:
        yield True
    finally:
        try:
            os.remove(path)  # while still holding it, so no one locks a stale file
        except OSError:
            pass
        os.close(fd)
