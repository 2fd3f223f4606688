"""DDIM sampling (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12) as a function over a denoiser.

One step from timestep τ_k to τ_{k−1} (a = ᾱ[τ_k], a_prev = ᾱ[τ_{k−1}], e = predicted eps, x̂0 = predicted x0):
    σ_k    = η·√((1 − a_prev)/(1 − a)·(1 − a/a_prev))                                   (eq. 16)
    x_prev = √a_prev·x̂0 + √max(1 − a_prev − σ_k², 0)·e + σ_k·z,   z ~ N(0, I)          (eq. 12)

Reference behaviour (DynamiCrafter's sampler, pinned by the parity fixtures):
- a_prev at the last step (k = 0) is ᾱ[0] = 0.99915, not 1, so the final step still adds σ_0·z noise.
- The coefficient arrays have mixed dtypes: ᾱ at the visited steps float32, a_prev float64 (float32 values), σ float64
  computed from those, √(1 − a) float32; each step casts its entries to float32 scalars.
- eps models get x̂0 from the DDIM arrays; v models get eps and x̂0 from the model's float32 √ᾱ / √(1−ᾱ) buffers at τ.
- Dynamic rescale (512 model): x̂0 ← x̂0·scale[τ_{k−1}]/scale[τ_k] (ratio 1 at k = 0), after the prediction and before
  the update; eps is not recomputed.

Randomness comes only from a `NoiseSource` (`generator_noise(generator)` or recorded draws via `RecordedNoise`), so a
seed fixes the run and logged reference draws can be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from realcam.diffusion.prediction import eps_and_x0, x0_from_eps
from realcam.diffusion.schedule import DiffusionSchedule, Parameterization

NoiseSource = Callable[[Tensor], Tensor]
"""`noise(like)` returns a standard-normal tensor with `like`'s shape, dtype and device."""

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""`denoise(x_t, t)`: x_t (b c f h w), t (b,) int64 training timesteps -> the model output (eps or v), same shape."""

StepHook = Callable[[Tensor, int, NoiseSource], Tensor]
"""`hook(x_t, t, noise) -> x_t`, called before the model call at every visited timestep t (e.g. noise shaping)."""


def generator_noise(generator: torch.Generator) -> NoiseSource:
    """Draws from `generator` on the generator's own device, then moves to `like`'s device, so one seed gives the
    same noise whatever device the sample lives on."""

    def draw(like: Tensor) -> Tensor:
        sample = torch.randn(like.shape, generator=generator, device=generator.device, dtype=like.dtype)
        return sample.to(like.device)

    return draw


class RecordedNoise:
    """A NoiseSource that returns given draws in order (for replaying a logged reference run).

    Raises if more draws are requested than recorded or a shape differs; `used` counts the draws handed out.
    """

    def __init__(self, draws: Sequence[Tensor]) -> None:
        self.draws = list(draws)
        self.used = 0

    def __call__(self, like: Tensor) -> Tensor:
        if self.used >= len(self.draws):
            raise ValueError(f"recorded noise exhausted: {len(self.draws)} draws were recorded")
        value = self.draws[self.used]
        if value.shape != like.shape:
            raise ValueError(f"recorded draw {self.used} has shape {tuple(value.shape)}, expected {tuple(like.shape)}")
        self.used += 1
        return value.to(device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class DDIMCoefficients:
    """The per-step arrays of a DDIM run, ascending over the visited timesteps (index k), with the reference's dtypes.

    Fields (all shape (S,)): timesteps int64; alphas = ᾱ[τ_k] float32; alphas_prev = ᾱ[τ_{k−1}] (ᾱ[0] at k = 0)
    float64; sigmas float64; sqrt_one_minus_alphas = √(1 − alphas) float32; model_sqrt_alphas /
    model_sqrt_one_minus_alphas = the schedule's float32 √ᾱ, √(1−ᾱ) buffers at τ_k (used by v models);
    scale / scale_prev = scale_arr[τ_k] and scale_arr[τ_{k−1}] (scale[0] at k = 0) float32, or None without dynamic
    rescale. `parameterization` is the schedule's.
    """

    parameterization: Parameterization
    timesteps: Tensor
    alphas: Tensor
    alphas_prev: Tensor
    sigmas: Tensor
    sqrt_one_minus_alphas: Tensor
    model_sqrt_alphas: Tensor
    model_sqrt_one_minus_alphas: Tensor
    scale: Tensor | None
    scale_prev: Tensor | None

    def step(self, k: int) -> StepCoefficients:
        """The float32 scalars the step at ascending index k uses."""
        f32 = torch.float32
        rescale = None
        if self.scale is not None and self.scale_prev is not None:
            rescale = self.scale_prev[k] / self.scale[k]
        return StepCoefficients(
            t=int(self.timesteps[k]),
            a_t=self.alphas[k].to(f32),
            a_prev=self.alphas_prev[k].to(f32),
            sigma_t=self.sigmas[k].to(f32),
            sqrt_one_minus_at=self.sqrt_one_minus_alphas[k].to(f32),
            model_sqrt_alpha=self.model_sqrt_alphas[k],
            model_sqrt_one_minus_alpha=self.model_sqrt_one_minus_alphas[k],
            x0_rescale=rescale,
        )


@dataclass(frozen=True)
class StepCoefficients:
    """0-d float32 scalars of one DDIM step at timestep t (names as in the module docstring); x0_rescale is
    scale_prev/scale for dynamic rescale, or None."""

    t: int
    a_t: Tensor
    a_prev: Tensor
    sigma_t: Tensor
    sqrt_one_minus_at: Tensor
    model_sqrt_alpha: Tensor
    model_sqrt_one_minus_alpha: Tensor
    x0_rescale: Tensor | None


def ddim_coefficients(schedule: DiffusionSchedule, timesteps: Tensor, eta: float) -> DDIMCoefficients:
    """Build the DDIM arrays for ascending `timesteps` (S,) int64 and stochasticity η ≥ 0 (1.0 in the reference)."""
    _check_timesteps(timesteps, schedule.num_timesteps)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    acp32 = schedule.alphas_cumprod.to(torch.float32)
    alphas = acp32[timesteps]
    alphas_prev = torch.cat([acp32[:1], acp32[timesteps[:-1]]]).to(torch.float64)
    if schedule.parameterization == "eps" and bool((alphas == 0).any()):
        raise ValueError("an eps model cannot visit a timestep with alphas_cumprod == 0 (zero terminal SNR)")
    # Reference behaviour: the reference divides a float64 numpy array by the float32 tensor 1 − a, which torch
    # evaluates as float32 reciprocal(1 − a) times the float64 numerator; the rest of σ is float64. Pinned bit-exact
    # against fixture g.
    inv_one_minus_alphas = (1.0 - alphas).reciprocal().to(torch.float64)
    sigmas = eta * torch.sqrt(
        inv_one_minus_alphas * (1.0 - alphas_prev) * (1.0 - alphas.to(torch.float64) / alphas_prev)
    )
    scale = scale_prev = None
    if schedule.scale_arr is not None:
        scale = schedule.scale_arr.to(torch.float32)[timesteps]
        scale_prev = torch.cat([scale[:1], scale[:-1]])
    return DDIMCoefficients(
        parameterization=schedule.parameterization,
        timesteps=timesteps,
        alphas=alphas,
        alphas_prev=alphas_prev,
        sigmas=sigmas,
        # Correctly rounded float32 square root (the reference takes it in numpy; torch's float32 CPU sqrt can be
        # off by one ulp).
        sqrt_one_minus_alphas=torch.sqrt((1.0 - alphas).to(torch.float64)).to(torch.float32),
        model_sqrt_alphas=schedule.sqrt_alphas_cumprod_f32()[timesteps],
        model_sqrt_one_minus_alphas=schedule.sqrt_one_minus_alphas_cumprod_f32()[timesteps],
        scale=scale,
        scale_prev=scale_prev,
    )


def _check_timesteps(timesteps: Tensor, num_train_timesteps: int) -> None:
    if timesteps.ndim != 1 or timesteps.numel() == 0 or timesteps.dtype != torch.int64:
        got = f"{timesteps.dtype} {tuple(timesteps.shape)}"
        raise ValueError(f"timesteps must be a non-empty 1-d int64 tensor, got {got}")
    if bool((timesteps[1:] <= timesteps[:-1]).any()):
        raise ValueError(f"timesteps must be strictly ascending, got {timesteps.tolist()}")
    if int(timesteps[0]) < 0 or int(timesteps[-1]) >= num_train_timesteps:
        raise ValueError(f"timesteps must lie in [0, {num_train_timesteps - 1}], got {timesteps.tolist()}")


def ddim_predict(
    x_t: Tensor, model_output: Tensor, step: StepCoefficients, parameterization: Parameterization
) -> tuple[Tensor, Tensor]:
    """Interpret the model output at this step as (eps, x̂0), including the dynamic rescale of x̂0.

    Shapes: x_t, model_output (b c f h w) -> (eps, pred_x0), each (b c f h w).
    """
    if parameterization == "eps":
        eps = model_output
        pred_x0 = x0_from_eps(x_t, eps, step.a_t.sqrt(), step.sqrt_one_minus_at)
    else:
        eps, pred_x0 = eps_and_x0("v", x_t, model_output, step.model_sqrt_alpha, step.model_sqrt_one_minus_alpha)
    if step.x0_rescale is not None:
        pred_x0 = pred_x0 * step.x0_rescale
    return eps, pred_x0


def ddim_update(pred_x0: Tensor, eps: Tensor, step: StepCoefficients, z: Tensor | None) -> Tensor:
    """x_prev = √a_prev·x̂0 + √max(1 − a_prev − σ², 0)·eps + σ·z (eq. 12). z may be None only when σ = 0.

    Shapes: pred_x0, eps, z (b c f h w) -> (b c f h w).
    """
    direction = (1.0 - step.a_prev - step.sigma_t**2).clamp(min=0.0).sqrt() * eps
    x_prev = step.a_prev.sqrt() * pred_x0 + direction
    if z is not None:
        return x_prev + step.sigma_t * z
    if float(step.sigma_t) != 0.0:
        raise ValueError(f"a noise draw is needed at t={step.t} (sigma={float(step.sigma_t)})")
    return x_prev


def ddim_step(
    x_t: Tensor, model_output: Tensor, step: StepCoefficients, parameterization: Parameterization, z: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """One DDIM step: `ddim_predict` then `ddim_update`. z is the N(0, I) draw (None only when σ = 0).

    Shapes: x_t, model_output, z (b c f h w) -> (x_prev, pred_x0, eps), each (b c f h w).
    """
    eps, pred_x0 = ddim_predict(x_t, model_output, step, parameterization)
    return ddim_update(pred_x0, eps, step, z), pred_x0, eps


@dataclass(frozen=True)
class DDIMStep:
    """What one step saw and produced, handed to `on_step_end`. i counts visited steps from 0 (at the largest t);
    x_t is the model input after hooks; all tensors (b c f h w)."""

    i: int
    t: int
    x_t: Tensor
    model_output: Tensor
    eps: Tensor
    pred_x0: Tensor
    x_prev: Tensor


def chain_hooks(*hooks: StepHook) -> StepHook:
    """One StepHook that runs the given hooks in order."""

    def run(x_t: Tensor, t: int, noise: NoiseSource) -> Tensor:
        for hook in hooks:
            x_t = hook(x_t, t, noise)
        return x_t

    return run


def ddim_sample(
    denoise: Denoiser,
    x_T: Tensor,
    schedule: DiffusionSchedule,
    timesteps: Tensor,
    *,
    eta: float = 1.0,
    generator: torch.Generator | None = None,
    noise: NoiseSource | None = None,
    on_step: StepHook | None = None,
    on_pred_x0: Callable[[Tensor, int], Tensor] | None = None,
    on_step_end: Callable[[DDIMStep], None] | None = None,
) -> Tensor:
    """Run DDIM from x_T over `timesteps` (ascending, visited from the last) and return the final sample.

    Per visited timestep τ (reference order): x ← on_step(x, τ, noise) (e.g. noise shaping, which may draw);
    o = denoise(x, τ); (eps, x̂0) from o (with dynamic rescale); x̂0 ← on_pred_x0(x̂0, τ) (e.g. pasting known frames
    for continuation; eps is not recomputed); DDIM update drawing z from `noise`; on_step_end(DDIMStep).
    Randomness: exactly one of `generator` (wrapped by `generator_noise`) or `noise` (e.g. `RecordedNoise`) must be
    given, unless η = 0 and no hook draws. Draws are made only for steps with σ ≠ 0.
    Shapes: x_T (b c f h w); timesteps (S,) int64 -> (b c f h w).
    """
    if generator is not None and noise is not None:
        raise ValueError("give either generator or noise, not both")
    source = generator_noise(generator) if generator is not None else noise
    if source is None:
        source = _no_noise
    coefficients = ddim_coefficients(schedule, timesteps, eta)
    if x_T.ndim < 2 or not x_T.is_floating_point():
        raise ValueError(f"x_T must be a floating (b c ...) tensor, got {x_T.dtype} {tuple(x_T.shape)}")
    x = x_T
    num_steps = int(timesteps.shape[0])
    for i, k in enumerate(reversed(range(num_steps))):
        step = coefficients.step(k)
        if on_step is not None:
            x = on_step(x, step.t, source)
        t_batch = torch.full((x.shape[0],), step.t, dtype=torch.int64, device=x.device)
        model_output = denoise(x, t_batch)
        if model_output.shape != x.shape:
            raise ValueError(f"denoise returned shape {tuple(model_output.shape)}, expected {tuple(x.shape)}")
        eps, pred_x0 = ddim_predict(x, model_output, step, coefficients.parameterization)
        if on_pred_x0 is not None:
            pred_x0 = on_pred_x0(pred_x0, step.t)
        z = source(x) if float(step.sigma_t) != 0.0 else None
        x_prev = ddim_update(pred_x0, eps, step, z)
        if on_step_end is not None:
            on_step_end(DDIMStep(i, step.t, x, model_output, eps, pred_x0, x_prev))
        x = x_prev
    return x


def _no_noise(like: Tensor) -> Tensor:
    raise ValueError("this run needs random draws: pass generator= or noise= to ddim_sample")
