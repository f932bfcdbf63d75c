"""SIGTERM raises inside engine.signals.terminate_raises (so partial outputs are removed)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engine.errors import Terminated
from engine.signals import terminate_raises


def test_sigterm_raises_inside_and_the_previous_handler_comes_back():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *a: seen.append("outer"))
    try:
        with pytest.raises(Terminated, match="SIGTERM"):
            with terminate_raises():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs between bytecodes
                    pass
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        assert seen == ["outer"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_other_threads_leave_the_handler_alone():
    before = signal.getsignal(signal.SIGTERM)
    inside = []

    def work():
        with terminate_raises():
            inside.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert inside == [before]
