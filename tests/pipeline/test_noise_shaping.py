"""Scene-constrained noise shaping: the blend by hand, and step by step inside a DDIM run it changes x_t only in
masked latent cells and only at timesteps τ ≥ t0."""

import pytest
import torch

from realcam.diffusion.ddim import DDIMStep, ddim_sample, generator_noise
from realcam.diffusion.schedule import DiffusionSchedule
from realcam.pipeline.noise_shaping import NoiseShaping, blend_scene_noise, noise_shaping_hook

SCHEDULE = DiffusionSchedule.make("eps", zero_terminal_snr=False)


def test_hand_computed_blend():
    x_t = torch.tensor([1.0, 2.0, 3.0])
    z_preview = torch.tensor([10.0, 20.0, 30.0])
    eps = torch.tensor([1.0, -1.0, 0.5])
    mask = torch.tensor([True, False, True])
    # √ᾱ = 0.6, √(1−ᾱ) = 0.8: masked cells -> 0.6·z + 0.8·eps = [6.8, ·, 18.4]; the unmasked cell keeps x
    out = blend_scene_noise(x_t, z_preview, mask, eps, torch.tensor(0.6), torch.tensor(0.8))
    torch.testing.assert_close(out, torch.tensor([6.8, 2.0, 18.4]))


class _LoggingNoise:
    def __init__(self, seed):
        self.draw = generator_noise(torch.Generator().manual_seed(seed))
        self.values: list[torch.Tensor] = []

    def __call__(self, like):
        value = self.draw(like)
        self.values.append(value)
        return value


@pytest.mark.parametrize("mask_layout", ["b1fhw", "fhw"])
def test_shaping_changes_only_masked_cells_at_timesteps_from_t0(mask_layout):
    g = torch.Generator().manual_seed(11)
    b, c, f, h, w = 2, 4, 3, 4, 5
    x_T = torch.randn(b, c, f, h, w, generator=g)
    z_preview = torch.randn(b, c, f, h, w, generator=g)
    mask_fhw = torch.rand(f, h, w, generator=g) < 0.5
    mask = mask_fhw if mask_layout == "fhw" else mask_fhw.expand(b, 1, f, h, w).clone()
    shaping = NoiseShaping(z_preview, mask, t0=900)
    noise = _LoggingNoise(seed=4)
    steps: list[DDIMStep] = []
    ddim_sample(
        lambda x, t: 0.5 * x,
        x_T,
        SCHEDULE,
        SCHEDULE.ddim_timesteps(25),
        eta=1.0,
        noise=noise,
        on_step=noise_shaping_hook(shaping, schedule=SCHEDULE),
        on_step_end=steps.append,
    )
    cell_mask = mask_fhw.expand(b, c, f, h, w)
    sqrt_a = SCHEDULE.sqrt_alphas_cumprod_f32()
    sqrt_1ma = SCHEDULE.sqrt_one_minus_alphas_cumprod_f32()
    before = x_T
    draw = 0
    shaped_at = []
    for step in steps:
        if step.t >= 900:
            shaped_at.append(step.t)
            eps = noise.values[draw]
            draw += 1
            expected = sqrt_a[step.t] * z_preview + sqrt_1ma[step.t] * eps
            assert torch.equal(step.x_t[~cell_mask], before[~cell_mask]), step.t
            torch.testing.assert_close(step.x_t[cell_mask], expected[cell_mask], rtol=0, atol=0)
            assert not torch.equal(step.x_t[cell_mask], before[cell_mask])
        else:
            assert torch.equal(step.x_t, before), step.t
        draw += 1  # the DDIM update's own draw
        before = step.x_prev
    assert shaped_at == [999, 959, 919]
    assert draw == len(noise.values) == 25 + 3


def test_zero_snr_step_at_999_only_renoises():
    """For the 512 schedule √ᾱ_999 = 0: the masked cells become pure noise at τ = 999 (reference behaviour)."""
    schedule = DiffusionSchedule.make("v", zero_terminal_snr=True)
    shaping = NoiseShaping(torch.full((1, 4, 1, 2, 2), 5.0), torch.ones(1, 2, 2, dtype=torch.bool), t0=999)
    eps = torch.randn(1, 4, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    out = noise_shaping_hook(shaping, schedule)(torch.zeros(1, 4, 1, 2, 2), 999, lambda like: eps)
    assert torch.equal(out, eps)


def test_validation():
    z = torch.zeros(1, 4, 2, 3, 3)
    with pytest.raises(ValueError, match="bool"):
        NoiseShaping(z, torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match="mask must have shape"):
        NoiseShaping(z, torch.ones(1, 4, 2, 3, 3, dtype=torch.bool))
    shaping = NoiseShaping(z, torch.ones(2, 3, 3, dtype=torch.bool))
    assert shaping.t0 == 900 and shaping.applies_at(900) and not shaping.applies_at(899)
    with pytest.raises(ValueError, match="does not match the latent"):
        noise_shaping_hook(shaping, SCHEDULE)(torch.zeros(1, 4, 2, 3, 4), 999, torch.randn_like)
