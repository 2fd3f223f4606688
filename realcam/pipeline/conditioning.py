"""Conditioning of the RealCam-I2V UNet, as pure functions over a `RealCamI2V` (shared by inference and training).

What the UNet sees (spec §1.7, §1.8, §1.9, §3.6):
- `context` (b 77+f*n d): text states of the prompt, then the resampled CLIP tokens of the condition image, frame-major.
- `concat` (b 4 f h w): the condition-frame latent repeated over every frame (interpolation: first and last frame
  only, zeros between), concatenated to x_t on channels.
- `fs` (b,) int64: frame stride (256 model) or frames per second (512 model).
- `camera`: pose-encoder features of the Plücker map of the metric, scaled relative poses, plus epipolar masks.

None of these functions moves the model or changes its dtype; inputs are cast to the dtype of the module that
consumes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import repeat
from torch import Tensor

from realcam.geometry.plucker import plucker_embedding
from realcam.models.camera.condition import CameraCondition
from realcam.models.camera.epipolar import (
    ZERO_TRANSLATION_EPS,
    fundamental_matrices,
    masks_from_fundamental,
    pairwise_relative_poses,
)
from realcam.models.encoders.context import build_context
from realcam.models.encoders.tokenizer import CLIPTokenizer
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig

# The app's hard-coded video rate: fps = floor(29.97 / frame_stride) (spec §3.6).
APP_VIDEO_FPS = 29.97


@dataclass(frozen=True)
class UNetCondition:
    """Everything the UNet takes besides x_t and t, for one guidance branch.

    Fields: concat (b 4 f h w) condition latent(s); context (b 77+f*n d); fs (b,) int64 or None (-> default_fs);
    camera: CameraCondition, or None for the camera-free (plain DynamiCrafter) path.
    """

    concat: Tensor
    context: Tensor
    fs: Tensor | None
    camera: CameraCondition | None

    def without_camera(self) -> UNetCondition:
        return UNetCondition(self.concat, self.context, self.fs, None)


def _param_dtype(module: torch.nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def tokenize(model: RealCamI2V, tokenizer: CLIPTokenizer, prompts: Sequence[str]) -> Tensor:
    """Token ids for the model's text tower. Shapes: prompts (b) -> (b 77) int64.

    Raises ValueError if the tokenizer produces ids outside the model's vocabulary (a tokenizer/model mismatch)."""
    ids = tokenizer(list(prompts))
    vocab = model.config.clip.text.vocab_size
    if int(ids.max()) >= vocab:
        raise ValueError(f"tokenizer produced id {int(ids.max())} but the text encoder has a vocabulary of {vocab}")
    return ids


def encode_text(model: RealCamI2V, tokens: CLIPTokenizer | Tensor, prompts: Sequence[str] | None = None) -> Tensor:
    """Penultimate-layer CLIP text states (spec §1.6).

    `tokens` is either a tokenizer (then `prompts` are tokenized) or ready token ids (b 77) int64 (then `prompts`
    must be None). Shapes: -> (b 77 d) in the text encoder's dtype; d = 1024 at full size.
    """
    if isinstance(tokens, Tensor):
        if prompts is not None:
            raise ValueError("give either token ids or a tokenizer with prompts, not both")
        ids = tokens
    else:
        if prompts is None:
            raise ValueError("prompts are required when a tokenizer is given")
        ids = tokenize(model, tokens, prompts)
    return model.cond_stage_model(ids.to(next(model.cond_stage_model.parameters()).device))


def encode_image_tokens(model: RealCamI2V, cond_frames: Tensor) -> Tensor:
    """CLIP image tokens of the condition frames, resampled to per-frame tokens (spec §1.7).

    Shapes: cond_frames (b 3 H W) in [-1, 1] -> (b f*n d), frame-major; (b 256 1024) at full size.
    The unconditional image is all zeros (mid-grey), see `unconditional_image_tokens`.
    """
    if cond_frames.ndim != 4 or cond_frames.shape[1] != 3:
        raise ValueError(f"cond_frames must be (b 3 H W) in [-1, 1], got {tuple(cond_frames.shape)}")
    clip_tokens = model.embedder(cond_frames.to(_param_dtype(model.embedder)))
    return model.image_proj_model(clip_tokens.to(_param_dtype(model.image_proj_model)))


def unconditional_image_tokens(model: RealCamI2V, cond_frames: Tensor) -> Tensor:
    """`encode_image_tokens` of an all-zero image of the same shape (the reference's unconditional image)."""
    return encode_image_tokens(model, torch.zeros_like(cond_frames))


def unet_context(text: Tensor, image_tokens: Tensor) -> Tensor:
    """[text states ; image tokens] along the token axis. Shapes: (b 77 d), (b f*n d) -> (b 77+f*n d)."""
    return build_context(text, image_tokens.to(text.dtype))


def scaled_relative_c2w(c2w: Tensor, cond_index: int = 0, scale: float = 1.0) -> Tensor:
    """Relative poses rel_i = inv(c2w_cond)·c2w_i with translations × `scale` (spec §1.9(a)).

    With metric c2w and scale 1.0 the model is conditioned on metric translations (RealCam-I2V §3.2).
    Shapes: c2w (b f 4 4) -> (b f 4 4) float32.
    """
    from realcam.geometry.se3 import relative_c2w, scale_translation

    return scale_translation(relative_c2w(c2w.float(), cond_index), scale)


def camera_condition(
    model: RealCamI2V,
    rel_c2w: Tensor,
    K: Tensor,
    pixel_hw: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    *,
    pair_translations: Tensor | None = None,
) -> CameraCondition:
    """The camera condition: Plücker map -> pose encoder features, plus epipolar masks (spec §1.9(b)-(e)).

    Shapes: rel_c2w (b f 4 4) scaled relative c2w in metres (frame `cond` = identity), K (b f 3 3) pixels of the
    model's H x W; pixel_hw = (H, W) (default: the model's). The Plücker map is built in float32 and handed to the
    pose encoder in its dtype; masks are built in float32 at `config.epipolar_strides`. `generator` feeds the
    zero-translation perturbation of the masks (1e-6·N(0,1), reference behaviour; `perturbed_pair_translations`).
    `pair_translations` (b f f 3 1), if given, are used instead of drawing (to replay a recorded run).
    """
    height, width = pixel_hw if pixel_hw is not None else model.config.pixel_hw
    device = next(model.pose_encoder.parameters()).device
    rel_c2w, K = rel_c2w.to(device=device, dtype=torch.float32), K.to(device=device, dtype=torch.float32)
    plucker = plucker_embedding(rel_c2w, K, height, width).to(_param_dtype(model.pose_encoder))
    features = tuple(model.pose_encoder(plucker))
    pairs = pairwise_relative_poses(rel_c2w)
    if pair_translations is None:
        pair_translations = perturbed_pair_translations(pairs, generator)
    F = fundamental_matrices(pairs, K, pair_translations.to(device=device, dtype=torch.float32))
    masks = masks_from_fundamental(F, height, width, model.config.epipolar_strides)
    return CameraCondition(features=features, epipolar_masks=masks, origin_hw=(height, width))


def perturbed_pair_translations(pairs_c2w: Tensor, generator: torch.Generator | None) -> Tensor:
    """Pairwise translations with every all-zero one (|t_k| < 1e-6) replaced by 1e-6·N(0, 1) (reference behaviour:
    same-frame pairs and pure rotations get a random epipolar line, spec §1.9(e)).

    The draw is made on the generator's device and moved, so a seed gives the same masks on CPU and GPU.
    Shapes: pairs_c2w (b f f 4 4) -> (b f f 3 1) float32.
    """
    t = pairs_c2w[..., :3, 3:].float()
    gen_device = generator.device if generator is not None else t.device
    noise = torch.randn(t.shape, generator=generator, dtype=torch.float32, device=gen_device).to(t.device)
    is_zero = (t.abs() < ZERO_TRANSLATION_EPS).all(dim=-2, keepdim=True)
    return torch.where(is_zero, noise * ZERO_TRANSLATION_EPS, t)


def concat_latent(z_cond: Tensor, frames: int) -> Tensor:
    """The condition-frame latent repeated over all frames (spec §1.8). Shapes: (b 4 h w) -> (b 4 f h w)."""
    if z_cond.ndim != 4:
        raise ValueError(f"z_cond must be (b c h w), got {tuple(z_cond.shape)}")
    return repeat(z_cond, "b c h w -> b c f h w", f=frames).contiguous()


def concat_latent_interp(z_first: Tensor, z_last: Tensor, frames: int) -> Tensor:
    """Interpolation layout (spec §7, `interp_mode`): frame 0 = z_first, frame f-1 = z_last, zeros between.

    Shapes: z_first, z_last (b 4 h w) -> (b 4 f h w). The released weights were not trained with this layout.
    """
    if z_first.shape != z_last.shape or z_first.ndim != 4:
        raise ValueError(f"z_first, z_last must both be (b c h w), got {tuple(z_first.shape)}, {tuple(z_last.shape)}")
    out = z_first.new_zeros(z_first.shape[0], z_first.shape[1], frames, *z_first.shape[2:])
    out[:, :, 0] = z_first
    out[:, :, -1] = z_last
    return out


def fps_from_frame_stride(frame_stride: int) -> int:
    """The app's fps for a frame stride: floor(29.97 / stride) (spec §3.6; 29, 14, 9, 7, 5, ... for 1, 2, 3, ...)."""
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    return math.floor(APP_VIDEO_FPS / frame_stride)


def fs_value(config: RealCamI2VConfig, frame_stride: int | None = None, fps: int | None = None) -> int:
    """The integer fs the UNet embeds (spec §3.6): the frame stride for 'fs' models (256), the fps for 'fps' models
    (512; from `fps`, else floor(29.97 / frame_stride)); `default_fs` when neither is given."""
    if config.fps_condition_type == "fs":
        if fps is not None:
            raise ValueError("this model is conditioned on the frame stride; pass frame_stride, not fps")
        return int(frame_stride) if frame_stride is not None else config.default_fs
    if fps is not None:
        return int(fps)
    return fps_from_frame_stride(frame_stride) if frame_stride is not None else config.default_fs


def fs_tensor(
    config: RealCamI2VConfig,
    frame_stride: int | None = None,
    fps: int | None = None,
    *,
    batch: int = 1,
    device: torch.device | str | None = None,
) -> Tensor:
    """`fs_value` as the UNet input. Shapes: -> (batch,) int64."""
    return torch.full((batch,), fs_value(config, frame_stride, fps), dtype=torch.int64, device=device)


def apply_unet(model: RealCamI2V, x_t: Tensor, t: Tensor, condition: UNetCondition) -> Tensor:
    """One UNet call: input = [x_t ; concat] on channels. Shapes: x_t (b 4 f h w), t (b,) -> (b 4 f h w), eps or v.

    This is the `model_fn` the guidance wrapper calls (`realcam.diffusion.guidance.guided_denoiser`)."""
    dtype = _param_dtype(model.unet)
    x = torch.cat([x_t, condition.concat.to(x_t.dtype)], dim=1).to(dtype)
    out = model.unet(x, t, condition.context.to(dtype), fs=condition.fs, camera=condition.camera)
    return out.to(x_t.dtype)
