"""Checkpoint contract: the full-size UNets built on the meta device have exactly the reference keys and shapes."""

from __future__ import annotations

import pytest
import torch
from reference_keys import reference_key_shapes

from realcam.models.unet import UNetConfig, UNetModel

PREFIX = "model.diffusion_model."


def meta_unet(resolution: str) -> UNetModel:
    with torch.device("meta"):
        return UNetModel(UNetConfig.preset(resolution))


@pytest.mark.parametrize("resolution", ["256", "512"])
def test_full_size_keys_and_shapes_match_reference(resolution):
    expected = reference_key_shapes(resolution, PREFIX)
    actual = {k: tuple(v.shape) for k, v in meta_unet(resolution).state_dict().items()}
    assert sorted(set(expected) - set(actual)) == []  # missing
    assert sorted(set(actual) - set(expected)) == []  # unexpected
    assert {k: v for k, v in actual.items() if v != expected[k]} == {}
    assert len(actual) == {"256": 1660, "512": 1644}[resolution]


@pytest.mark.parametrize(("resolution", "base"), [("256", 1_438_854_996), ("512", 1_438_854_980)])
def test_full_size_parameter_counts(resolution, base):
    model = meta_unet(resolution)
    camera = sum(p.numel() for n, p in model.named_parameters() if ".pluker_projection." in n or ".epipolar." in n)
    total = sum(p.numel() for p in model.parameters())
    assert camera == 62_026_880
    assert total - camera == base


def test_camera_free_unet_has_only_base_keys():
    from dataclasses import replace

    with torch.device("meta"):
        model = UNetModel(replace(UNetConfig.preset("256"), camera=None))
    keys = set(model.state_dict())
    assert not any("pluker_projection" in k or "epipolar" in k for k in keys)
    assert len(keys) == 1660 - 128


def test_sixteen_injected_blocks_in_reference_order():
    model = meta_unet("256")
    injected = [n for n, m in model.named_modules() if n.endswith("transformer_blocks.0") and hasattr(m, "epipolar")]
    expected = (
        [f"input_blocks.{i}.2.transformer_blocks.0" for i in (1, 2, 4, 5, 7, 8)]
        + ["middle_block.2.transformer_blocks.0"]
        + [f"output_blocks.{i}.2.transformer_blocks.0" for i in range(3, 12)]
    )
    assert injected == expected
    levels = [model.get_submodule(n.removesuffix(".transformer_blocks.0")).camera_level for n in injected]
    assert levels == [0, 0, 1, 1, 2, 2, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0]
