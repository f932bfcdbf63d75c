"""Out-of-memory fallback of model inference: smaller tiles first, then the CPU (no torch).

A batch of tiles that does not fit in device memory raises
:class:`~engine.errors.DeviceOutOfMemory` (:mod:`.predictor`).  :func:`fallback_plan`
lists what to try, in order: the requested tile size, then halved tiles (down to
:data:`MIN_TILE`, at most :data:`MAX_HALVINGS` times) on the same device, then, for a GPU,
the CPU with the requested tile size.  :func:`run_with_fallback` runs the attempts and says
in the log what it retries and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ..errors import DeviceOutOfMemory
from ..feedback import Feedback

#: Smallest tile edge tried after an out-of-memory error (PAN pixels).
MIN_TILE = 64
#: How many times the tile edge is halved before giving up on the device.
MAX_HALVINGS = 2

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One way to run the model: device, tile edge and overlap (PAN pixels)."""

    device: Any
    tile_size: int | None
    overlap: int


def _device_type(device: Any) -> str:
    return str(getattr(device, "type", device)).split(":")[0]


def fallback_plan(device: Any, tile_size: int | None, overlap: int, cpu: Any = "cpu"
                  ) -> list[Attempt]:
    """The attempts after out-of-memory errors, first one as requested.

    Halved tiles keep the overlap below half the tile (``min(overlap, tile // 4)``).
    """
    if tile_size is None:  # the whole image as one tile: only the CPU is left to try
        plan = [Attempt(device, None, int(overlap))]
        if _device_type(device) == "cuda":
            plan.append(Attempt(cpu, None, int(overlap)))
        return plan
    plan = [Attempt(device, int(tile_size), int(overlap))]
    tile = int(tile_size)
    for _ in range(MAX_HALVINGS):
        tile //= 2
        if tile < MIN_TILE:
            break
        plan.append(Attempt(device, tile, min(int(overlap), tile // 4)))
    if _device_type(device) == "cuda":
        plan.append(Attempt(cpu, int(tile_size), int(overlap)))
    return plan


def run_with_fallback(run: Callable[[Attempt], T], plan: list[Attempt], feedback: Feedback,
                      on_retry: Callable[[Attempt], None] | None = None) -> tuple[T, Attempt]:
    """``run(attempt)`` for each attempt of ``plan`` until one does not run out of memory.

    Logs a warning before every retry; ``on_retry(next attempt)`` runs before it (e.g. to
    free the GPU cache and move the model).  Re-raises the last
    :class:`~engine.errors.DeviceOutOfMemory` with a message that says what was tried.
    """
    for i, attempt in enumerate(plan):
        try:
            return run(attempt), attempt
        except DeviceOutOfMemory as exc:
            if i + 1 == len(plan):
                tried = ", ".join(f"{a.tile_size} px on {a.device}" for a in plan)
                raise DeviceOutOfMemory(
                    f"out of memory with every tile size tried ({tried}): {exc}; close other "
                    "programs using the memory or process a smaller extent") from exc
            nxt = plan[i + 1]
            change = (f"on the CPU with tiles of {nxt.tile_size} px"
                      if _device_type(nxt.device) != _device_type(attempt.device)
                      else f"with tiles of {nxt.tile_size} px (overlap {nxt.overlap})")
            feedback.warning(f"out of memory with tiles of {attempt.tile_size} px on "
                             f"{attempt.device} ({exc}); retrying {change}")
            if on_retry is not None:
                on_retry(nxt)
    raise AssertionError("empty fallback plan")  # pragma: no cover
