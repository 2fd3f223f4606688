"""Parity item j, sampler arithmetic only: replay the reference's 5-step DDIM run (CFG 7.5 + rescale 0.7, camera in
both branches, noise shaping from τ ≥ 700, η = 1) with the LOGGED model outputs in place of the network and the
LOGGED noise draws, and compare every model input, x_prev and x̂0 step by step (README §6, §7: ≤ 1e-5·max|ref|)."""

import pytest
import torch
from parity import fixture

from realcam.diffusion.ddim import DDIMStep, RecordedNoise, ddim_sample
from realcam.diffusion.guidance import GuidanceConfig, guided_denoiser
from realcam.diffusion.schedule import DiffusionSchedule
from realcam.pipeline.noise_shaping import NoiseShaping, noise_shaping_hook

SCHEDULES = {
    "256": DiffusionSchedule.make("eps", zero_terminal_snr=False),
    "512": DiffusionSchedule.make("v", zero_terminal_snr=True, dynamic_rescale_base_scale=0.7),
}


class _LoggedModel:
    """Stands in for the network: returns the reference's recorded output for (step, branch), after checking that
    the input x it is given equals the one the reference fed at that call. Conditions are {"is_cond": (b,) tensor},
    so batched [cond; uncond] calls work too."""

    def __init__(self, run: dict, tolerance: float):
        self.calls = run["apply_model_calls"]
        self.order = sorted({int(c["t"]) for c in self.calls}, reverse=True)
        self.tolerance = tolerance
        self.seen: list[tuple[int, bool]] = []

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, condition: dict) -> torch.Tensor:
        outs = []
        for row, is_cond in enumerate(condition["is_cond"].tolist()):
            step = self.order.index(int(t[row]))
            call = self.calls[2 * step + (0 if is_cond else 1)]
            assert call["context_is_cond"] == bool(is_cond) and int(call["t"]) == int(t[row])
            assert call["has_camera"]  # the reference keeps the camera in the unconditional branch
            torch.testing.assert_close(x_t[row : row + 1], call["x"], rtol=0, atol=self.tolerance)
            self.seen.append((int(t[row]), bool(is_cond)))
            outs.append(call["out"])
        return torch.cat(outs)


@pytest.mark.parametrize("max_batch", [None, 1], ids=["batched", "sequential"])
@pytest.mark.parametrize("variant", ["256", "512"])
def test_replay_reference_ddim_run_with_logged_outputs(variant, max_batch):
    run = fixture(variant, "j_ddim_run")
    inputs, settings = run["inputs"], run["inputs"]["settings"]
    schedule = SCHEDULES[variant]
    timesteps = schedule.ddim_timesteps(inputs["steps"], settings["timestep_spacing"])
    torch.testing.assert_close(timesteps, run["ddim_timesteps"], rtol=0, atol=0)

    scene_mask = inputs["scene_mask"]
    assert torch.equal(scene_mask, scene_mask[:, :1].expand_as(scene_mask))  # the reference repeats it over channels
    shaping = NoiseShaping(
        inputs["scene_frames"], scene_mask[:, :1] == 1, t0=settings["noise_shaping_minimum_timesteps"]
    )
    scale = float(run["samples"].abs().max())
    model = _LoggedModel(run, tolerance=1e-5 * scale)
    config = GuidanceConfig(
        text_image_scale=settings["unconditional_guidance_scale"], guidance_rescale=settings["guidance_rescale"]
    )
    cond, uncond = {"is_cond": torch.tensor([1])}, {"is_cond": torch.tensor([0])}
    denoise = guided_denoiser(model, cond, uncond, None, config, max_batch=max_batch)
    noise = RecordedNoise([draw["value"] for draw in run["random_draws"]])
    steps: list[DDIMStep] = []
    out = ddim_sample(
        denoise,
        inputs["x_T"],
        schedule,
        timesteps,
        eta=settings["eta"],
        noise=noise,
        on_step=noise_shaping_hook(shaping, schedule),
        on_step_end=steps.append,
    )

    assert noise.used == len(run["random_draws"]) == 7
    assert model.seen == [(int(c["t"]), c["context_is_cond"]) for c in run["apply_model_calls"]]
    assert [s.t for s in steps] == [999, 799, 599, 399, 199]
    for k, step in enumerate(steps):
        x_ref, x0_ref = run["intermediates_x_inter"][k + 1], run["intermediates_pred_x0"][k + 1]
        torch.testing.assert_close(step.x_prev, x_ref, rtol=0, atol=1e-5 * float(x_ref.abs().max()), msg=f"x {step.t}")
        torch.testing.assert_close(step.pred_x0, x0_ref, rtol=0, atol=1e-5 * float(x0_ref.abs().max()))
    torch.testing.assert_close(out, run["samples"], rtol=0, atol=1e-5 * scale)


def test_replay_fails_when_noise_shaping_threshold_is_wrong():
    """The replay is sensitive: shaping one step too few changes the model input at τ = 799."""
    run = fixture("256", "j_ddim_run")
    inputs, schedule = run["inputs"], SCHEDULES["256"]
    shaping = NoiseShaping(inputs["scene_frames"], inputs["scene_mask"][:, :1] == 1, t0=800)
    model = _LoggedModel(run, tolerance=1e-5 * float(run["samples"].abs().max()))
    denoise = guided_denoiser(
        model, {"is_cond": torch.tensor([1])}, {"is_cond": torch.tensor([0])}, None, GuidanceConfig()
    )
    with pytest.raises(AssertionError):
        ddim_sample(
            denoise,
            inputs["x_T"],
            schedule,
            schedule.ddim_timesteps(5),
            noise=RecordedNoise([d["value"] for d in run["random_draws"]]),
            on_step=noise_shaping_hook(shaping, schedule),
        )
