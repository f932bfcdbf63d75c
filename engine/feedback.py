"""The feedback protocol of long engine operations (progress, messages, cancellation).

QGIS's ``QgsProcessingFeedback`` fits through a small adapter in the plugin; scripts
pass nothing and get :class:`NullFeedback`.
"""

from __future__ import annotations

from typing import Protocol


class Feedback(Protocol):
    """What file-level engine operations report to."""

    def set_progress(self, percent: float) -> None: ...

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def is_canceled(self) -> bool: ...


class NullFeedback:
    """Feedback that ignores everything and never cancels."""

    def set_progress(self, percent: float) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def is_canceled(self) -> bool:
        return False
