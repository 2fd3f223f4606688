"""CameraCondition hands each temporal block its epipolar mask padded for the register tokens, once per generation."""

from __future__ import annotations

import torch

from realcam.models.camera.condition import CameraCondition
from realcam.models.unet.attention import EpipolarCrossAttention


def _condition() -> CameraCondition:
    generator = torch.Generator().manual_seed(0)
    masks = {8: torch.rand(1, 12, 12, generator=generator) > 0.5, 16: torch.rand(1, 3, 3, generator=generator) > 0.5}
    return CameraCondition(features=(), epipolar_masks=masks, origin_hw=(16, 32))


def test_padded_mask_is_built_once_and_has_true_register_columns():
    condition = _condition()
    padded = condition.mask_for_height(2, register_tokens=4)
    assert padded.shape == (1, 12, 16)
    assert padded[..., :4].all()
    assert torch.equal(padded[..., 4:], condition.epipolar_masks[8])
    assert condition.mask_for_height(2, register_tokens=4) is padded  # cached, not rebuilt per block or step
    assert condition.mask_for_height(2) is condition.epipolar_masks[8]
    assert condition.mask_for_height(1, register_tokens=4).shape == (1, 3, 7)  # stride 16
    assert condition.mask_for_height(4, register_tokens=4) is None  # stride 4: none built = full attention


def test_attention_with_prepadded_mask_equals_padding_inside():
    torch.manual_seed(0)
    attention = EpipolarCrossAttention(dim=16, heads=2, dim_head=8, num_register_tokens=4)
    torch.nn.init.normal_(attention.to_out[0].weight)  # the plug-in starts as a no-op; make the output visible
    x = torch.randn(2, 12, 16)
    condition = _condition()
    plain = attention(x, condition.epipolar_masks[8])
    prepadded = attention(x, condition.mask_for_height(2, register_tokens=4))
    torch.testing.assert_close(prepadded, plain, rtol=0, atol=0)
    assert not torch.allclose(plain, attention(x, None))  # the mask matters
