"""A minimal PNG encoder (zlib + struct, no imaging library): 8-bit RGB or grey images.

PNG format: W3C Recommendation "Portable Network Graphics (PNG) Specification"
(second edition, 2003): signature, IHDR, IDAT (zlib stream of filtered scanlines), IEND,
every chunk closed by a CRC-32.  Scanlines use filter 0 (none); zlib does the rest.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image: np.ndarray, level: int = 9) -> bytes:
    """PNG bytes of ``image``: ``(H, W)`` grey or ``(H, W, 3)`` RGB, uint8."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, got {img.dtype}")
    if img.ndim == 2:
        colour_type, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] == 3:
        colour_type, channels = 2, 3
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3), got {img.shape}")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("cannot encode an empty image")
    rows = np.ascontiguousarray(img).reshape(h, w * channels)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, level))
            + _chunk(b"IEND", b""))


def decode_png(data: bytes) -> np.ndarray:
    """Decode a PNG written by :func:`encode_png` (filter 0, 8-bit, grey or RGB); for tests."""
    if data[:8] != _SIGNATURE:
        raise ValueError("not a PNG")
    pos, idat, shape = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            w, h, _, colour_type = struct.unpack(">IIBB", body[:10])
            shape = (h, w, 3) if colour_type == 2 else (h, w)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert shape is not None
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(shape[0], -1)
    if (raw[:, 0] != 0).any():
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].reshape(shape)


def png_data_uri(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` of ``image`` (for ``<img src=...>``)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
