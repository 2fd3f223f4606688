"""Classifier-free guidance (Ho & Salimans 2022) with guidance rescale (Lin et al. 2024, §3.4) and camera CFG,
as a wrapper that turns a conditional model into a plain `denoise(x_t, t)` for the sampler.

Combination (spec §3.5; c, u, n = model outputs of the conditional, unconditional and camera-free branches,
s = text_image_scale, s_cam = camera_scale, r = guidance_rescale):
    o = u + s·(c − u)                                    (text + image CFG; o = c when s = 1 and u is not run)
    o ← o + (s_cam − 1)·w(t)·(c − n)                      (camera CFG, only when s_cam is set and ≠ 1)
            w = 1 ("constant", the reference default) or cos((1 − t/(T−1))·π/2) ("cosine")
    o ← r·o·std(c)/std(o) + (1 − r)·o                     (guidance rescale, only when s ≠ 1 and r > 0)
std is the unbiased standard deviation over all non-batch dimensions, per sample. All of this acts on the raw model
output: eps for the 256 model, v for the 512 model (before any v → eps conversion).

Reference behaviour: the unconditional branch drops only the text and CLIP-image tokens and KEEPS the camera
condition (the reference deep-copies it into the unconditional inputs). Build `uncond` with the same camera condition
as `cond`; camera guidance then comes only from camera CFG with a camera-free branch. The reference applies the cosine
weight with a shape that is only right for batch 1; here it is per sample.

The branches are opaque to this module: `model_fn(x_t, t, condition)` receives one of `cond`, `uncond`, `camera_free`,
or a batch-concatenation of several (see `concat_conditions`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch
from torch import Tensor

from realcam.diffusion.ddim import Denoiser

C = TypeVar("C")
ModelFn = Callable[[Tensor, Tensor, Any], Tensor]
"""`model_fn(x_t, t, condition)`: x_t (b c f h w), t (b,) int64 -> raw model output (b c f h w)."""


@dataclass(frozen=True)
class GuidanceConfig:
    """Guidance settings. Defaults are the reference configs' (scale 7.5; the app's slider default is 5.5).

    Fields:
        text_image_scale: CFG scale s for text + image conditioning; 1 disables it (no unconditional pass).
        camera_scale: camera CFG scale; None or 1.0 = off (no camera-free pass), as in the reference app.
        guidance_rescale: r in [0, 1]; 0.7 in the reference; 0 disables the rescale.
        camera_schedule: "constant" (w = 1, the only one the reference uses) or "cosine".
        num_train_timesteps: T, for the cosine weight.
    """

    text_image_scale: float = 7.5
    camera_scale: float | None = None
    guidance_rescale: float = 0.7
    camera_schedule: Literal["constant", "cosine"] = "constant"
    num_train_timesteps: int = 1000

    def __post_init__(self) -> None:
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")
        if self.camera_schedule not in ("constant", "cosine"):
            raise ValueError(f"camera_schedule must be 'constant' or 'cosine', got {self.camera_schedule!r}")

    @property
    def uses_uncond(self) -> bool:
        return self.text_image_scale != 1.0

    @property
    def uses_camera_free(self) -> bool:
        return self.camera_scale is not None and self.camera_scale != 1.0


def rescale_guidance(guided: Tensor, cond_out: Tensor, guidance_rescale: float) -> Tensor:
    """o ← r·o·std(c)/std(o) + (1 − r)·o, std unbiased over all non-batch dims (Lin et al. 2024, eq. 15-16).

    Shapes: guided, cond_out (b ...) -> (b ...).
    """
    dims = list(range(1, guided.ndim))
    ratio = cond_out.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True)
    return guidance_rescale * (guided * ratio) + (1.0 - guidance_rescale) * guided


def camera_weight(t: Tensor, config: GuidanceConfig) -> Tensor:
    """The camera-CFG weight w(t) per sample. Shapes: t (b,) int64 -> (b,) float32."""
    if config.camera_schedule == "constant":
        return torch.ones(t.shape, dtype=torch.float32, device=t.device)
    progress = 1.0 - t.to(torch.float32) / (config.num_train_timesteps - 1)
    return torch.cos(progress * (math.pi / 2))


def combine_guidance(
    cond_out: Tensor,
    uncond_out: Tensor | None,
    camera_free_out: Tensor | None,
    t: Tensor,
    config: GuidanceConfig,
) -> Tensor:
    """Combine branch outputs with the module-docstring formula. Branches the config does not use must be None.

    Shapes: *_out (b c f h w); t (b,) -> (b c f h w).
    """
    if (uncond_out is None) == config.uses_uncond:
        raise ValueError(f"uncond_out must be given iff text_image_scale != 1 (scale {config.text_image_scale})")
    if (camera_free_out is None) == config.uses_camera_free:
        raise ValueError(f"camera_free_out must be given iff camera CFG is on (camera_scale {config.camera_scale})")
    out = cond_out
    if uncond_out is not None:
        out = uncond_out + config.text_image_scale * (cond_out - uncond_out)
    if camera_free_out is not None:
        assert config.camera_scale is not None
        w = camera_weight(t, config).to(cond_out.dtype).reshape(-1, *([1] * (cond_out.ndim - 1)))
        out = out + (config.camera_scale - 1.0) * w * (cond_out - camera_free_out)
    if uncond_out is not None and config.guidance_rescale > 0.0:
        out = rescale_guidance(out, cond_out, config.guidance_rescale)
    return out


def concat_conditions(conditions: Sequence[C]) -> C:
    """Concatenate several branch conditions along the batch, structurally.

    Tensors are concatenated along dim 0 (every tensor leaf must have the batch first); dataclasses, mappings, lists
    and tuples are walked field by field; None must be None in every branch; any other leaf (int, str, ...) must be
    equal in every branch and is kept once. Raises ValueError when the structures differ (e.g. a camera condition in
    one branch and None in another).
    """
    first = conditions[0]
    if isinstance(first, Tensor):
        if not all(isinstance(c, Tensor) for c in conditions):
            raise ValueError("cannot batch branch conditions: a tensor in one branch is not a tensor in another")
        return torch.cat(list(conditions), dim=0)  # type: ignore[return-value]
    if first is None:
        if any(c is not None for c in conditions):
            raise ValueError("cannot batch branch conditions: None in one branch, a value in another")
        return first
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        if any(type(c) is not type(first) for c in conditions):
            raise ValueError(f"cannot batch branch conditions of different types {[type(c) for c in conditions]}")
        values = {
            f.name: concat_conditions([getattr(c, f.name) for c in conditions])
            for f in dataclasses.fields(first)
            if f.init
        }
        return type(first)(**values)
    if isinstance(first, Mapping):
        if any(not isinstance(c, Mapping) or set(c) != set(first) for c in conditions):
            raise ValueError("cannot batch branch conditions: mappings with different keys")
        return {key: concat_conditions([c[key] for c in conditions]) for key in first}  # type: ignore[return-value]
    if isinstance(first, (list, tuple)):
        if any(type(c) is not type(first) or len(c) != len(first) for c in conditions):
            raise ValueError("cannot batch branch conditions: sequences of different types or lengths")
        return type(first)(concat_conditions(list(items)) for items in zip(*conditions, strict=True))
    if any(c != first for c in conditions):
        raise ValueError(f"cannot batch branch conditions: differing values {conditions!r}")
    return first


def guided_denoiser(
    model_fn: ModelFn,
    cond: Any,
    uncond: Any,
    camera_free: Any,
    config: GuidanceConfig,
    max_batch: int | None = None,
    *,
    cat_conditions: Callable[[Sequence[Any]], Any] = concat_conditions,
) -> Denoiser:
    """Wrap `model_fn` into `denoise(x_t, t)` returning the guided raw output (module docstring).

    `uncond` may be None iff text_image_scale == 1, `camera_free` may be None iff camera CFG is off.
    Batching: the conditional and unconditional branches (same network path, both with camera) run as ONE forward
    pass on the batch-concatenation [cond; uncond] of inputs and conditions, when 2·b ≤ max_batch (max_batch=None:
    no limit); otherwise, and always for the camera-free branch (a different network path), branches run as separate
    calls. max_batch=1 reproduces the reference's sequential batch-1 calls. A branch is never split.
    Shapes: x_t (b c f h w), t (b,) int64 -> (b c f h w).
    """
    if uncond is None and config.uses_uncond:
        raise ValueError(f"uncond is required when text_image_scale != 1 (got {config.text_image_scale})")
    if camera_free is None and config.uses_camera_free:
        raise ValueError(f"camera_free is required when camera_scale is set (got {config.camera_scale})")
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 or None, got {max_batch}")

    def denoise(x_t: Tensor, t: Tensor) -> Tensor:
        batch = x_t.shape[0]
        if config.uses_uncond and (max_batch is None or 2 * batch <= max_batch):
            both = model_fn(torch.cat([x_t, x_t]), torch.cat([t, t]), cat_conditions([cond, uncond]))
            cond_out, uncond_out = both.split(batch, dim=0)
        else:
            cond_out = model_fn(x_t, t, cond)
            uncond_out = model_fn(x_t, t, uncond) if config.uses_uncond else None
        camera_free_out = model_fn(x_t, t, camera_free) if config.uses_camera_free else None
        return combine_guidance(cond_out, uncond_out, camera_free_out, t, config)

    return denoise
