"""Noise-shaping masks: parity item h, a per-pixel twin, coverage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import fixture

from realcam.scene.masks import erode, latent_mask
from realcam.scene.render import visible_from_rgb


@pytest.mark.parametrize("variant", ["256", "512"])
def test_latent_mask_equals_parity_item_h(variant):
    h = fixture(variant, "h_noise_shaping")
    visible = visible_from_rgb(h["inputs"]["preview_frames_uint8"])
    assert torch.equal(visible, h["visibility_before_erosion"][0])
    result = latent_mask(visible, kernel=5, threshold=0.9)
    assert torch.equal(result.eroded, h["visibility_after_erosion"][0])
    reference = h["scene_mask"][0]  # (4 f h w), the same mask repeated over the 4 latent channels
    assert torch.equal(result.mask, reference[0].bool())
    assert torch.equal(result.mask[None].expand_as(reference).float(), reference)
    torch.testing.assert_close(result.coverage, reference[0].mean(dim=(1, 2)))


def slow_latent_mask(visible: np.ndarray, kernel: int, threshold: float, downsample: int):
    """Per-pixel loops: erosion with mirrored indices, then align-corners bilinear point sampling."""
    f, H, W = visible.shape
    pad = kernel // 2

    def reflect(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    eroded = np.zeros_like(visible)
    for k in range(f):
        for y in range(H):
            for x in range(W):
                eroded[k, y, x] = all(
                    visible[k, reflect(y + dy, H), reflect(x + dx, W)]
                    for dy in range(-pad, pad + 1)
                    for dx in range(-pad, pad + 1)
                )
    h, w = H // downsample, W // downsample
    mask = np.zeros((f, h, w), dtype=bool)
    for k in range(f):
        for i in range(h):
            for j in range(w):
                sy = i * (H - 1) / (h - 1) if h > 1 else 0.0
                sx = j * (W - 1) / (w - 1) if w > 1 else 0.0
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
                ay, ax = sy - y0, sx - x0
                e = eroded[k].astype(np.float64)
                value = (1 - ay) * ((1 - ax) * e[y0, x0] + ax * e[y0, x1]) + ay * (
                    (1 - ax) * e[y1, x0] + ax * e[y1, x1]
                )
                mask[k, i, j] = value >= threshold
    return eroded, mask


@pytest.mark.parametrize(("kernel", "threshold", "density"), [(5, 0.9, 0.97), (3, 0.5, 0.9), (5, 0.9, 0.995)])
def test_latent_mask_matches_per_pixel_twin(kernel, threshold, density):
    generator = torch.Generator().manual_seed(kernel * 100 + int(density * 1000))
    visible = torch.rand(3, 32, 48, generator=generator) < density
    visible[1, 10:20, 5:30] = False  # a hole band
    result = latent_mask(visible, kernel=kernel, threshold=threshold)
    eroded, mask = slow_latent_mask(visible.numpy(), kernel, threshold, 8)
    np.testing.assert_array_equal(result.eroded.numpy(), eroded)
    np.testing.assert_array_equal(result.mask.numpy(), mask)
    np.testing.assert_allclose(result.coverage.numpy(), mask.mean(axis=(1, 2)))


def test_fully_visible_frame_has_full_coverage_and_holes_reduce_it():
    visible = torch.ones(2, 64, 64, dtype=torch.bool)
    visible[1, 28, 28] = False  # erodes to rows/cols 26..30, which holds the sample point 27 = 3 * 63 / 7
    result = latent_mask(visible)
    assert bool(result.eroded[0].all())  # reflect padding: no border is lost on a full frame
    assert result.coverage[0].item() == 1.0
    assert int((~result.eroded[1]).sum()) == 25
    assert result.coverage[1].item() == 63 / 64  # exactly one latent cell (3, 3) samples the hole


def test_erode_kernel_one_is_identity_and_bad_input_is_rejected():
    visible = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0)) < 0.5
    assert torch.equal(erode(visible, 1), visible)
    with pytest.raises(ValueError, match="kernel"):
        erode(visible, 4)
    with pytest.raises(ValueError, match="divisible"):
        latent_mask(torch.ones(1, 20, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        latent_mask(torch.ones(1, 16, 16))
