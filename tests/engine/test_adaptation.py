"""Scene adaptation (engine.adaptation) on real scenes of ../shared/data, short runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.adaptation import AdaptationConfig, adapt_model  # noqa: E402
from engine.adaptation.sampling import candidate_windows, spread_windows  # noqa: E402
from engine.errors import Canceled, InputError  # noqa: E402
from engine.inference.predictor import TiledPredictor  # noqa: E402
from engine.inference.scaling import Scaling  # noqa: E402
from engine.io.grid import Alignment  # noqa: E402
from engine.io.placement import ms_to_pan_grid  # noqa: E402
from engine.io.raster_io import read_raster  # noqa: E402
from engine.sensors import get_sensor, sensor_from_metadata  # noqa: E402
from engine.wald import degrade  # noqa: E402
from engine.weights.checkpoint import load_model, read_metadata  # noqa: E402
from engine.weights.model_zoo import default_model_id, model_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

GENERIC = get_sensor("generic")
FAST = dict(patch_size=32, batch_size=2, patches=8)


#: A bundled model that never saw vhr-zhengzhou (the default, pantiny-bgrn-v3, was trained on
#: it), so that adaptation to that scene has something to learn.
UNSEEN_VHR_MODEL = "pantiny-bgrn-v2"


@pytest.fixture(scope="module")
def model():
    return load_model(model_path(UNSEEN_VHR_MODEL))[0]


@pytest.fixture(scope="module")
def vhr(shared_data):
    """vhr-zhengzhou (a sensor ``UNSEEN_VHR_MODEL`` never saw), 384 x 384 PAN px, scaled:
    (pan, ms in B, G, R, NIR)."""
    root = shared_data / "vhr-zhengzhou"
    pan = read_raster(root / "pan.tif", bands=[1], name="PAN")[0][:384, :384]
    ms = read_raster(root / "ms.tif", bands=[3, 2, 1, 4], name="MS")[:, :96, :96]
    scale = Scaling().fit(ms=ms, pan=pan)
    return (scale.apply(pan, "pan").astype(np.float32),
            scale.apply(ms, "ms").astype(np.float32))


def _rr_error(model, pan, ms, corrected: bool = False) -> float:
    """Mean L1 error of the model on the scene's own Wald pair (reference: the MS), after
    the spectral consistency correction when ``corrected``."""
    from engine.inference.spectral_correction import correct

    pan_lr, ms_lr = degrade(pan, ms, 4, GENERIC.gnyq(4), GENERIC.pan_gnyq)
    bms = ms_to_pan_grid(ms_lr, Alignment(4), pan_lr.shape, phase="toolbox")
    fused = TiledPredictor(model, "cpu", tile_size=None).predict(
        pan_lr.astype(np.float32), bms.astype(np.float32))
    if corrected:
        fused = correct(fused, bms, 4, GENERIC.gnyq(4))
    return float(np.abs(fused - ms[:, : pan_lr.shape[0], : pan_lr.shape[1]]).mean())


def _adapt(model, pan, ms, **cfg):
    return adapt_model(model, pan, ms, ratio=4, mtf_gains=GENERIC.gnyq(4),
                       pan_mtf_gain=GENERIC.pan_gnyq, config=AdaptationConfig(**cfg))


def test_adaptation_lowers_the_scenes_reduced_resolution_error(model, vhr):
    pan, ms = vhr
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = _adapt(model, pan, ms, steps=8, **FAST)
    assert result.adapted and not result.reverted and result.steps == 8
    assert result.loss_after < result.loss_before
    # measured 0.0413 vs 0.0438 (-6 %) on 2026-12-06
    assert _rr_error(result.model, pan, ms) < 0.97 * _rr_error(model, pan, ms)
    # the base model is untouched
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    meta = result.to_metadata()
    json.dumps(meta, allow_nan=False)
    assert meta["steps"] == 8 and meta["adapted"]
    assert meta["guard_l1_after"] < meta["guard_l1_before"]
    assert meta["guard_spectral_after"] <= 1.05 * meta["guard_spectral_before"]


def test_guard_reverts_when_adaptation_fails(model, vhr):
    pan, ms = vhr
    result = _adapt(model, pan, ms, steps=2, lr=1.0, **FAST)  # absurd learning rate
    assert result.reverted and result.model is model and not result.adapted
    assert "guard" in result.reason or "non-finite" in result.reason or "became" in result.reason


def test_spectral_guard_can_be_left_to_the_spectral_correction(model, vhr, monkeypatch):
    """With a spectral tolerance nothing can meet, the spectral criterion reverts a run
    whose guard L1 fell; with spectral_guard=False (what pan-sharpening uses when the
    spectral correction follows) the same run is kept."""
    import engine.adaptation.adapt as adapt_mod

    pan, ms = vhr
    monkeypatch.setattr(adapt_mod, "SPECTRAL_TOLERANCE", 0.0)
    strict = _adapt(model, pan, ms, steps=4, **FAST)
    assert strict.reverted and "spectral consistency" in strict.reason
    assert strict.loss_after < strict.loss_before
    free = _adapt(model, pan, ms, steps=4, spectral_guard=False, **FAST)
    assert free.adapted and not free.reverted
    assert free.loss_after == pytest.approx(strict.loss_after)
    with pytest.raises(InputError, match="spectral_guard"):
        AdaptationConfig(spectral_guard="no")


def test_adaptation_through_the_correction_lowers_the_corrected_error(model, vhr):
    """Adapted through the spectral consistency correction (default settings otherwise), the
    model's corrected output on the scene's own Wald pair gets better, and better than
    after the same adaptation judged without the correction; the guard judged corrected
    outputs (its L1 differs from the uncorrected guard's)."""
    pan, ms = vhr
    through = _adapt(model, pan, ms, through_correction=True, spectral_guard=False)
    plain = _adapt(model, pan, ms, spectral_guard=False)
    assert through.adapted and through.loss_after < through.loss_before
    assert through.loss_before != pytest.approx(plain.loss_before, rel=1e-3)
    assert through.to_metadata()["config"]["through_correction"] is True
    # measured 0.0376 (through), 0.0385 (plain), 0.0390 (base) on 2026-12-07
    through_err = _rr_error(through.model, pan, ms, corrected=True)
    assert through_err < 0.98 * _rr_error(model, pan, ms, corrected=True)
    assert through_err < _rr_error(plain.model, pan, ms, corrected=True)
    with pytest.raises(InputError, match="through_correction"):
        AdaptationConfig(through_correction=1)


def test_same_seed_same_bytes_other_seed_differs(model, vhr):
    pan, ms = vhr
    a, b, c = (_adapt(model, pan, ms, steps=2, seed=s, scheme="both", **FAST)
               for s in (7, 7, 8))

    def raw(r):
        return b"".join(t.detach().cpu().numpy().tobytes() for t in r.model.state_dict().values())

    assert not (a.reverted or b.reverted or c.reverted)
    assert raw(a) == raw(b)
    assert raw(a) != raw(c)


def test_cancel_between_steps(model, vhr):
    pan, ms = vhr

    class CancelAfterFirstStep:
        calls = 0

        def set_progress(self, p):
            self.calls += 1

        def info(self, m):
            pass

        def warning(self, m):
            pass

        def is_canceled(self):
            return self.calls >= 1

    fb = CancelAfterFirstStep()
    with pytest.raises(Canceled):
        adapt_model(model, pan, ms, ratio=4, mtf_gains=GENERIC.gnyq(4),
                    config=AdaptationConfig(steps=50, **FAST), feedback=fb)
    assert fb.calls == 1


def test_patches_spread_over_the_scene_and_avoid_nodata():
    bad = np.zeros((200, 200), bool)
    bad[:100, :100] = True                       # top-left quarter is nodata
    cand = candidate_windows(bad, 20, 10)
    assert len(cand) and not any(r < 100 and c < 100 for r, c in cand + 19)
    wins = spread_windows(cand, 6, np.random.default_rng(0))
    quarters = {(r >= 90, c >= 90) for r, c in wins}
    assert quarters == {(False, True), (True, False), (True, True)}


def test_sensor_from_metadata():
    assert sensor_from_metadata({"SATELLITEID": "WV03"}).key == "wv3"
    assert sensor_from_metadata({"SPACECRAFT_ID": "LANDSAT_8"}).key == "landsat8"
    assert sensor_from_metadata({"AREA_OR_POINT": "Area"}) is None


# ----------------------------------------------------------------- files (pansharpen_raster)


@pytest.fixture(scope="module")
def crop(shared_data, tmp_path_factory):
    """wv3-shanghai, 320 x 320 PAN px and the matching 80 x 80 MS (GeoTIFFs)."""
    from osgeo import gdal

    d = shared_data / "wv3-shanghai"
    out = tmp_path_factory.mktemp("crop")
    pan, ms = str(out / "pan.tif"), str(out / "ms.tif")
    gdal.Translate(pan, str(d / "PAN_AOI_4_Shanghai_img1920.tif"), srcWin=[0, 0, 320, 320])
    gdal.Translate(ms, str(d / "MUL_AOI_4_Shanghai_img1920.tif"), srcWin=[0, 0, 80, 80])
    return pan, ms


class _Log:
    def __init__(self, cancel_above: float | None = None) -> None:
        self.cancel_above, self.progress, self.lines = cancel_above, 0.0, []

    def set_progress(self, p):
        self.progress = p

    def info(self, m):
        self.lines.append(m)

    def warning(self, m):
        self.lines.append("WARNING " + m)

    def is_canceled(self):
        return self.cancel_above is not None and self.progress > self.cancel_above


def test_cancel_during_adaptation_leaves_no_output(crop, tmp_path):
    from engine.inference.raster import pansharpen_raster

    pan, ms = crop
    out, ck = tmp_path / "o.tif", tmp_path / "a.ckpt"
    fb = _Log(cancel_above=5.0)  # adaptation reports 5-45 %
    with pytest.raises(Canceled):
        pansharpen_raster(pan, ms, str(out), model_path(default_model_id()), device="cpu",
                          sensor="wv3", adapt_steps=50, adapted_model_path=str(ck),
                          feedback=fb, adapt_config=AdaptationConfig(**FAST))
    assert 5.0 < fb.progress <= 45.0
    assert list(tmp_path.iterdir()) == []


def test_adapted_model_round_trips_as_checkpoint(crop, tmp_path):
    from osgeo import gdal

    from engine.inference.raster import pansharpen_raster

    pan, ms = crop
    ck = tmp_path / "adapted.ckpt"
    log = _Log()
    first = pansharpen_raster(pan, ms, str(tmp_path / "a.tif"), model_path(default_model_id()),
                              device="cpu", sensor="ikonos", adapt_steps=3,
                              adapted_model_path=str(ck), feedback=log,
                              adapt_config=AdaptationConfig(**FAST))
    assert first["ADAPTED_MODEL"] == str(ck) and first["ADAPTATION"]["steps"] == 3
    meta, _ = read_metadata(ck)
    assert meta["adaptation"]["steps"] == 3 and meta["adaptation"]["sensor"] == "ikonos"
    recorded = json.loads(gdal.Open(first["OUTPUT"]).GetMetadataItem("PANTINY_ADAPTATION"))
    assert recorded["steps"] == 3 and "guard_l1_before" in recorded
    second = pansharpen_raster(pan, ms, str(tmp_path / "b.tif"), str(ck), device="cpu",
                               sensor="ikonos", feedback=_Log())
    a, b = (gdal.Open(r["OUTPUT"]).ReadAsArray() for r in (first, second))
    np.testing.assert_array_equal(a, b)


def test_unseen_sensor_without_adaptation_is_logged():
    from engine.inference.scene_adaptation import resolve_sensor

    meta, _ = read_metadata(model_path(default_model_id()))
    log = _Log()
    assert resolve_sensor("ikonos", meta, 0, log).key == "ikonos"
    assert any("not among" in line and "ADAPT_STEPS" in line for line in log.lines)
    quiet = _Log()
    resolve_sensor("ikonos", meta, 20, quiet)       # adapting: nothing to suggest
    resolve_sensor("wv3", meta, 0, quiet)           # a training sensor
    resolve_sensor(None, meta, 20, quiet)           # generic: adapting is the advice
    assert quiet.lines == []
    known = _Log()                                  # adapting to a training sensor
    resolve_sensor("wv3", meta, 60, known)
    assert len(known.lines) == 1 and "trained on WorldView-3" in known.lines[0]
    assert "ADAPT_STEPS=0" in known.lines[0]


def test_large_scenes_are_read_as_a_mosaic_spread_over_them(shared_data, monkeypatch):
    import engine.inference.scene_adaptation as sa
    from engine.io.raster_io import RasterReader

    d = shared_data / "wv3-shanghai"
    monkeypatch.setattr(sa, "ADAPT_BLOCK_MS", 128)
    with RasterReader(d / "PAN_AOI_4_Shanghai_img1920.tif") as p, \
            RasterReader(d / "MUL_AOI_4_Shanghai_img1920.tif") as m:
        args = (p, m, 4, (0.0, 0.0), [2, 3, 5, 7], 100.0, np.ones(4))
        pan, ms, note = sa.read_scene(*args, max_pixels=1_100_000)
        whole_pan, whole_ms, _ = sa.read_scene(*args)
    assert "2x2 blocks" in note and ms.shape == (4, 258, 258) and pan.shape == (1032, 1032)
    # the last block is the scene's bottom-right corner; blocks are separated by nodata
    np.testing.assert_array_equal(ms[:, 130:, 130:], whole_ms[:, 197:, 197:])
    np.testing.assert_array_equal(pan[520:, 520:], whole_pan[788:, 788:])
    assert np.isnan(ms[:, 128:130]).all() and np.isnan(pan[512:520]).all()
