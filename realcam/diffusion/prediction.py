"""Conversions between what a denoiser predicts (eps or v) and the clean sample x0.

Forward process: x_t = a·x0 + s·eps with a = √ᾱ_t and s = √(1−ᾱ_t) (so a² + s² = 1).
v-prediction (Salimans & Ho 2022, "Progressive Distillation", §4): v = a·eps − s·x0. Then
    x0  = a·x_t − s·v          eps = s·x_t + a·v          (using a² + s² = 1)
    eps → v:  v = (eps − s·x_t)/a          v → eps as above.

Every function takes the coefficients `sqrt_alpha` = a and `sqrt_one_minus_alpha` = s as tensors broadcastable to the
sample (e.g. 0-d, or (b 1 1 1 1) for per-sample timesteps), so the caller decides which float32 values are used:
the reference uses its float32 buffers √ᾱ and √(1−ᾱ), each computed in float64 and rounded separately.
Shapes: every tensor argument is `b c f h w` (or anything broadcastable with the coefficients); outputs match x_t.
"""

from __future__ import annotations

from torch import Tensor

from realcam.diffusion.schedule import Parameterization


def q_sample(x0: Tensor, eps: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """Noise a clean sample to timestep t: x_t = √ᾱ·x0 + √(1−ᾱ)·eps (DDPM eq. 4)."""
    return sqrt_alpha * x0 + sqrt_one_minus_alpha * eps


def x0_from_eps(x_t: Tensor, eps: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """x0 = (x_t − √(1−ᾱ)·eps)/√ᾱ. Undefined where ᾱ = 0 (the zero-terminal-SNR step)."""
    return (x_t - sqrt_one_minus_alpha * eps) / sqrt_alpha


def eps_from_x0(x_t: Tensor, x0: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """eps = (x_t − √ᾱ·x0)/√(1−ᾱ)."""
    return (x_t - sqrt_alpha * x0) / sqrt_one_minus_alpha


def x0_from_v(x_t: Tensor, v: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """x0 = √ᾱ·x_t − √(1−ᾱ)·v. Defined at every t, including ᾱ = 0."""
    return sqrt_alpha * x_t - sqrt_one_minus_alpha * v


def eps_from_v(x_t: Tensor, v: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """eps = √ᾱ·v + √(1−ᾱ)·x_t."""
    return sqrt_alpha * v + sqrt_one_minus_alpha * x_t


def v_from_eps(x_t: Tensor, eps: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """v = (eps − √(1−ᾱ)·x_t)/√ᾱ (inverse of `eps_from_v`). Undefined where ᾱ = 0."""
    return (eps - sqrt_one_minus_alpha * x_t) / sqrt_alpha


def v_target(x0: Tensor, eps: Tensor, sqrt_alpha: Tensor, sqrt_one_minus_alpha: Tensor) -> Tensor:
    """The v-prediction training target v = √ᾱ·eps − √(1−ᾱ)·x0."""
    return sqrt_alpha * eps - sqrt_one_minus_alpha * x0


def eps_and_x0(
    parameterization: Parameterization,
    x_t: Tensor,
    model_output: Tensor,
    sqrt_alpha: Tensor,
    sqrt_one_minus_alpha: Tensor,
) -> tuple[Tensor, Tensor]:
    """Interpret a raw model output as (eps, x0) for either parameterisation."""
    if parameterization == "eps":
        return model_output, x0_from_eps(x_t, model_output, sqrt_alpha, sqrt_one_minus_alpha)
    if parameterization == "v":
        return (
            eps_from_v(x_t, model_output, sqrt_alpha, sqrt_one_minus_alpha),
            x0_from_v(x_t, model_output, sqrt_alpha, sqrt_one_minus_alpha),
        )
    raise ValueError(f"parameterization must be 'eps' or 'v', got {parameterization!r}")
