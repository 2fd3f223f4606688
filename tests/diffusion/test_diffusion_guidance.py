"""Guidance: the §3.5 combination by hand, per-sample rescale, camera CFG, batched == sequential branches."""

import math
from dataclasses import dataclass

import pytest
import torch

from realcam.diffusion.guidance import (
    GuidanceConfig,
    camera_weight,
    combine_guidance,
    concat_conditions,
    guided_denoiser,
    rescale_guidance,
)


def _video(values):
    """(b, 1, 1, 2, 2) from per-sample lists of 4 values."""
    return torch.tensor(values, dtype=torch.float64).reshape(len(values), 1, 1, 2, 2)


def test_hand_computed_guidance_with_camera_cfg_and_rescale():
    cond = _video([[1, 2, 3, 4], [10, 20, 30, 40]])
    uncond = _video([[0, 0, 0, 0], [10, 10, 10, 10]])
    camera_free = _video([[0, 1, 2, 3], [10, 20, 30, 40]])
    config = GuidanceConfig(text_image_scale=2.0, camera_scale=3.0, guidance_rescale=0.7)
    out = combine_guidance(cond, uncond, camera_free, torch.tensor([999, 999]), config)
    # sample 0: o = 0 + 2·c = [2,4,6,8]; camera: + (3−1)·1·(c − n) = +2 -> [4,6,8,10]
    #           std(c) = std([1,2,3,4]), std(o) = 2·std(c) -> ratio 1/2 -> o·(0.7·0.5 + 0.3) = 0.65·o
    # sample 1: o = 10 + 2·(c − 10) = [10,30,50,70]; camera term 0; ratio 1/2 -> 0.65·o
    expected = _video([[2.6, 3.9, 5.2, 6.5], [6.5, 19.5, 32.5, 45.5]])
    torch.testing.assert_close(out, expected)


def test_rescale_uses_unbiased_std_per_sample():
    guided = _video([[0, 0, 0, 2], [1, 2, 3, 4]])
    cond = _video([[0, 0, 0, 1], [1, 2, 3, 4]])
    out = rescale_guidance(guided, cond, 1.0)
    torch.testing.assert_close(out, _video([[0, 0, 0, 1], [1, 2, 3, 4]]))
    # r = 0 leaves the guided output alone
    torch.testing.assert_close(rescale_guidance(guided, cond, 0.0), guided)
    # the ratio is taken with torch.std (unbiased) over c f h w, per sample
    g = torch.Generator().manual_seed(0)
    guided, cond = torch.randn(2, 3, 4, 5, 6, 7, generator=g, dtype=torch.float64).unbind(0)
    ratio = torch.stack([c.std() / o.std() for c, o in zip(cond, guided, strict=True)]).reshape(3, 1, 1, 1, 1)
    torch.testing.assert_close(rescale_guidance(guided, cond, 0.7), 0.7 * guided * ratio + 0.3 * guided)


def test_scale_one_skips_uncond_and_rescale():
    cond = _video([[1, 2, 3, 4]])
    config = GuidanceConfig(text_image_scale=1.0)
    assert torch.equal(combine_guidance(cond, None, None, torch.tensor([500]), config), cond)
    with pytest.raises(ValueError, match="uncond_out"):
        combine_guidance(cond, cond, None, torch.tensor([500]), config)


def test_cosine_camera_weight():
    config = GuidanceConfig(camera_scale=2.0, camera_schedule="cosine")
    w = camera_weight(torch.tensor([999, 333, 0]), config)
    torch.testing.assert_close(w, torch.tensor([1.0, 0.5, 0.0]), atol=1e-6, rtol=0)
    assert torch.equal(camera_weight(torch.tensor([5, 900]), GuidanceConfig()), torch.ones(2))
    assert math.isclose(float(camera_weight(torch.tensor([666]), config)), math.cos(math.pi / 6), rel_tol=1e-6)


@dataclass(frozen=True)
class _Camera:
    features: tuple[torch.Tensor, ...]
    origin_hw: tuple[int, int]


@dataclass(frozen=True)
class _Branch:
    context: torch.Tensor  # (b, 3)
    camera: _Camera | None


class _CountingModel:
    """Per-sample toy network: output depends on x, t, the context and (if present) the camera feature."""

    def __init__(self):
        g = torch.Generator().manual_seed(3)
        self.weight = torch.randn(4, 4, generator=g)
        self.batches: list[int] = []

    def __call__(self, x_t, t, condition: _Branch):
        self.batches.append(x_t.shape[0])
        out = torch.einsum("bcfhw,dc->bdfhw", x_t, self.weight)
        out = out + condition.context.sum(dim=1).reshape(-1, 1, 1, 1, 1) + 1e-3 * t.reshape(-1, 1, 1, 1, 1)
        if condition.camera is not None:
            out = out * condition.camera.features[0].reshape(-1, 1, 1, 1, 1)
        return out


def _branches(batch):
    g = torch.Generator().manual_seed(5)
    camera = _Camera((torch.rand(batch, generator=g) + 0.5,), (64, 64))
    cond = _Branch(torch.randn(batch, 3, generator=g), camera)
    uncond = _Branch(torch.randn(batch, 3, generator=g), camera)  # reference: the camera stays in the uncond branch
    camera_free = _Branch(cond.context, None)
    return cond, uncond, camera_free


@pytest.mark.parametrize("camera_scale", [None, 2.5])
def test_batched_branches_equal_sequential_calls(camera_scale):
    batch = 2
    cond, uncond, camera_free = _branches(batch)
    config = GuidanceConfig(text_image_scale=7.5, camera_scale=camera_scale, guidance_rescale=0.7)
    g = torch.Generator().manual_seed(9)
    x_t = torch.randn(batch, 4, 3, 2, 2, generator=g)
    t = torch.tensor([799, 799])
    batched_model, sequential_model = _CountingModel(), _CountingModel()
    batched = guided_denoiser(batched_model, cond, uncond, camera_free, config)(x_t, t)
    sequential = guided_denoiser(sequential_model, cond, uncond, camera_free, config, max_batch=1)(x_t, t)
    extra = [batch] if camera_scale else []
    assert batched_model.batches == [2 * batch] + extra
    assert sequential_model.batches == [batch, batch] + extra
    torch.testing.assert_close(batched, sequential, rtol=1e-6, atol=1e-5)
    # and both equal the formula applied to the three separate outputs
    model = _CountingModel()
    outs = [model(x_t, t, c) for c in (cond, uncond, camera_free)]
    expected = combine_guidance(outs[0], outs[1], outs[2] if camera_scale else None, t, config)
    torch.testing.assert_close(batched, expected, rtol=1e-6, atol=1e-5)


def test_max_batch_limits_the_batched_call():
    cond, uncond, camera_free = _branches(2)
    x_t, t = torch.zeros(2, 4, 1, 1, 1), torch.tensor([10, 10])
    model = _CountingModel()
    guided_denoiser(model, cond, uncond, None, GuidanceConfig(), max_batch=3)(x_t, t)
    assert model.batches == [2, 2]
    model = _CountingModel()
    guided_denoiser(model, cond, uncond, None, GuidanceConfig(), max_batch=4)(x_t, t)
    assert model.batches == [4]


def test_concat_conditions_walks_structures_and_rejects_mismatches():
    cond, uncond, camera_free = _branches(1)
    both = concat_conditions([cond, uncond])
    assert isinstance(both, _Branch) and both.context.shape == (2, 3)
    assert both.camera.features[0].shape == (2,) and both.camera.origin_hw == (64, 64)
    merged = concat_conditions(
        [{"a": torch.ones(1, 2), "n": None, "k": 3}, {"a": torch.zeros(1, 2), "n": None, "k": 3}]
    )
    assert merged["a"].tolist() == [[1, 1], [0, 0]] and merged["n"] is None and merged["k"] == 3
    with pytest.raises(ValueError, match="cannot batch branch conditions"):
        concat_conditions([cond, camera_free])
    with pytest.raises(ValueError, match="differing values"):
        concat_conditions([{"k": 3}, {"k": 4}])


def test_missing_branches_are_rejected():
    cond, uncond, _ = _branches(1)
    with pytest.raises(ValueError, match="uncond is required"):
        guided_denoiser(_CountingModel(), cond, None, None, GuidanceConfig())
    with pytest.raises(ValueError, match="camera_free is required"):
        guided_denoiser(_CountingModel(), cond, uncond, None, GuidanceConfig(camera_scale=2.0))
    with pytest.raises(ValueError, match="guidance_rescale"):
        GuidanceConfig(guidance_rescale=1.5)
