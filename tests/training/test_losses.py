"""engine.losses: the composite loss of arXiv 2507.15059, checked by hand and against scipy."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.errors import InputError  # noqa: E402
from engine.losses import CompositeLoss, LossWeights, focal_loss, ssim  # noqa: E402


def test_focal_is_255_pow_0_1_times_mean_abs_pow_2_1():
    pred = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    gt = torch.zeros_like(pred)
    d = np.array([0.0, 0.5, 1.0, 0.25])
    # the spec's two writings of the same quantity
    by_def = np.mean(((255 * d) ** 1.1 / 255) * d)
    assert float(focal_loss(pred, gt)) == pytest.approx(by_def, rel=1e-6)
    assert float(focal_loss(pred, gt)) == pytest.approx(255 ** 0.1 * np.mean(d ** 2.1), rel=1e-6)


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 24, 24, generator=g)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    noisy = x + 0.3 * torch.randn(x.shape, generator=g)
    # structure term ~ 2 var_x / (var_x + var_x + var_noise) = 2/12 / (2/12 + 0.09) ~ 0.65
    assert 0.5 < float(ssim(x, noisy)) < 0.8
    assert float(ssim(x, noisy)) == pytest.approx(float(ssim(noisy, x)), abs=1e-6)


def test_ssim_matches_an_independent_scipy_computation():
    from scipy import ndimage

    rng = np.random.default_rng(1)
    x = rng.random((1, 1, 20, 20))
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1)
    t = np.arange(11) - 5.0
    g1 = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    win = np.outer(g1, g1) / np.outer(g1, g1).sum()

    def blur(a):       # zero padding 5, as the loss (Gaussian 11x11, sigma 1.5)
        return ndimage.correlate(a, win, mode="constant", cval=0.0)

    a, b = x[0, 0], y[0, 0]
    mx, my = blur(a), blur(b)
    vx, vy, cxy = blur(a * a) - mx ** 2, blur(b * b) - my ** 2, blur(a * b) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ref = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    got = float(ssim(torch.from_numpy(x), torch.from_numpy(y)))
    assert got == pytest.approx(ref.mean(), rel=1e-9)


def test_composite_weights_and_switching_terms_off():
    g = torch.Generator().manual_seed(2)
    pred, gt = torch.rand(2, 4, 16, 16, generator=g), torch.rand(2, 4, 16, 16, generator=g)
    total, terms = CompositeLoss()(pred, gt)
    l1 = float((pred - gt).abs().mean())
    expected = 1.5 * l1 + 4.0 * (1 - float(ssim(pred, gt))) + 1.5 * float(focal_loss(pred, gt))
    assert float(total) == pytest.approx(expected, rel=1e-6)
    assert terms["l1"] == pytest.approx(l1)
    only_l1, terms = CompositeLoss({"l1": 1.0, "ssim": 0, "focal": 0})(pred, gt)
    assert set(terms) == {"l1"} and float(only_l1) == pytest.approx(l1)
    # PanTiny's config keys are accepted
    assert LossWeights.from_dict({"L1": 1.5, "MEF_SSIM": 4.0, "focal": 1.5}) == LossWeights()
    with pytest.raises(InputError):
        LossWeights.from_dict({"l2": 1.0})
    with pytest.raises(InputError):
        LossWeights(0, 0, 0)


def test_loss_gradients_are_finite_at_zero_error():
    x = torch.rand(1, 4, 12, 12, requires_grad=True)
    total, _ = CompositeLoss()(x, x.detach())
    total.backward()
    assert torch.isfinite(x.grad).all()
