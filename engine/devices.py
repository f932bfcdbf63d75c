"""Torch devices and mixed precision: one device selector, one autocast helper, one
deterministic-kernels context.

Used by inference (:mod:`.inference.predictor`), training (:mod:`.trainer.trainer`) and
scene adaptation.  Importing this module imports torch; without it, it raises
:class:`~.errors.DependencyError` with installation advice.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from .errors import InputError

try:  # torch is optional for the package as a whole, required here
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without torch
    from .errors import DependencyError

    raise DependencyError(
        "PyTorch is required for model inference; install torch (CPU or CUDA build) into "
        "the Python environment QGIS uses"
    ) from exc


def select_device(requested: str = "auto", *, fallback: bool = True,
                  local_rank: int | None = None) -> tuple["torch.device", str]:
    """Resolve ``'auto' | 'cpu' | 'cuda' | 'cuda:N'`` to a torch device.

    Returns ``(device, message)``; ``message`` says which device is used and, when CUDA
    was asked for but is not usable, why the run falls back to the CPU (log it as a
    warning: it starts with ``"WARNING"``).  ``fallback=False`` raises
    :class:`~.errors.InputError` instead of falling back (training: a run asked to use a
    GPU must not silently take days on the CPU).  ``local_rank`` (distributed training)
    picks ``cuda:<local_rank>`` whenever CUDA is used.
    """
    req = (requested or "auto").strip().lower()
    if req not in ("auto", "cpu") and not (req == "cuda" or req.startswith("cuda:")):
        raise InputError(f"unknown device {requested!r}; use 'auto', 'cpu' or 'cuda'")
    if req == "cpu":
        return torch.device("cpu"), "using CPU (requested)"
    cuda_ok = torch.cuda.is_available()
    if req == "auto" and not cuda_ok:
        return torch.device("cpu"), "using CPU (no CUDA device available)"
    if local_rank is not None and cuda_ok:
        dev = torch.device("cuda", local_rank)
        return dev, f"using CUDA ({torch.cuda.get_device_name(dev)}), local rank {local_rank}"
    if req == "auto":
        dev = torch.device("cuda")
        return dev, f"using CUDA ({torch.cuda.get_device_name(dev)}), chosen automatically"
    # explicit cuda / cuda:N
    if not cuda_ok:
        if not fallback:
            raise InputError(f"device {requested!r} asked for but CUDA is not available")
        why = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible (driver missing or CUDA_VISIBLE_DEVICES empty)"
        )
        return (
            torch.device("cpu"),
            f"WARNING: CUDA was requested but {why} (torch {torch.__version__}); "
            "falling back to CPU, which is much slower",
        )
    dev = torch.device(req)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        return (
            torch.device("cuda"),
            f"WARNING: {req} does not exist ({torch.cuda.device_count()} CUDA device(s)); "
            "using cuda:0",
        )
    return dev, f"using CUDA ({torch.cuda.get_device_name(dev)}), requested"


def autocast(device: "torch.device", bf16: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when ``bf16``; otherwise a no-op context (fp32)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def deterministic(device: "torch.device", allow_tf32: bool = False) -> Iterator[None]:
    """Deterministic kernels for the duration of a run (inference or scene adaptation), so
    that the same inputs and seed give the same bytes on a given device; the process-wide
    flags are restored afterwards.  CPU kernels are deterministic already; on CUDA this
    turns cuDNN autotuning off and (unless ``allow_tf32``) TF32 off."""
    prev = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.allow_tf32 = allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.benchmark = prev[2]
        torch.backends.cudnn.deterministic = prev[3]
        torch.backends.cudnn.allow_tf32 = prev[4]
        torch.backends.cuda.matmul.allow_tf32 = prev[5]
