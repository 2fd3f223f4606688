"""UNet FLOP accounting of the bench (`realcam.pipeline.benchmark`): FlopCounterMode on the meta device."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from realcam.pipeline.benchmark import cfg_branches, flop_report, peak_tflops_for, unet_flops
from realcam.pipeline.i2v import GenerationSettings
from realcam.pipeline.tiny import tiny_config


def _small_config():
    """The tiny config with a 2-level, 1-block UNet: the same layer kinds (convolutions, spatial/temporal/epipolar
    attention), fewer layers, so the meta forward is quick."""
    config = tiny_config("256", depth=False)
    unet = dataclasses.replace(config.unet, num_res_blocks=1, channel_mult=(1, 2), attention_resolutions=(1,))
    return dataclasses.replace(config, unet=unet)


def test_unet_flops_are_positive_and_grow_faster_than_frames_because_attention_counts():
    config = _small_config()
    four, eight = unet_flops(config, frames=4), unet_flops(config, frames=8)
    assert four > 0
    # Convolutions and linear layers are linear in frames; temporal and epipolar attention (SDPA) are quadratic.
    # Exactly 2x would mean the attention matmuls were not counted.
    assert eight > 2.02 * four


def test_flop_report_multiplies_by_cfg_branches_and_steps_and_reads_the_peak():
    config = _small_config()
    settings = GenerationSettings(steps=3, guidance_scale=7.5, camera_cfg=2.0)
    assert cfg_branches(settings) == 3 and cfg_branches(GenerationSettings(guidance_scale=1.0)) == 1
    report = flop_report(config, settings, denoise_s=0.5, peak_tflops=100.0)
    per_forward = report["unet_tflop_per_forward"]
    assert report["unet_tflop_per_video"] == pytest.approx(per_forward * 3 * 3, rel=1e-4)
    assert report["achieved_tflops"] == pytest.approx(report["unet_tflop_per_video"] / 0.5, rel=1e-3)
    assert report["fraction_of_peak"] == pytest.approx(report["achieved_tflops"] / 100.0, rel=1e-3)
    assert peak_tflops_for("NVIDIA H200", torch.bfloat16) == 989.0
    assert peak_tflops_for("NVIDIA H100 80GB HBM3", torch.float16) == 989.0
    assert peak_tflops_for("NVIDIA H100 PCIe", torch.float16) == 756.0
    assert peak_tflops_for("NVIDIA H200", torch.float32) is None and peak_tflops_for("Some GPU", torch.float16) is None


@pytest.mark.slow
def test_full_size_unet_flops_match_the_rough_estimate():
    """Issue estimate: ~300 TFLOP per 256x256x16 video (25 steps x 2 CFG branches)."""
    from realcam.models.realcam_i2v import RealCamI2VConfig

    per_video = unet_flops(RealCamI2VConfig.preset("256", depth=None)) * 50
    assert 250e12 < per_video < 450e12
