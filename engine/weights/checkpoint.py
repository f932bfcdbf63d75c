"""Safe, self-describing model checkpoints (no pickle, no code execution on load).

File layout (a safetensors-like container written and read by this module only):

======== ==============================================================================
bytes    content
======== ==============================================================================
0..7     N, the header length, unsigned 64-bit little-endian
8..8+N   UTF-8 JSON header, padded with spaces so that the data starts 8-byte aligned;
         it starts with ``{"format":"pantiny-checkpoint"`` and holds
         ``format_version``, ``sha256``, ``metadata`` and ``tensors``
8+N..    raw little-endian tensor bytes, tensors back to back in header order
======== ==============================================================================

``tensors`` maps each state-dict name to ``{"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}`` (offsets relative to the start of the data block).
``sha256`` is the SHA-256 of ``b"pantiny-checkpoint\\n" + canonical JSON of
{"format_version", "metadata", "tensors"} + b"\\n" + data block``, where canonical JSON
means sorted keys, no spaces, UTF-8.  Loading recomputes and compares it, so any change to
tensor bytes, shapes, names or metadata is detected.

Metadata (a JSON object).  Required from the caller: ``model`` (registry name; filled from
the model when a model is passed), ``hparams`` (likewise), ``bands`` (an int or
``{"count", "names", "order"}``), ``ratio`` and ``input_scaling`` (free-form dict saying
how inputs were scaled, e.g. ``{"mode": "fixed", "divisor": 2047}``).  Optional, default
empty: ``sensors``, ``datasets``, ``training`` (recipe), ``evaluation`` (results).  Added by
:func:`save_checkpoint`: ``format_version``, ``created`` (UTC ISO 8601), ``engine_version``.

torch is imported lazily: :func:`read_metadata` works without it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .. import __version__ as ENGINE_VERSION
from ..errors import CheckpointError, DependencyError

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMAT_NAME = "pantiny-checkpoint"
FORMAT_VERSION = 1
MAGIC = b'{"format":"' + FORMAT_NAME.encode() + b'"'
MAX_HEADER_BYTES = 64 * 1024 * 1024
REQUIRED_METADATA = ("model", "hparams", "bands", "ratio", "input_scaling")
OPTIONAL_METADATA: dict[str, Any] = {
    "sensors": [], "datasets": [], "training": {}, "evaluation": {},
}

# dtype code -> (numpy little-endian dtype string, item size, torch dtype name)
_DTYPES: dict[str, tuple[str, int, str]] = {
    "F64": ("<f8", 8, "float64"),
    "F32": ("<f4", 4, "float32"),
    "F16": ("<f2", 2, "float16"),
    "BF16": ("<i2", 2, "bfloat16"),  # stored as its raw 16-bit pattern
    "I64": ("<i8", 8, "int64"),
    "I32": ("<i4", 4, "int32"),
    "I16": ("<i2", 2, "int16"),
    "I8": ("i1", 1, "int8"),
    "U8": ("u1", 1, "uint8"),
    "BOOL": ("?", 1, "bool"),
}


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors by name, metadata, and the verified SHA-256 (hex)."""

    state_dict: dict[str, "torch.Tensor"]
    metadata: dict[str, Any]
    sha256: str


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dev dependency
        raise DependencyError(
            "PyTorch is needed to save or load model weights; install torch (CPU build is enough)"
        ) from exc
    return torch


def _canonical(obj: Any) -> bytes:
    try:
        return json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint metadata must be plain JSON (dict/list/str/int/float/bool/None, "
            f"no NaN or infinity): {exc}"
        ) from exc


def _digest(format_version: int, metadata: Mapping[str, Any], index: Mapping[str, Any],
            data: bytes | memoryview) -> str:
    h = hashlib.sha256()
    h.update(FORMAT_NAME.encode() + b"\n")
    h.update(_canonical({"format_version": format_version, "metadata": metadata, "tensors": index}))
    h.update(b"\n")
    h.update(data)
    return h.hexdigest()


def _dtype_code(t: "torch.Tensor") -> str:
    name = str(t.dtype).replace("torch.", "")
    for code, (_, _, tname) in _DTYPES.items():
        if tname == name:
            return code
    raise CheckpointError(f"tensor dtype {t.dtype} cannot be stored in a checkpoint")


def _tensor_bytes(t: "torch.Tensor", code: str) -> bytes:
    import numpy as np

    torch = _torch()
    t = t.detach().to("cpu").contiguous()
    if code == "BF16":
        t = t.view(torch.int16)
    return np.ascontiguousarray(t.numpy(), dtype=_DTYPES[code][0]).tobytes()


def _normalise_bands(bands: Any) -> dict[str, Any]:
    if isinstance(bands, bool):
        raise CheckpointError("metadata 'bands' must be a count or a dict with 'count'")
    if isinstance(bands, int):
        return {"count": bands, "names": None, "order": None}
    if isinstance(bands, Mapping) and isinstance(bands.get("count"), int):
        out = {"names": None, "order": None, **dict(bands)}
        names = out.get("names")
        if names is not None and len(names) != out["count"]:
            raise CheckpointError(
                f"metadata 'bands': {len(names)} names for {out['count']} bands"
            )
        return out
    raise CheckpointError("metadata 'bands' must be a count or a dict with an integer 'count'")


# --------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------


def save_checkpoint(path: str | os.PathLike, model_or_state_dict: Any,
                    metadata: Mapping[str, Any]) -> str:
    """Write weights + metadata atomically to ``path``; return the SHA-256 (hex).

    ``model_or_state_dict``: an ``nn.Module`` (its ``state_dict()``; a model from
    :mod:`engine.models` also supplies ``model``, ``hparams`` and the band count) or a
    mapping name -> tensor.  ``metadata``: see the module docstring.
    """
    torch = _torch()
    meta = dict(metadata)
    if isinstance(model_or_state_dict, torch.nn.Module):
        model = model_or_state_dict
        state = model.state_dict()
        name = getattr(model, "name", None)
        if name:
            if meta.setdefault("model", name) != name:
                raise CheckpointError(
                    f"metadata says model {meta['model']!r} but the module is a {name!r}"
                )
        hp = getattr(model, "hparams", None)
        if isinstance(hp, Mapping):
            if _canonical(meta.setdefault("hparams", dict(hp))) != _canonical(dict(hp)):
                raise CheckpointError(
                    f"metadata hparams {meta['hparams']} differ from the module's {dict(hp)}"
                )
        bands = getattr(model, "bands", None)
        if isinstance(bands, int):
            meta.setdefault("bands", bands)
            if _normalise_bands(meta["bands"])["count"] != bands:
                raise CheckpointError(
                    f"metadata 'bands' count differs from the model's {bands} bands"
                )
    elif isinstance(model_or_state_dict, Mapping):
        state = dict(model_or_state_dict)
    else:
        raise CheckpointError(
            "save_checkpoint needs an nn.Module or a state dict, got "
            f"{type(model_or_state_dict).__name__}"
        )

    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks required key(s) {missing}")
    if not isinstance(meta["input_scaling"], Mapping) or not meta["input_scaling"]:
        raise CheckpointError(
            "metadata 'input_scaling' must be a non-empty dict describing how inputs are "
            "scaled, e.g. {'mode': 'fixed', 'divisor': 2047}"
        )
    if not isinstance(meta["hparams"], Mapping):
        raise CheckpointError("metadata 'hparams' must be a dict")
    meta["bands"] = _normalise_bands(meta["bands"])
    for key, default in OPTIONAL_METADATA.items():
        meta.setdefault(key, type(default)())
    meta["format_version"] = FORMAT_VERSION
    meta["created"] = meta.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"
    )
    meta["engine_version"] = ENGINE_VERSION
    meta = json.loads(_canonical(meta))  # plain JSON types only (tuples -> lists, ...)

    index: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name, tensor in state.items():
        if not isinstance(name, str) or not name:
            raise CheckpointError(f"tensor names must be non-empty strings, got {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"state entry {name!r} is a {type(tensor).__name__}, not a tensor"
            )
        code = _dtype_code(tensor)
        raw = _tensor_bytes(tensor, code)
        index[name] = {"dtype": code, "shape": list(tensor.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    sha = _digest(FORMAT_VERSION, meta, index, data)

    body = json.dumps(
        {"format_version": FORMAT_VERSION, "sha256": sha, "metadata": meta, "tensors": index},
        separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    ).encode("utf-8")
    header = MAGIC + b"," + body[1:]  # the format tag comes first, as a recognisable prefix
    header += b" " * (-(8 + len(header)) % 8)

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(struct.pack("<Q", len(header)))
            fh.write(header)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return sha


# --------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------


def _parse(path: str | os.PathLike) -> tuple[dict[str, Any], memoryview]:
    """Read and fully validate a checkpoint file; return (header, data block)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {exc}") from exc
    size = len(blob)
    if size < 8 + len(MAGIC):
        if size >= 8 and blob[8:] == MAGIC[: size - 8]:
            raise CheckpointError(f"truncated checkpoint {path!r}: only {size} bytes")
        raise CheckpointError(
            f"not a checkpoint: {path!r} is {size} bytes, too short for a {FORMAT_NAME} file"
        )
    (n,) = struct.unpack("<Q", blob[:8])
    if blob[8 : 8 + len(MAGIC)] != MAGIC or n < len(MAGIC) or n > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"not a checkpoint: {path!r} does not start with a {FORMAT_NAME} header "
            "(wrong file, or a pickle/.pth file, which is never loaded)"
        )
    if size < 8 + n:
        raise CheckpointError(
            f"truncated checkpoint {path!r}: header declares {n} bytes but the file ends "
            f"after {size - 8}"
        )
    try:
        header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(
            f"corrupt checkpoint {path!r}: header is not valid JSON ({exc})"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"not a checkpoint: {path!r} header has no {FORMAT_NAME} tag")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"corrupt checkpoint {path!r}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path!r} has format version {version}; this engine reads up to "
            f"{FORMAT_VERSION}: update the plugin"
        )
    index, meta, sha = header.get("tensors"), header.get("metadata"), header.get("sha256")
    if not isinstance(index, dict) or not isinstance(meta, dict) or not isinstance(sha, str):
        raise CheckpointError(f"corrupt checkpoint {path!r}: header lacks tensors/metadata/sha256")

    expected = 0
    for name, entry in index.items():
        try:
            code = entry["dtype"]
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
            itemsize = _DTYPES[code][1]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"corrupt checkpoint {path!r}: bad index entry for tensor {name!r}"
            ) from exc
        numel = 1
        for s in shape:
            if s < 0:
                raise CheckpointError(f"corrupt checkpoint {path!r}: negative shape for {name!r}")
            numel *= s
        if begin != expected or end - begin != numel * itemsize:
            raise CheckpointError(
                f"corrupt checkpoint {path!r}: tensor {name!r} offsets {begin}..{end} do not "
                f"match its shape {shape} and dtype {code}"
            )
        expected = end
    data = memoryview(blob)[8 + n :]
    if len(data) < expected:
        raise CheckpointError(
            f"truncated checkpoint {path!r}: tensor data is {len(data)} bytes, "
            f"{expected} expected"
        )
    if len(data) > expected:
        raise CheckpointError(
            f"corrupt checkpoint {path!r}: {len(data) - expected} unexpected bytes after "
            "the tensor data"
        )
    actual = _digest(version, meta, index, data)
    if actual != sha:
        raise CheckpointError(
            f"hash mismatch in checkpoint {path!r}: content SHA-256 {actual} differs from the "
            f"stored {sha}; the file was modified or corrupted, do not use it"
        )
    return header, data


def read_metadata(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """Verify the file (hash included) and return (metadata, sha256) without needing torch."""
    header, _ = _parse(path)
    return header["metadata"], header["sha256"]


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Read and verify ``path``; tensors are placed on ``map_location``.  No pickle."""
    import numpy as np

    torch = _torch()
    header, data = _parse(path)
    state: dict[str, torch.Tensor] = {}
    for name, entry in header["tensors"].items():
        code = entry["dtype"]
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=_DTYPES[code][0]).reshape(entry["shape"])
        t = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
        if code == "BF16":
            t = t.view(torch.bfloat16)
        state[name] = t.to(map_location)
    return Checkpoint(state_dict=state, metadata=header["metadata"], sha256=header["sha256"])


def check_state_dict(expected: Mapping[str, Any], found: Mapping[str, Any], what: str = "") -> None:
    """Raise CheckpointError naming missing/unexpected tensors or the first shape mismatch."""
    where = f" for {what}" if what else ""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint tensors do not match the model{where}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for k, ref in expected.items():
        if tuple(found[k].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"shape mismatch for tensor {k}{where}: checkpoint {tuple(found[k].shape)}, "
                f"model {tuple(ref.shape)}"
            )


def check_hparams_fit(name: Any, bands: int, hparams: Mapping[str, Any],
                      state: Mapping[str, Any], path: str = "") -> None:
    """Check a checkpoint's hyper-parameters against its stored tensors before the real
    model is built (absurd values would otherwise try to allocate terabytes).

    Two steps: every numeric hyper-parameter (and the band count) must lie between 0 and
    ``max(64, 4 x the largest tensor dimension, 4 x the number of tensors)``; then the
    architecture is built on PyTorch's ``meta`` device (shapes only, no memory) and its
    tensor shapes must equal the stored ones.  Raises :class:`CheckpointError`.
    """
    from ..errors import InputError
    from ..models import build_model

    torch = _torch()
    where = f"checkpoint {path!r}" if path else "the checkpoint"
    dims = [int(d) for t in state.values() for d in tuple(t.shape)] or [1]
    limit = max(64, 4 * max(dims), 4 * len(state))
    for key, value in [("bands.count", bands), *hparams.items()]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not value == value or value < 0 or value > limit:  # NaN, negative or absurd
            raise CheckpointError(
                f"{where} has hyper-parameter {key}={value!r}, which cannot match its stored "
                f"tensors (allowed 0 to {limit}: the largest stored dimension is {max(dims)}); "
                "the metadata is wrong: re-export the checkpoint from its training run")
    try:
        with torch.device("meta"):
            skeleton = build_model(name, bands=bands, **hparams)
    except InputError as exc:
        raise CheckpointError(f"{where} describes a model this engine cannot build: {exc}") \
            from exc
    check_state_dict(skeleton.state_dict(), state, what=f"model {name!r} of {where}")


def load_model(path: str | os.PathLike, device: Any = "cpu"):
    """Build the registry model described by the checkpoint, load it strictly, eval mode.

    Returns ``(model, metadata)``.  Raises CheckpointError on any mismatch between the
    stored tensors and the architecture the metadata describes.
    """
    from ..errors import InputError
    from ..models import build_model

    ckpt = load_checkpoint(path, map_location="cpu")
    meta = ckpt.metadata
    name, hp = meta.get("model"), meta.get("hparams")
    try:
        bands = int(meta["bands"]["count"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} metadata lacks bands.count") from exc
    if not isinstance(hp, dict):
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} metadata lacks hparams")
    check_hparams_fit(name, bands, hp, ckpt.state_dict, os.fspath(path))
    try:
        model = build_model(name, bands=bands, **hp)
    except InputError as exc:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r} describes a model this engine cannot build: {exc}"
        ) from exc
    check_state_dict(model.state_dict(), ckpt.state_dict, what=f"model {name!r}")
    model.load_state_dict(ckpt.state_dict, strict=True)
    model.to(device)
    model.eval()
    return model, meta
