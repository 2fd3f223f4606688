"""Parity through the assembled micro model (README §7 tolerances): items i and d through
realcam.pipeline.conditioning, and item j, the reference's 5-step DDIM run (CFG 7.5 + rescale 0.7, camera in both
branches, noise shaping from τ ≥ 700, η = 1) replayed from the logged noise draws with realcam's networks and
`sample_latents`, every model call compared step by step (README §6)."""

from __future__ import annotations

import functools

import pytest
import torch
from parity import fixture, variant_config, variant_state_dict

from realcam.checkpoints.load import load_state_dict_strict
from realcam.diffusion.ddim import DDIMStep, RecordedNoise
from realcam.diffusion.guidance import GuidanceConfig
from realcam.geometry.se3 import invert_se3
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig
from realcam.pipeline import conditioning as cond
from realcam.pipeline.noise_shaping import NoiseShaping
from realcam.pipeline.sampling import SamplerSettings, sample_latents


def micro_config(variant: str) -> RealCamI2VConfig:
    cfg = variant_config(variant)
    return RealCamI2VConfig.from_reference(
        cfg["model"]["params"],
        pixel_hw=tuple(cfg["pixel_hw"]),
        clip=cfg["clip_model_config"],
        depth_encoder=cfg["depth_vitl_encoder"],
        name=f"micro-{variant}",
    )


@functools.cache
def micro_model(variant: str) -> RealCamI2V:
    model = RealCamI2V(micro_config(variant)).eval()
    load_state_dict_strict(model, variant_state_dict(variant), what=f"micro {variant}")
    return model


def assert_network_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """README §7: max|delta| <= 1e-4 * (1 + max|ref|) for one network call."""
    tolerance = 1e-4 * (1 + expected.abs().max().item())
    delta = (actual - expected).abs().max().item()
    assert delta <= tolerance, f"max|delta| {delta} > {tolerance}"


def micro_camera(variant: str):
    """The camera condition of items b/c/d built from the item-a cameras through `conditioning.camera_condition`."""
    a, b = fixture(variant, "a_plucker"), fixture(variant, "b_epipolar")
    model = micro_model(variant)
    rel = cond.scaled_relative_c2w(invert_se3(a["inputs"]["w2c"]), 0, a["inputs"]["trace_scale_factor"])
    torch.testing.assert_close(rel, a["relative_c2w_scaled"], atol=1e-5, rtol=0)
    with torch.no_grad():
        return cond.camera_condition(model, rel, a["inputs"]["K"], pair_translations=b["t_perturbed"])


@pytest.mark.parametrize("variant", ["256", "512"])
def test_item_i_context_through_conditioning(variant):
    i = fixture(variant, "i_conditioning")
    model = micro_model(variant)
    with torch.no_grad():
        text = cond.encode_text(model, i["text_encoder_input_ids"])
        image = cond.encode_image_tokens(model, i["inputs"]["image"])
        uncond_image = cond.unconditional_image_tokens(model, i["inputs"]["image"])
    assert_network_close(text, i["text_context"])
    assert_network_close(image, i["image_context"])
    assert_network_close(uncond_image, i["uncond_image_context"])
    assert_network_close(cond.unet_context(text[:1], image), i["context_cond"])
    assert_network_close(cond.unet_context(text[1:], uncond_image), i["context_uncond"])


@pytest.mark.parametrize("variant", ["256", "512"])
def test_item_d_unet_call_through_conditioning(variant):
    d = fixture(variant, "d_unet")
    model = micro_model(variant)
    camera = micro_camera(variant)
    recorded = d["inputs"]["camera_condition"]
    for mine, ref in zip(camera.features, recorded["pluker_embedding_features"], strict=True):
        assert_network_close(mine, ref)
    assert sorted(camera.epipolar_masks) == sorted(recorded["sample_locs_dict"])
    for stride, mask in camera.epipolar_masks.items():
        assert torch.equal(mask, recorded["sample_locs_dict"][stride]), stride
    inputs = d["inputs"]
    z0 = inputs["c_concat"][:, :, 0]
    concat = cond.concat_latent(z0, 16)
    assert torch.equal(concat, inputs["c_concat"])
    fs = cond.fs_tensor(model.config, **({"frame_stride": 5} if variant == "256" else {"fps": 7}))
    assert torch.equal(fs, inputs["fs"])
    condition = cond.UNetCondition(concat, inputs["context"], fs, camera)
    with torch.no_grad():
        out = cond.apply_unet(model, inputs["x_t"], inputs["t"], condition)
        free = cond.apply_unet(model, inputs["x_t"], inputs["t"], condition.without_camera())
        default_fs = cond.apply_unet(
            model, inputs["x_t"], inputs["t"], cond.UNetCondition(concat, inputs["context"], None, camera)
        )
    assert_network_close(out, d["out_with_camera"])
    assert_network_close(free, d["out_without_camera"])
    assert_network_close(default_fs, d["out_with_camera_fs_None"])


def test_fs_rules():
    c256, c512 = RealCamI2VConfig.preset("256", depth=None), RealCamI2VConfig.preset("512", depth=None)
    assert cond.fs_value(c256) == 3 and cond.fs_value(c512) == 10
    assert cond.fs_value(c256, frame_stride=8) == 8
    assert [cond.fs_value(c512, frame_stride=s) for s in range(1, 11)] == [29, 14, 9, 7, 5, 4, 4, 3, 3, 2]
    assert cond.fs_value(c512, fps=12) == 12
    with pytest.raises(ValueError, match="frame stride"):
        cond.fs_value(c256, fps=12)


def test_interp_concat_layout():
    z0, z1 = torch.ones(1, 4, 2, 3), 2 * torch.ones(1, 4, 2, 3)
    out = cond.concat_latent_interp(z0, z1, 16)
    assert out.shape == (1, 4, 16, 2, 3)
    assert torch.equal(out[:, :, 0], z0) and torch.equal(out[:, :, 15], z1)
    assert out[:, :, 1:15].abs().sum() == 0


# ~25 s of CPU each: the 512 batched case (v, zero-terminal SNR, dynamic rescale, full attention at the finest
# level) runs by default, the others in the slow tier.
J_CASES = [
    pytest.param("512", None, id="512-batched"),
    pytest.param("256", None, id="256-batched", marks=pytest.mark.slow),
    pytest.param("256", 1, id="256-sequential", marks=pytest.mark.slow),
    pytest.param("512", 1, id="512-sequential", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("variant,max_batch", J_CASES)
def test_item_j_replay_through_micro_model(variant, max_batch, monkeypatch):
    run = fixture(variant, "j_ddim_run")
    inputs, settings = run["inputs"], run["inputs"]["settings"]
    model = micro_model(variant)
    camera = micro_camera(variant)
    concat = cond.concat_latent(inputs["c_concat"][:, :, 0], 16)
    c = cond.UNetCondition(concat, inputs["context_cond"], inputs["fs"], camera)
    u = cond.UNetCondition(concat, inputs["context_uncond"], inputs["fs"], camera)
    shaping = NoiseShaping(
        inputs["scene_frames"], inputs["scene_mask"][:, :1] == 1, t0=settings["noise_shaping_minimum_timesteps"]
    )
    sampler = SamplerSettings(
        steps=inputs["steps"],
        eta=settings["eta"],
        guidance=GuidanceConfig(
            settings["unconditional_guidance_scale"], guidance_rescale=settings["guidance_rescale"]
        ),
        max_batch=max_batch,
    )
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    original = cond.apply_unet

    def recording(model_, x_t, t, condition):
        out = original(model_, x_t, t, condition)
        for row in range(x_t.shape[0]):
            calls.append((x_t[row : row + 1], t[row : row + 1], out[row : row + 1]))
        return out

    monkeypatch.setattr("realcam.pipeline.sampling.apply_unet", recording)
    noise = RecordedNoise([draw["value"] for draw in run["random_draws"]])
    steps: list[DDIMStep] = []
    out = sample_latents(model, inputs["x_T"], c, u, sampler, noise=noise, shaping=shaping, on_step_end=steps.append)

    assert noise.used == 7
    assert len(calls) == len(run["apply_model_calls"]) == 10
    for (x, t, o), ref in zip(calls, run["apply_model_calls"], strict=True):
        assert int(t) == int(ref["t"])
        # Inputs drift only by the accumulated network rounding; outputs are single network calls on them.
        torch.testing.assert_close(x, ref["x"], rtol=0, atol=1e-4 * (1 + float(ref["x"].abs().max())))
        torch.testing.assert_close(o, ref["out"], rtol=0, atol=1e-4 * (1 + float(ref["out"].abs().max())))
    for k, step in enumerate(steps):
        x_ref = run["intermediates_x_inter"][k + 1]
        torch.testing.assert_close(step.x_prev, x_ref, rtol=0, atol=1e-3 * float(x_ref.abs().max()))
    scale = float(run["samples"].abs().max())
    torch.testing.assert_close(out, run["samples"], rtol=0, atol=1e-3 * scale)
