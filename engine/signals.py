"""SIGTERM as an exception, so that a terminated run cleans up after itself.

Python's default SIGTERM kills the process at once: no ``finally`` block runs, and a
half-written output (the hidden ``.partial`` file of :class:`engine.io.raster_io.RasterWriter`)
stays behind.  Inside :func:`terminate_raises`, SIGTERM raises
:class:`~engine.errors.Terminated` instead, so the writers' and the report's exception paths
delete their temporary files before the process ends.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .errors import Terminated


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`~engine.errors.Terminated` in the main thread.

    Only the main thread can own signal handlers: elsewhere (QGIS runs algorithms of the
    desktop application in background tasks) this does nothing.  The previous handler is
    restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 (signal handler signature)
        raise Terminated("stopped by SIGTERM: the partial output was removed")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError, AttributeError):  # no signals here (embedded, Windows...)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
