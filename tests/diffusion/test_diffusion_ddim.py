"""DDIM: a hand-computed step, the per-step scalars of fixture j, determinism, and a plain float64 twin."""

import math

import pytest
import torch
from parity import fixture

from realcam.diffusion.ddim import (
    DDIMStep,
    RecordedNoise,
    StepCoefficients,
    chain_hooks,
    ddim_coefficients,
    ddim_sample,
    ddim_step,
    generator_noise,
)
from realcam.diffusion.schedule import DiffusionSchedule

EPS_SCHEDULE = DiffusionSchedule.make("eps", zero_terminal_snr=False)
V_SCHEDULE = DiffusionSchedule.make("v", zero_terminal_snr=True, dynamic_rescale_base_scale=0.7)


def _scalars(**values) -> StepCoefficients:
    f = {k: torch.tensor(v, dtype=torch.float64) if v is not None else None for k, v in values.items()}
    return StepCoefficients(t=500, **f)


# a_t = 0.36 (√ = 0.6, √(1−a_t) = 0.8), a_prev = 0.64 (√ = 0.8), σ = 0.48 -> √(1 − 0.64 − 0.2304) = 0.36.
HAND = dict(a_t=0.36, a_prev=0.64, sigma_t=0.48, sqrt_one_minus_at=0.8, model_sqrt_alpha=0.6)


def test_hand_computed_eps_step():
    step = _scalars(**HAND, model_sqrt_one_minus_alpha=0.8, x0_rescale=None)
    x_t, out, z = (torch.tensor([v], dtype=torch.float64) for v in (2.0, 1.0, 0.5))
    x_prev, x0, eps = ddim_step(x_t, out, step, "eps", z)
    # x0 = (2 − 0.8·1)/0.6 = 2;  x_prev = 0.8·2 + 0.36·1 + 0.48·0.5 = 2.2
    torch.testing.assert_close(x0, torch.tensor([2.0], dtype=torch.float64))
    torch.testing.assert_close(eps, out)
    torch.testing.assert_close(x_prev, torch.tensor([2.2], dtype=torch.float64))


def test_hand_computed_v_step_with_dynamic_rescale():
    step = _scalars(**HAND, model_sqrt_one_minus_alpha=0.8, x0_rescale=1.25)
    x_t, out, z = (torch.tensor([v], dtype=torch.float64) for v in (2.0, 1.0, 0.5))
    x_prev, x0, eps = ddim_step(x_t, out, step, "v", z)
    # x0 = 0.6·2 − 0.8·1 = 0.4, rescaled ×1.25 = 0.5;  eps = 0.6·1 + 0.8·2 = 2.2 (not recomputed after rescale)
    # x_prev = 0.8·0.5 + 0.36·2.2 + 0.48·0.5 = 1.432
    torch.testing.assert_close(x0, torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(eps, torch.tensor([2.2], dtype=torch.float64))
    torch.testing.assert_close(x_prev, torch.tensor([1.432], dtype=torch.float64))


def test_step_without_noise_needs_zero_sigma():
    step = _scalars(**HAND, model_sqrt_one_minus_alpha=0.8, x0_rescale=None)
    with pytest.raises(ValueError, match="noise draw"):
        ddim_step(torch.ones(1), torch.ones(1), step, "eps", None)


@pytest.mark.parametrize("variant", ["256", "512"])
def test_step_scalars_match_fixture_j(variant):
    schedule = EPS_SCHEDULE if variant == "256" else V_SCHEDULE
    run = fixture(variant, "j_ddim_run")
    coefficients = ddim_coefficients(schedule, schedule.ddim_timesteps(5), 1.0)
    torch.testing.assert_close(coefficients.timesteps, run["ddim_timesteps"], rtol=0, atol=0)
    for logged in run["step_coefficients"]:
        step = coefficients.step(logged["index"])
        assert step.t == logged["step"]
        for name in ("a_t", "a_prev", "sigma_t", "sqrt_one_minus_at"):
            assert getattr(step, name).dtype == torch.float32
            torch.testing.assert_close(getattr(step, name).reshape(1, 1, 1, 1, 1), logged[name], rtol=0, atol=0)
        if variant == "512":
            ratio = logged["prev_scale_t"] / logged["scale_t"]
            torch.testing.assert_close(step.x0_rescale.reshape(1, 1, 1, 1, 1), ratio, rtol=0, atol=0)
        else:
            assert step.x0_rescale is None


def _toy_denoiser(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in network: depends on x_t and t, per sample."""
    return torch.tanh(0.7 * x_t + 0.001 * t.reshape(-1, *([1] * (x_t.ndim - 1))).to(x_t.dtype))


def _plain_ddim(schedule: DiffusionSchedule, x_T, timesteps, eta, draws):
    """Slow obvious twin: the DDIM loop written out in float64 straight from ᾱ (spec §3.4, §3.3)."""
    acp = schedule.alphas_cumprod
    x = x_T.to(torch.float64)
    noise = iter(draws)
    ts = timesteps.tolist()
    for k in reversed(range(len(ts))):
        t = ts[k]
        a = float(acp[t])
        a_prev = float(acp[ts[k - 1]]) if k > 0 else float(acp[0])
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
        out = _toy_denoiser(x.float(), torch.full((x.shape[0],), t)).to(torch.float64)
        if schedule.parameterization == "eps":
            eps, x0 = out, (x - math.sqrt(1 - a) * out) / math.sqrt(a)
        else:
            eps, x0 = math.sqrt(a) * out + math.sqrt(1 - a) * x, math.sqrt(a) * x - math.sqrt(1 - a) * out
        if schedule.scale_arr is not None and k > 0:
            x0 = x0 * float(schedule.scale_arr[ts[k - 1]]) / float(schedule.scale_arr[t])
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps + sigma * next(noise)
    return x


@pytest.mark.parametrize("schedule", [EPS_SCHEDULE, V_SCHEDULE], ids=["eps", "v-ztsnr"])
def test_sampler_matches_plain_float64_twin(schedule):
    g = torch.Generator().manual_seed(1234)
    x_T = torch.randn(2, 4, 3, 4, 4, generator=g)
    timesteps = schedule.ddim_timesteps(25)
    draws = [torch.randn(x_T.shape, generator=g) for _ in range(25)]
    recorded = RecordedNoise(draws)
    out = ddim_sample(_toy_denoiser, x_T, schedule, timesteps, eta=1.0, noise=recorded)
    assert recorded.used == 25
    expected = _plain_ddim(schedule, x_T, timesteps, 1.0, [d.double() for d in draws])
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-5 * float(expected.abs().max()))


def test_same_seed_same_output_and_different_seed_differs():
    x_T = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    timesteps = EPS_SCHEDULE.ddim_timesteps(10)

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, timesteps, eta=1.0, generator=gen)

    assert torch.equal(run(7), run(7))
    assert not torch.allclose(run(7), run(8))


def test_eta_zero_needs_no_noise_and_is_deterministic():
    x_T = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    timesteps = EPS_SCHEDULE.ddim_timesteps(10)
    a = ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, timesteps, eta=0.0)
    b = ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, timesteps, eta=0.0)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="generator= or noise="):
        ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, timesteps, eta=1.0)


def test_hooks_and_step_records_run_in_reference_order():
    x_T = torch.zeros(1, 1, 1, 2, 2)
    timesteps = EPS_SCHEDULE.ddim_timesteps(3)
    events: list[tuple[str, int]] = []

    def hook(name):
        def run(x_t, t, noise):
            events.append((name, t))
            return x_t

        return run

    def denoise(x_t, t):
        events.append(("model", int(t[0])))
        return torch.zeros_like(x_t)

    records: list[DDIMStep] = []
    ddim_sample(
        denoise,
        x_T,
        EPS_SCHEDULE,
        timesteps,
        eta=1.0,
        noise=generator_noise(torch.Generator().manual_seed(0)),
        on_step=chain_hooks(hook("a"), hook("b")),
        on_step_end=records.append,
    )
    expected = []
    for t in (999, 666, 332):
        expected += [("a", t), ("b", t), ("model", t)]
    assert events == expected
    assert [(r.i, r.t) for r in records] == [(0, 999), (1, 666), (2, 332)]


def test_input_validation():
    x_T = torch.zeros(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match="ascending"):
        ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, torch.tensor([999, 39]), eta=0.0)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        ddim_coefficients(DiffusionSchedule.make("eps", zero_terminal_snr=True), torch.tensor([39, 999]), 1.0)
    with pytest.raises(ValueError, match="exhausted"):
        RecordedNoise([])(x_T)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="either generator or noise"):
        ddim_sample(_toy_denoiser, x_T, EPS_SCHEDULE, torch.tensor([999]), generator=gen, noise=generator_noise(gen))


def test_pred_x0_hook_replaces_x0_before_the_update():
    """Pasting x̂0 = 0 with σ = 0 (η = 0) leaves x_prev = √(1 − a_prev)·eps: checks the hook runs before the update."""
    x_T = torch.randn(1, 1, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    timesteps = EPS_SCHEDULE.ddim_timesteps(2)
    records: list[DDIMStep] = []
    ddim_sample(
        lambda x, t: torch.ones_like(x),
        x_T,
        EPS_SCHEDULE,
        timesteps,
        eta=0.0,
        on_pred_x0=lambda x0, t: torch.zeros_like(x0),
        on_step_end=records.append,
    )
    a_prev = EPS_SCHEDULE.alphas_cumprod.to(torch.float32)[499]
    assert records[0].t == 999 and not records[0].pred_x0.any()
    torch.testing.assert_close(records[0].x_prev, (1 - a_prev).sqrt() * torch.ones(1, 1, 1, 2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_with_cpu_generator_matches_cpu_run():
    """Coefficients stay CPU scalars and noise comes from a CPU generator, so one seed gives the same run on GPU."""
    from realcam.diffusion.guidance import GuidanceConfig, guided_denoiser
    from realcam.pipeline.noise_shaping import NoiseShaping, noise_shaping_hook

    g = torch.Generator().manual_seed(21)
    x_T = torch.randn(1, 4, 3, 4, 4, generator=g)
    z_preview = torch.randn(1, 4, 3, 4, 4, generator=g)
    mask = torch.rand(3, 4, 4, generator=g) < 0.5

    def model_fn(x, t, cond):
        return torch.tanh(x * cond["w"].reshape(-1, 1, 1, 1, 1) + 1e-3 * t.reshape(-1, 1, 1, 1, 1))

    def run(device):
        cond, uncond = {"w": torch.tensor([0.9], device=device)}, {"w": torch.tensor([0.4], device=device)}
        denoise = guided_denoiser(model_fn, cond, uncond, None, GuidanceConfig())
        shaping = NoiseShaping(z_preview.to(device), mask.to(device), t0=900)
        return ddim_sample(
            denoise,
            x_T.to(device),
            V_SCHEDULE,
            V_SCHEDULE.ddim_timesteps(25),
            generator=torch.Generator().manual_seed(5),
            on_step=noise_shaping_hook(shaping, V_SCHEDULE),
        )

    on_gpu = run(torch.device("cuda"))
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), run(torch.device("cpu")), rtol=1e-4, atol=1e-4)
