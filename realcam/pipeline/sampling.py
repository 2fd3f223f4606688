"""The denoising loop of a generation: guidance around the UNet, DDIM, noise shaping and continuation pasting.

Per visited timestep τ (reference order, spec §3.4): (1) continuation paste of the known frames (if any), (2) scene
noise shaping (τ ≥ t0), (3) the guided model call, (4) DDIM update (x̂0 of the known frames replaced by their clean
latents). The guidance branches (spec §3.5):
- conditional: prompt text + image tokens, concat latent, fs, camera condition;
- unconditional: negative-prompt text + image tokens of a zero (mid-grey) image, the SAME concat latent, fs and
  camera condition. Reference behaviour: the reference keeps the camera in the unconditional branch (it deep-copies
  the camera condition into it), so text/image CFG does not push along the camera; camera guidance comes only from
  the optional camera CFG, whose extra branch is the conditional one without camera.
Conditional and unconditional branches run as one batched forward pass unless `max_batch` forbids it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from realcam.diffusion.ddim import DDIMStep, NoiseSource, StepHook, chain_hooks, ddim_sample
from realcam.diffusion.guidance import GuidanceConfig, guided_denoiser
from realcam.diffusion.prediction import q_sample
from realcam.diffusion.schedule import DiffusionSchedule, Spacing
from realcam.models.realcam_i2v import RealCamI2V
from realcam.pipeline.conditioning import UNetCondition, apply_unet
from realcam.pipeline.noise_shaping import NoiseShaping, noise_shaping_hook


@dataclass(frozen=True)
class SamplerSettings:
    """DDIM + guidance settings. Defaults: 25 trailing steps, η = 1 (the app), CFG 7.5 with rescale 0.7 (configs).

    `max_batch`: largest batch of one UNet call; None batches the conditional and unconditional branches together,
    1 runs them one after the other (the reference's way, less memory).
    """

    steps: int = 25
    eta: float = 1.0
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    spacing: Spacing = "uniform_trailing"
    max_batch: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 1000):
            raise ValueError(f"steps must be an integer in [1, 1000], got {self.steps!r}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")


@dataclass(frozen=True)
class Continuation:
    """Known leading frames of the clip (paste-overlap, spec §7): their clean latents z_known (b 4 k h w).

    At every step the first k frames of x_t are replaced by q_sample(z_known, τ, fresh ε) and the first k frames of
    x̂0 by z_known; the final sample's first k frames are z_known.
    """

    z_known: Tensor

    @property
    def frames(self) -> int:
        return int(self.z_known.shape[2])


def continuation_hooks(
    continuation: Continuation, schedule: DiffusionSchedule
) -> tuple[StepHook, Callable[[Tensor, int], Tensor]]:
    """(on_step, on_pred_x0) hooks of `ddim_sample` that paste the known frames (see `Continuation`)."""
    sqrt_alphas = schedule.sqrt_alphas_cumprod_f32()
    sqrt_one_minus = schedule.sqrt_one_minus_alphas_cumprod_f32()
    k = continuation.frames

    def on_step(x_t: Tensor, t: int, noise: NoiseSource) -> Tensor:
        known = continuation.z_known.to(device=x_t.device, dtype=x_t.dtype)
        noised = q_sample(known, noise(known), sqrt_alphas[t], sqrt_one_minus[t])
        return torch.cat([noised.to(x_t.dtype), x_t[:, :, k:]], dim=2)

    def on_pred_x0(pred_x0: Tensor, t: int) -> Tensor:
        known = continuation.z_known.to(device=pred_x0.device, dtype=pred_x0.dtype)
        return torch.cat([known, pred_x0[:, :, k:]], dim=2)

    return on_step, on_pred_x0


def sample_latents(
    model: RealCamI2V,
    x_T: Tensor,
    cond: UNetCondition,
    uncond: UNetCondition | None,
    settings: SamplerSettings,
    *,
    generator: torch.Generator | None = None,
    noise: NoiseSource | None = None,
    shaping: NoiseShaping | None = None,
    continuation: Continuation | None = None,
    on_step_end: Callable[[DDIMStep], None] | None = None,
) -> Tensor:
    """Run guided DDIM with the model from x_T (module docstring for the order of operations).

    Shapes: x_T (b 4 f h w) -> latents (b 4 f h w). `uncond` is required iff the CFG scale is not 1. Randomness comes
    from exactly one of `generator` or `noise` (e.g. `RecordedNoise` to replay a logged run).
    """
    schedule = model.config.schedule()
    timesteps = schedule.ddim_timesteps(settings.steps, settings.spacing)
    camera_free = cond.without_camera() if settings.guidance.uses_camera_free else None
    if settings.guidance.uses_camera_free and cond.camera is None:
        raise ValueError("camera CFG needs a camera condition")
    denoise = guided_denoiser(
        functools.partial(apply_unet, model), cond, uncond, camera_free, settings.guidance, settings.max_batch
    )
    hooks: list[StepHook] = []
    on_pred_x0 = None
    if continuation is not None:
        paste, on_pred_x0 = continuation_hooks(continuation, schedule)
        hooks.append(paste)
    if shaping is not None:
        hooks.append(noise_shaping_hook(shaping, schedule))
    with torch.no_grad():
        x = ddim_sample(
            denoise,
            x_T,
            schedule,
            timesteps,
            eta=settings.eta,
            generator=generator,
            noise=noise,
            on_step=chain_hooks(*hooks) if hooks else None,
            on_pred_x0=on_pred_x0,
            on_step_end=on_step_end,
        )
    if continuation is not None:
        x = torch.cat([continuation.z_known.to(device=x.device, dtype=x.dtype), x[:, :, continuation.frames :]], dim=2)
    return x
