"""A tiny RealCam-I2V (random weights) for tests and `realcam bench --size tiny`.

The sizes are those of the parity "micro" models (tests/fixtures/parity/README.md §3), written out here so nothing
reads the test fixtures: UNet widths 32/32/32/64 with 16-channel heads and a 32-wide context, VAE ch 32 with ch_mult
1,1,1,2, CLIP towers 32 wide with 2 blocks, resampler 32 wide, pose encoder 32/32/32/64, DA-V2 with a 16-wide
encoder. Pixels are 64x64 (256 variant) or 64x128 (512 variant), 16 frames, 8x downsampling, every released flag and
the released diffusion setup of the variant. Two deliberate differences from the micro models: the text vocabulary is
the tokenizer of `tiny_tokenizer` (512 byte tokens + start/end = 514 ids) and the depth encoder has 4 blocks instead
of 24 (it only has to produce a depth map quickly).
"""

from __future__ import annotations

import dataclasses

import torch

from realcam.models.camera.pose_encoder import PoseEncoderConfig
from realcam.models.depth.depth_anything import DepthAnythingConfig
from realcam.models.depth.dinov2 import DinoV2Config
from realcam.models.encoders.clip_config import CLIPTextConfig, CLIPVisionConfig, OpenCLIPConfig
from realcam.models.encoders.resampler import ResamplerConfig
from realcam.models.encoders.tokenizer import CLIPTokenizer, base_vocabulary
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig
from realcam.models.unet.unet import UNetConfig
from realcam.models.vae import AutoencoderKLConfig

TINY_PIXEL_HW = {"256": (64, 64), "512": (64, 128)}
TINY_VOCAB_SIZE = 514  # 512 byte-level base tokens, then <start_of_text>, <end_of_text>


def tiny_tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer without merges: ids 0-511 are the base tokens, 512 start, 513 end of text."""
    vocab = base_vocabulary()
    encoder = {token: i for i, token in enumerate(vocab)}
    encoder["<start_of_text>"] = len(vocab)
    encoder["<end_of_text>"] = len(vocab) + 1
    return CLIPTokenizer(encoder, [], sot_id=len(vocab), eot_id=len(vocab) + 1)


def tiny_config(variant: str = "256", *, depth: bool = True) -> RealCamI2VConfig:
    """The tiny model config of `variant` ('256' or '512'), see the module docstring."""
    full = RealCamI2VConfig.preset(variant, depth=None)
    unet = dataclasses.replace(
        UNetConfig.preset(variant), model_channels=32, channel_mult=(1, 1, 1, 2), num_head_channels=16, context_dim=32
    )
    clip = OpenCLIPConfig(
        embed_dim=32,
        text=CLIPTextConfig(context_length=77, vocab_size=TINY_VOCAB_SIZE, width=32, heads=2, layers=2),
        vision=CLIPVisionConfig(image_size=224, patch_size=14, width=32, layers=2, head_width=16),
    )
    depth_config = None
    if depth:
        encoder = DinoV2Config(embed_dim=16, depth=4, num_heads=2)
        depth_config = DepthAnythingConfig(
            encoder=encoder, features=8, out_channels=(4, 8, 16, 16), intermediate_layers=(0, 1, 2, 3)
        )
    return dataclasses.replace(
        full,
        name=f"tiny-{variant}",
        pixel_hw=TINY_PIXEL_HW[variant],
        unet=unet,
        vae=dataclasses.replace(AutoencoderKLConfig.kl_f8(), base_channels=32, channel_mult=(1, 1, 1, 2)),
        clip=clip,
        resampler=ResamplerConfig(dim=32, dim_head=16, heads=2, embedding_dim=32, output_dim=32),
        pose_encoder=dataclasses.replace(PoseEncoderConfig.full(), channels=(32, 32, 32, 64)),
        depth=depth_config,
    )


def random_weights_(model: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """Overwrite every parameter with seeded random values, in place, so zero-initialised paths are live.

    Values: 1 + 0.1·N for 1-d `weight`/`gamma` (norm scales), 0.05·N for other 1-d and 0-d tensors, N/√fan_in for
    the rest (the parity fixtures' recipe). Depth head's last conv is scaled by 0.2 so its sigmoid is not saturated.
    """
    with torch.no_grad():
        for name, param in model.named_parameters():
            draw = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.ndim <= 1:
                is_scale = name.endswith(("weight", "gamma")) and param.ndim == 1
                value = 1 + 0.1 * draw if is_scale else 0.05 * draw
            else:
                fan_in = param[0].numel() if param.shape[0] != 1 else param.shape[-1]
                value = draw / fan_in**0.5
            if name.endswith("depth_head.scratch.output_conv2.2.weight"):
                value = value * 0.2
            param.copy_(value.to(param.dtype))
    return model


def tiny_model(variant: str = "256", *, seed: int = 0, depth: bool = True) -> RealCamI2V:
    """A tiny RealCam-I2V with seeded random weights (float32, CPU, eval mode)."""
    model = RealCamI2V(tiny_config(variant, depth=depth))
    return random_weights_(model, torch.Generator().manual_seed(seed)).eval()
