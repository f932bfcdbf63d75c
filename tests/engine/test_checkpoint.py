"""Tests for engine.weights.checkpoint: round trip, integrity checks, mismatch errors, no pickle."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct

import pytest
import torch

from engine.weights import checkpoint as ck
from engine.weights.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_model,
    read_metadata,
    save_checkpoint,
)
from engine.errors import CheckpointError
from engine.models import build_model


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def meta(**extra):
    m = {
        "ratio": 4,
        "input_scaling": {"mode": "fixed", "divisor": 2047},
        "bands": {"count": 4, "names": ["blue", "green", "red", "nir"], "order": "BGRN"},
        "sensors": ["WV2", "WV3", "GF2"],
        "datasets": ["WV2/train128", "WV3/train128", "GF2/train128"],
        "training": {"loss": {"L1": 1.5, "SSIM": 4.0}, "epochs": 500, "lr": 5e-4},
        "evaluation": {"WV2": {"PSNR": 41.8455, "SAM_rad": 0.0224}},
        "note": "ünïcode ok",
    }
    m.update(extra)
    return m


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(7)
    model = build_model("pantiny", scale="small")
    path = tmp_path / "model.ckpt"
    sha = save_checkpoint(path, model, meta())
    return model, path, sha


# ------------------------------------------------------------------ round trip


def test_round_trip_tensors_and_metadata(saved):
    model, path, sha = saved
    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert ckpt.sha256 == sha and len(sha) == 64
    ref = model.state_dict()
    assert list(ckpt.state_dict) == list(ref)
    for k, v in ref.items():
        assert ckpt.state_dict[k].dtype == v.dtype
        assert torch.equal(ckpt.state_dict[k], v), k
    md = ckpt.metadata
    expected = meta()
    keys = ("ratio", "input_scaling", "bands", "sensors", "datasets", "training", "evaluation")
    for k in keys + ("note",):
        assert md[k] == expected[k], k
    assert md["model"] == "pantiny"
    assert md["hparams"] == model.hparams
    assert md["format_version"] == ck.FORMAT_VERSION
    assert md["engine_version"]
    assert md["created"].endswith("+00:00")
    assert read_metadata(path) == (md, sha)


def test_load_model_rebuilds_and_matches_outputs(saved):
    model, path, _ = saved
    loaded, md = load_model(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.hparams == model.hparams
    model.eval()
    g = torch.Generator().manual_seed(0)
    bms, pan = torch.rand(1, 4, 19, 21, generator=g), torch.rand(1, 1, 19, 21, generator=g)
    with torch.no_grad():
        assert torch.equal(loaded(None, bms, pan), model(None, bms, pan))


@pytest.mark.parametrize("name", ["pnn", "pannet", "msdcnn", "pantiny"])
def test_every_registry_model_round_trips(tmp_path, name):
    model = build_model(name, bands=8)
    path = tmp_path / f"{name}.ckpt"
    save_checkpoint(path, model, meta(bands=8))
    loaded, md = load_model(path)
    assert md["bands"] == {"count": 8, "names": None, "order": None}
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_dtypes_and_odd_shapes_round_trip(tmp_path):
    state = {
        "f64": torch.randn(3, 2, dtype=torch.float64),
        "f16": torch.randn(5).half(),
        "bf16": torch.randn(4, 1).bfloat16(),
        "i64": torch.arange(-3, 3),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 4),
        "noncontig": torch.arange(12.0).view(3, 4).t(),
    }
    path = tmp_path / "s.ckpt"
    save_checkpoint(path, state, meta(model="custom", hparams={}))
    got = load_checkpoint(path).state_dict
    for k, v in state.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        assert torch.equal(got[k], v), k


def test_layout_is_the_documented_one(saved):
    _, path, sha = saved
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert (8 + n) % 8 == 0
    assert blob[8:].startswith(b'{"format":"pantiny-checkpoint"')
    header = json.loads(blob[8 : 8 + n])
    assert header["sha256"] == sha
    # the hash is reproducible from the published recipe
    canon = json.dumps(
        {"format_version": 1, "metadata": header["metadata"], "tensors": header["tensors"]},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode()
    h = hashlib.sha256(b"pantiny-checkpoint\n" + canon + b"\n" + blob[8 + n :]).hexdigest()
    assert h == sha
    # tensors are raw little-endian float32
    first = next(iter(header["tensors"].values()))
    b0, b1 = first["data_offsets"]
    w = torch.frombuffer(bytearray(blob[8 + n + b0 : 8 + n + b1]), dtype=torch.float32)
    assert w.numel() == torch.Size(first["shape"]).numel()


def test_save_is_deterministic_and_atomic(tmp_path, monkeypatch):
    model = build_model("pnn")
    m = meta(created="2025-01-01T00:00:00+00:00")
    p1, p2 = tmp_path / "a.ckpt", tmp_path / "b.ckpt"
    assert save_checkpoint(p1, model, m) == save_checkpoint(p2, model, m)
    assert p1.read_bytes() == p2.read_bytes()
    before = p1.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(p1, build_model("pnn"), m)
    assert p1.read_bytes() == before  # old file intact
    assert sorted(os.listdir(tmp_path)) == ["a.ckpt", "b.ckpt"]  # no temp file left


def test_metadata_validation(tmp_path):
    model = build_model("pnn")
    path = tmp_path / "x.ckpt"
    with pytest.raises(CheckpointError, match="input_scaling"):
        save_checkpoint(path, model, {"ratio": 4})
    with pytest.raises(CheckpointError, match="input_scaling"):
        save_checkpoint(path, model, {"ratio": 4, "input_scaling": {}})
    with pytest.raises(CheckpointError, match="NaN"):
        save_checkpoint(path, model, meta(evaluation={"psnr": float("nan")}))
    with pytest.raises(CheckpointError, match="model"):
        save_checkpoint(path, model, meta(model="pantiny"))
    with pytest.raises(CheckpointError, match="bands"):
        save_checkpoint(path, model, meta(bands=8))
    with pytest.raises(CheckpointError, match="hparams"):
        save_checkpoint(path, model, meta(hparams={"features": [64, 32]}))
    with pytest.raises(CheckpointError, match="hparams"):
        save_checkpoint(path, model.state_dict(), meta(model="pnn"))
    assert not path.exists() and os.listdir(tmp_path) == []


# ------------------------------------------------------------------ integrity


def _header_len(path) -> int:
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def test_tampered_tensor_byte_is_a_hash_mismatch(saved):
    _, path, _ = saved
    blob = bytearray(path.read_bytes())
    pos = 8 + _header_len(path) + 1000
    blob[pos] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_model(path)


def test_tampered_metadata_is_a_hash_mismatch(saved):
    _, path, _ = saved
    blob = path.read_bytes()
    assert blob.count(b'"divisor":2047') == 1
    path.write_bytes(blob.replace(b'"divisor":2047', b'"divisor":2048'))
    with pytest.raises(CheckpointError, match="hash mismatch"):
        read_metadata(path)


def test_tampered_shape_is_detected(saved):
    _, path, _ = saved
    n = _header_len(path)
    blob = path.read_bytes()
    header = json.loads(blob[8 : 8 + n])
    name = next(iter(header["tensors"]))
    header["tensors"][name]["shape"] = list(reversed(header["tensors"][name]["shape"]))
    body = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    body += b" " * (n - len(body))
    assert len(body) == n
    path.write_bytes(blob[:8] + body + blob[8 + n :])
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_checkpoint(path)


@pytest.mark.parametrize("where", ["data", "header", "length"])
def test_truncated_file(saved, where):
    _, path, _ = saved
    blob = path.read_bytes()
    n = _header_len(path)
    cut = {"data": len(blob) - 100, "header": 8 + n // 2, "length": 12}[where]
    path.write_bytes(blob[:cut])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_trailing_garbage_is_rejected(saved):
    _, path, _ = saved
    path.write_bytes(path.read_bytes() + b"\x00" * 16)
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello",
        b"PK\x03\x04" + b"\x00" * 200,
        os.urandom(4096),
        struct.pack("<Q", 10) + b'{"a": 1}  ' + b"\x00" * 40,
    ],
    ids=["empty", "short", "zip", "random", "other-json"],
)
def test_garbage_is_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "junk.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(path)


def test_torch_pth_file_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    torch.save(build_model("pnn").state_dict(), path)
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(1))
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_model(path)
    assert calls == []


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "nope.ckpt")


# ------------------------------------------------------------------ mismatches


def test_wrong_model_name_is_a_mismatch(tmp_path):
    path = tmp_path / "w.ckpt"
    save_checkpoint(path, build_model("pnn").state_dict(),
                    meta(model="pantiny", hparams={"scale": "normal"}))
    with pytest.raises(CheckpointError, match="do not match the model.*missing.*unexpected"):
        load_model(path)


def test_wrong_shape_names_the_tensor(tmp_path):
    path = tmp_path / "s.ckpt"
    m8 = build_model("pantiny", bands=8)
    save_checkpoint(path, m8.state_dict(), meta(model="pantiny", hparams=m8.hparams, bands=4))
    with pytest.raises(CheckpointError, match=r"shape mismatch for tensor patch_embed\.weight"):
        load_model(path)


def test_unknown_architecture_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "u.ckpt"
    save_checkpoint(path, {"w": torch.zeros(1)}, meta(model="unet", hparams={}))
    with pytest.raises(CheckpointError, match="cannot build"):
        load_model(path)
    path2 = tmp_path / "u2.ckpt"
    save_checkpoint(path2, {"w": torch.zeros(1)}, meta(model="pantiny", hparams={"depth": 3}))
    with pytest.raises(CheckpointError, match="cannot build"):
        load_model(path2)


# ------------------------------------------------------------------ no pickle, ever


def test_loading_never_uses_pickle_or_torch_load(saved, monkeypatch):
    _, path, _ = saved

    def forbidden(*a, **k):
        raise AssertionError("pickle/torch.load must not be used")

    class NoUnpickler:
        def __init__(self, *a, **k):
            forbidden()

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", NoUnpickler)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(torch.serialization, "load", forbidden)
    ckpt = load_checkpoint(path)
    model, md = load_model(path)
    assert ckpt.state_dict and md["model"] == "pantiny"
    assert read_metadata(path)[1] == ckpt.sha256


def test_checkpoint_module_has_no_pickle_reference():
    import inspect

    src = inspect.getsource(ck)
    assert "import pickle" not in src and "torch.load" not in src.replace('"torch.load"', "")


@pytest.mark.parametrize("hparams,match", [
    ({"width": 10**7}, r"hyper-parameter width=10000000, which cannot match"),
    ({"enc_blocks": 10**9}, r"hyper-parameter enc_blocks=1000000000"),
    ({"width": -3}, r"hyper-parameter width=-3"),
    ({"width": 48}, r"shape mismatch for tensor"),
])
def test_absurd_hparams_are_refused_before_the_model_is_built(tmp_path, hparams, match):
    """A hash-valid checkpoint whose metadata lies about the architecture fails fast: the
    hyper-parameters are checked against the stored tensors (and on the meta device)."""
    model = build_model("pantiny", bands=4)
    path = tmp_path / "m.ckpt"
    save_checkpoint(path, model.state_dict(),
                    meta(model="pantiny", hparams={**model.hparams, **hparams}))
    with pytest.raises(CheckpointError, match=match):
        load_model(path)
