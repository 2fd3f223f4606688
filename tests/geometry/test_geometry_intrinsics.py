import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.geometry.intrinsics import K_from_fov, cover_size, fov_from_K, reference_default_K, resize_cover_crop


@settings(max_examples=50, deadline=None)
@given(st.integers(8, 2000), st.integers(8, 2000), st.floats(5, 170), st.sampled_from(["vertical", "horizontal"]))
def test_fov_round_trip(h, w, fov, axis):
    K = K_from_fov(h, w, fov, axis=axis)
    assert K.dtype == torch.float64 and K.shape == (3, 3)
    assert float(fov_from_K(K, h, w, axis=axis)) == pytest.approx(fov, rel=1e-12)
    assert float(K[0, 2]) == w / 2 and float(K[1, 2]) == h / 2


def test_fov_by_hand():
    K = K_from_fov(256, 512, 90.0)
    assert float(K[1, 1]) == pytest.approx(128.0)  # tan 45° = 1
    assert float(fov_from_K(K, 256, 512, axis="horizontal")) == pytest.approx(2 * math.degrees(math.atan(2.0)))
    with pytest.raises(ValueError, match="fov_deg"):
        K_from_fov(10, 10, 180.0)
    with pytest.raises(ValueError, match="axis"):
        K_from_fov(10, 10, 60.0, axis="diagonal")


def test_reference_default_K_matches_spec_examples():
    # Spec §5.3: a 1920×1080 image into 256² resizes to 455×256 -> fx = 227.5; into 512×320 -> 568×320, fx = 284.
    assert cover_size(1080, 1920, 256, 256) == (256, 455)
    K = reference_default_K(1080, 1920, 256, 256)
    torch.testing.assert_close(K, torch.tensor([[227.5, 0, 128], [0, 227.5, 128], [0, 0, 1]], dtype=torch.float64))
    assert cover_size(1080, 1920, 320, 512) == (320, 568)
    K = reference_default_K(1080, 1920, 320, 512)
    torch.testing.assert_close(K, torch.tensor([[284.0, 0, 256], [0, 284.0, 160], [0, 0, 1]], dtype=torch.float64))
    assert 2 * math.degrees(math.atan(256 / 284)) == pytest.approx(84.1, abs=0.05)


@pytest.mark.parametrize("out_hw", [(256, 256), (320, 512)])
def test_portrait_images_keep_the_model_size(out_hw):
    # The reference swaps H and W for portrait inputs and breaks the 512 model; realcam keeps the requested size.
    image = np.zeros((1920, 1080, 3), dtype=np.uint8)
    out, K = resize_cover_crop(image, reference_default_K(1920, 1080, *out_hw), out_hw)
    assert out.shape == (*out_hw, 3)
    rh, rw = cover_size(1920, 1080, *out_hw)
    assert rh >= out_hw[0] and rw >= out_hw[1] and min(rh / out_hw[0], rw / out_hw[1]) == 1
    K_ref = reference_default_K(1920, 1080, *out_hw)
    assert float(K_ref[0, 0]) == 0.5 * max(rh, rw)


@settings(max_examples=25, deadline=None)
@given(st.integers(20, 90), st.integers(20, 90), st.integers(8, 40), st.integers(8, 40))
def test_cover_size_covers_and_keeps_aspect(in_h, in_w, out_h, out_w):
    rh, rw = cover_size(in_h, in_w, out_h, out_w)
    assert rh >= out_h and rw >= out_w
    assert rh == out_h or rw == out_w
    # The matched side is exact; the other is the exact scaled size truncated (never below the target).
    if rh == out_h:
        assert rw == max(out_w, int(in_w * out_h / in_h)) and in_w * out_h / in_h - rw < 1
    else:
        assert rh == max(out_h, int(in_h * out_w / in_w)) and in_h * out_w / in_w - rh < 1


def _blob(h, w, u, v, sigma):
    """A Gaussian blob centred at continuous image coordinates (u, v) (pixel centres at +0.5)."""
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    return torch.exp(-((xs[None] - u) ** 2 + (ys[:, None] - v) ** 2) / (2 * sigma**2))


def _centroid(img):
    h, w = img.shape
    ys = torch.arange(h, dtype=torch.float64) + 0.5
    xs = torch.arange(w, dtype=torch.float64) + 0.5
    m = img.sum()
    return float((img.sum(0) * xs).sum() / m), float((img.sum(1) * ys).sum() / m)


@pytest.mark.parametrize(
    ("in_hw", "out_hw"), [((60, 100), (32, 32)), ((100, 60), (40, 64)), ((48, 48), (40, 64)), ((90, 40), (64, 40))]
)
def test_resize_cover_crop_moves_principal_point_exactly(in_hw, out_hw):
    # An off-centre principal point: a blob drawn where K projects a point must land where the new K projects it.
    in_h, in_w = in_hw
    K = torch.tensor([[50.0, 0.0, 0.37 * in_w], [0.0, 55.0, 0.61 * in_h], [0.0, 0.0, 1.0]], dtype=torch.float64)
    point = torch.tensor([0.05, -0.08, 1.0], dtype=torch.float64)
    u, v = (K @ point)[:2].tolist()
    image = _blob(in_h, in_w, u, v, sigma=4.0)[None].float()
    out, K_out = resize_cover_crop(image, K, out_hw)
    assert out.shape == (1, *out_hw)
    u2, v2 = (K_out @ point)[:2].tolist()
    cu, cv = _centroid(out[0].double())
    assert cu == pytest.approx(u2, abs=0.15) and cv == pytest.approx(v2, abs=0.15)
    # Principal point of a centred K stays centred in the crop up to the truncations.
    Kc = K_from_fov(in_h, in_w, 60.0)
    _, Kc_out = resize_cover_crop(image, Kc, out_hw)
    assert float(Kc_out[0, 2]) == pytest.approx(out_hw[1] / 2, abs=1.0)
    assert float(Kc_out[1, 2]) == pytest.approx(out_hw[0] / 2, abs=1.0)


def test_resize_cover_crop_numpy_uint8():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    K = K_from_fov(30, 50, 60.0)
    out, K_out = resize_cover_crop(image, K, (30, 30))
    assert out.dtype == np.uint8 and out.shape == (30, 30, 3)
    np.testing.assert_array_equal(out, image[:, 10:40])  # no resize needed: a pure centre crop
    assert float(K_out[0, 2]) == pytest.approx(25.0 - 10.0)
    with pytest.raises(ValueError, match="image"):
        resize_cover_crop(image.astype(np.float32), K, (30, 30))
