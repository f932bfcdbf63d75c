"""One exception hierarchy for the engine (translated to QgsProcessingException by the plugin)."""


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class InputError(EngineError, ValueError):
    """Input data or arguments are wrong (shape, band count, value range...)."""


class AlignmentError(InputError):
    """PAN and MS grids cannot be put on top of each other (ratio, CRS, overlap)."""


class RasterIOError(EngineError, OSError):
    """A raster could not be opened, read or written."""


class CheckpointError(EngineError):
    """A model checkpoint is corrupt, truncated, tampered with or does not match."""


class DependencyError(EngineError, ImportError):
    """An optional dependency (torch, GDAL, h5py) is missing."""


class Canceled(EngineError):
    """The user canceled a long-running operation (partial outputs have been removed)."""


class DeviceOutOfMemory(EngineError, MemoryError):
    """The model ran out of device memory (CUDA or CPU allocator) on one batch of tiles."""


class Terminated(EngineError):
    """The process was asked to stop by a signal (SIGTERM from a job scheduler, ``torchrun``
    or ``kill``); partial outputs have been removed.  ``signum`` is the signal's number."""

    def __init__(self, signum: int = 15) -> None:
        import signal

        self.signum = int(signum)
        name = signal.Signals(self.signum).name
        super().__init__(f"stopped by {name}: the partial output was removed")
