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
from typing import Any, Iterator, Sequence

from .errors import Terminated


@contextmanager
def terminate_raises(signums: Sequence[int] = (signal.SIGTERM,)) -> Iterator[None]:
    """While inside, the first of ``signums`` raises :class:`~engine.errors.Terminated` in the
    main thread; later ones are ignored so they cannot interrupt the clean-up the first one
    started.

    Only the main thread can own signal handlers: elsewhere (QGIS runs algorithms of the
    desktop application in background tasks) this does nothing.  The previous handlers are
    restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001 (handler signature)
        if fired:
            return
        fired.append(signum)
        raise Terminated(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in signums}
    except (ValueError, OSError, AttributeError):  # no signals here (embedded, Windows...)
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
