"""Scene-constrained noise shaping (RealCam-I2V paper §3.3; spec §4.3).

Before the model call of every DDIM step whose timestep τ ≥ t0 (inclusive; 900 in the app), the latent is pulled
towards the rendered preview of the metric scene where the preview is reliable:
    x_τ ← m·(√ᾱ_τ·z_preview + √(1−ᾱ_τ)·ε) + (1 − m)·x_τ,     ε ~ N(0, I) drawn fresh at each such step,
with m the (eroded, downsampled) visibility mask. Only x_τ changes; the predicted x0 is not pasted. √ᾱ_τ and √(1−ᾱ_τ)
are the schedule's float32 buffers at τ, as in the reference's q_sample. The shaped latent feeds every guidance branch.
For the zero-terminal-SNR model √ᾱ_999 = 0, so the step at τ = 999 only re-noises the masked cells (reference
behaviour, kept).

z_preview and the mask are built elsewhere (preview render → stochastic VAE encode with frame 0 replaced by the
conditioning latent; visibility → 5×5 erosion → align-corners bilinear resize → threshold 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.diffusion.ddim import NoiseSource, StepHook
from realcam.diffusion.prediction import q_sample
from realcam.diffusion.schedule import DiffusionSchedule


@dataclass(frozen=True)
class NoiseShaping:
    """Inputs of noise shaping.

    Fields:
        z_preview: latent of the rendered scene preview, (b 4 f h w), same layout as the sampled latent.
        mask: bool, True where the preview is trusted: (b 1 f h w) (broadcast over channels) or (f h w) (shared by
            the batch and channels).
        t0: shaping runs at every visited timestep τ ≥ t0 (default 900, the app's default).
    """

    z_preview: Tensor
    mask: Tensor
    t0: int = 900

    def __post_init__(self) -> None:
        if self.z_preview.ndim != 5:
            raise ValueError(f"z_preview must be (b c f h w), got shape {tuple(self.z_preview.shape)}")
        if self.mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got {self.mask.dtype}")
        b, _, f, h, w = self.z_preview.shape
        if tuple(self.mask.shape) not in ((b, 1, f, h, w), (f, h, w)):
            raise ValueError(
                f"mask must have shape {(b, 1, f, h, w)} or {(f, h, w)} for z_preview {tuple(self.z_preview.shape)}, "
                f"got {tuple(self.mask.shape)}"
            )
        if not 0 <= self.t0:
            raise ValueError(f"t0 must be >= 0, got {self.t0}")

    def applies_at(self, t: int) -> bool:
        return t >= self.t0


def blend_scene_noise(
    x_t: Tensor, z_preview: Tensor, mask: Tensor, eps: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor
) -> Tensor:
    """x ← m·(√ᾱ·z_preview + √(1−ᾱ)·eps) + (1 − m)·x, written as a select so unmasked cells stay bit-identical.

    Shapes: x_t, z_preview, eps (b c f h w); mask bool broadcastable to them; coefficients 0-d -> (b c f h w).
    """
    noised_preview = q_sample(z_preview, eps, sqrt_alpha, sqrt_one_minus_alpha)
    return torch.where(mask, noised_preview.to(x_t.dtype), x_t)


def noise_shaping_hook(shaping: NoiseShaping, schedule: DiffusionSchedule) -> StepHook:
    """A `ddim_sample(on_step=...)` hook applying `shaping` at every τ ≥ t0, drawing ε from the sampler's noise."""
    sqrt_alphas = schedule.sqrt_alphas_cumprod_f32()
    sqrt_one_minus_alphas = schedule.sqrt_one_minus_alphas_cumprod_f32()

    def hook(x_t: Tensor, t: int, noise: NoiseSource) -> Tensor:
        if not shaping.applies_at(t):
            return x_t
        if shaping.z_preview.shape != x_t.shape:
            raise ValueError(
                f"z_preview shape {tuple(shaping.z_preview.shape)} does not match the latent {tuple(x_t.shape)}"
            )
        eps = noise(x_t)
        z_preview = shaping.z_preview.to(device=x_t.device, dtype=x_t.dtype)
        mask = shaping.mask.to(x_t.device)
        return blend_scene_noise(x_t, z_preview, mask, eps, sqrt_alphas[t], sqrt_one_minus_alphas[t])

    return hook
