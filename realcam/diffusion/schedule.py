"""Diffusion noise schedules: scaled-linear betas, zero-terminal-SNR rescale, the reference buffers, DDIM timesteps.

Notation (DDPM, Ho et al. 2020): β_t the per-step variance, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s (`alphas_cumprod`), and
x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·eps. `t` is an integer training timestep in [0, T−1] with T = 1000.

The schedule is kept in float64 (as the reference computes it) and handed out in float32 where the reference registers
float32 buffers; the samplers use the float32 values, so they see exactly what the reference sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Parameterization = Literal["eps", "v"]
Spacing = Literal["uniform_trailing", "uniform"]

# Names of the 12 schedule buffers the reference model registers (in registration order), 1000 float32 values each.
REFERENCE_BUFFER_NAMES = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
)


def scaled_linear_betas(timesteps: int, linear_start: float, linear_end: float) -> Tensor:
    """β_t = (√start + (√end − √start)·t/(T−1))², t = 0..T−1 ("linear" in LDM, "scaled_linear" in diffusers).

    Shapes: -> (T,) float64.
    """
    return torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2


def rescale_zero_terminal_snr(betas: Tensor) -> Tensor:
    """Shift and scale √ᾱ so that √ᾱ_{T−1} = 0 while √ᾱ_0 is kept (Lin et al. 2024, "Common Diffusion Noise
    Schedules and Sample Steps are Flawed", Algorithm 1), and return the betas of the rescaled schedule.

    s = √ᾱ;  s ← (s − s_{T−1})·s_0/(s_0 − s_{T−1});  ᾱ = s²;  α_0 = ᾱ_0, α_t = ᾱ_t/ᾱ_{t−1};  β = 1 − α.
    Shapes: betas (T,) float64 -> (T,) float64; the last beta is exactly 1.
    """
    sqrt_alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_alphas_cumprod[0].clone(), sqrt_alphas_cumprod[-1].clone()
    sqrt_alphas_cumprod = (sqrt_alphas_cumprod - last) * (first / (first - last))
    alphas_cumprod = sqrt_alphas_cumprod**2
    alphas = torch.cat([alphas_cumprod[:1], alphas_cumprod[1:] / alphas_cumprod[:-1]])
    return 1.0 - alphas


def dynamic_rescale_array(timesteps: int, base_scale: float, turning_step: int = 400) -> Tensor:
    """The reference's `scale_arr`: linspace(1, base_scale, turning_step) followed by T × base_scale.

    Training multiplies x0 by scale_arr[t]; DDIM undoes the ratio between consecutive sampled steps (spec §3.3).
    Shapes: -> (turning_step + T,) float64 (1400 entries for the 512 model).
    """
    ramp = torch.linspace(1.0, base_scale, turning_step, dtype=torch.float64)
    return torch.cat([ramp, torch.full((timesteps,), base_scale, dtype=torch.float64)])


def ddim_timesteps(num_steps: int, spacing: Spacing = "uniform_trailing", *, num_train_timesteps: int = 1000) -> Tensor:
    """The training timesteps a DDIM run visits, ascending (sampling goes from the last one down).

    - "uniform_trailing" (what inference uses): c = T/S, τ = round(T, T−c, …, c) − 1. S=25 gives [39, 79, …, 999].
    - "uniform": range(0, T, T//S) + 1. S=25 gives [1, 41, …, 961].
    Shapes: -> (S,) int64.
    """
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_train_timesteps}], got {num_steps}")
    if spacing == "uniform_trailing":
        stride = num_train_timesteps / num_steps
        # Reference behaviour: the grid is numpy's arange(T, 0, −c), whose i-th value is T + i·δ with
        # δ = (T − c) − T (not −c); this decides the rounding of exact halves such as 62.5 (S = 48). torch.round
        # rounds half to even like numpy.
        delta = (num_train_timesteps - stride) - num_train_timesteps
        grid = num_train_timesteps + torch.arange(num_steps, dtype=torch.float64) * delta
        # Reference bug not copied: floating fuzz can make arange return S+1 values, the last rounding to
        # timestep −1 (e.g. S = 61); we always return exactly S timesteps.
        return (torch.round(grid).to(torch.int64) - 1).flip(0)
    if spacing == "uniform":
        return torch.arange(0, num_train_timesteps, num_train_timesteps // num_steps, dtype=torch.int64) + 1
    raise ValueError(f"spacing must be 'uniform_trailing' or 'uniform', got {spacing!r}")


@dataclass(frozen=True)
class DiffusionSchedule:
    """A discrete diffusion schedule and the model's output parameterisation.

    Fields:
        parameterization: "eps" (the 256 model) or "v" (the 512 model; v = √ᾱ·eps − √(1−ᾱ)·x0).
        zero_terminal_snr: whether the betas were rescaled so that ᾱ_{T−1} = 0 (the 512 model).
        betas: (T,) float64.
        alphas_cumprod: (T,) float64, ᾱ_t = ∏(1 − β).
        scale_arr: (T + turning_step,) float64 dynamic-rescale factors (512 model: base 0.7, turning step 400), or
            None when dynamic rescale is off (256 model).
    """

    parameterization: Parameterization
    zero_terminal_snr: bool
    betas: Tensor
    alphas_cumprod: Tensor
    scale_arr: Tensor | None = None

    def __post_init__(self) -> None:
        if self.parameterization not in ("eps", "v"):
            raise ValueError(f"parameterization must be 'eps' or 'v', got {self.parameterization!r}")
        if self.betas.ndim != 1 or self.alphas_cumprod.shape != self.betas.shape:
            raise ValueError(
                f"betas and alphas_cumprod must be 1-d of equal length, got {tuple(self.betas.shape)} and "
                f"{tuple(self.alphas_cumprod.shape)}"
            )

    @classmethod
    def make(
        cls,
        parameterization: Parameterization,
        *,
        zero_terminal_snr: bool,
        timesteps: int = 1000,
        linear_start: float = 0.00085,
        linear_end: float = 0.012,
        dynamic_rescale_base_scale: float | None = None,
        dynamic_rescale_turning_step: int = 400,
    ) -> DiffusionSchedule:
        """Build the reference schedule. 256 model: `make("eps", zero_terminal_snr=False)`; 512 model:
        `make("v", zero_terminal_snr=True, dynamic_rescale_base_scale=0.7)`."""
        betas = scaled_linear_betas(timesteps, linear_start, linear_end)
        if zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        # Reference behaviour: ᾱ is recomputed as the cumulative product of the (rescaled) betas, not taken from s².
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        scale_arr = None
        if dynamic_rescale_base_scale is not None:
            scale_arr = dynamic_rescale_array(timesteps, dynamic_rescale_base_scale, dynamic_rescale_turning_step)
        return cls(parameterization, zero_terminal_snr, betas, alphas_cumprod, scale_arr)

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def ddim_timesteps(self, num_steps: int, spacing: Spacing = "uniform_trailing") -> Tensor:
        """See the module function `ddim_timesteps`; uses this schedule's T."""
        return ddim_timesteps(num_steps, spacing, num_train_timesteps=self.num_timesteps)

    def reference_buffers(self) -> dict[str, Tensor]:
        """The buffers the reference model registers, under its names, float32: the 12 of REFERENCE_BUFFER_NAMES
        (T values each) plus `scale_arr` when dynamic rescale is on.

        For the v parameterisation the reference registers `sqrt_recip_alphas_cumprod` and
        `sqrt_recipm1_alphas_cumprod` as zeros; so do we (strict loading and parity need the same values).
        """
        betas, acp = self.betas, self.alphas_cumprod
        acp_prev = torch.cat([torch.ones(1, dtype=acp.dtype), acp[:-1]])
        # DDPM posterior q(x_{t-1} | x_t, x0) (Ho et al. eq. 6-7), with v_posterior = 0.
        posterior_variance = betas * (1.0 - acp_prev) / (1.0 - acp)
        out = {
            "betas": betas,
            "alphas_cumprod": acp,
            "alphas_cumprod_prev": acp_prev,
            "sqrt_alphas_cumprod": acp.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - acp).sqrt(),
            "log_one_minus_alphas_cumprod": (1.0 - acp).log(),
            "sqrt_recip_alphas_cumprod": (1.0 / acp).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / acp - 1.0).sqrt(),
            "posterior_variance": posterior_variance,
            # Clipped because the posterior variance is 0 at t = 0.
            "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
            "posterior_mean_coef1": betas * acp_prev.sqrt() / (1.0 - acp),
            "posterior_mean_coef2": (1.0 - acp_prev) * (1.0 - betas).sqrt() / (1.0 - acp),
        }
        if self.parameterization == "v":
            out["sqrt_recip_alphas_cumprod"] = torch.zeros_like(acp)
            out["sqrt_recipm1_alphas_cumprod"] = torch.zeros_like(acp)
        if self.scale_arr is not None:
            out["scale_arr"] = self.scale_arr
        return {name: value.to(torch.float32) for name, value in out.items()}

    def sqrt_alphas_cumprod_f32(self) -> Tensor:
        """√ᾱ as the reference's float32 buffer (computed in float64, then cast). Shapes: -> (T,) float32."""
        return self.alphas_cumprod.sqrt().to(torch.float32)

    def sqrt_one_minus_alphas_cumprod_f32(self) -> Tensor:
        """√(1−ᾱ) as the reference's float32 buffer. Shapes: -> (T,) float32."""
        return (1.0 - self.alphas_cumprod).sqrt().to(torch.float32)
