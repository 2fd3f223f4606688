"""Parity with the reference UNet at micro size (fixture item d, README §7 tolerance), both variants."""

from __future__ import annotations

import pytest
import torch
from parity import fixture, variant_config, variant_state_dict

from realcam.models.camera.condition import CameraCondition
from realcam.models.unet import UNetConfig, UNetModel

PREFIX = "model.diffusion_model."


def micro_unet(variant: str) -> UNetModel:
    config = UNetConfig.from_reference_model_params(variant_config(variant)["model"]["params"])
    model = UNetModel(config).eval()
    state = {k[len(PREFIX) :]: v for k, v in variant_state_dict(variant).items() if k.startswith(PREFIX)}
    model.load_state_dict(state, strict=True)
    return model


def camera_condition(variant: str, recorded: dict) -> CameraCondition:
    epipolar = variant_config(variant)["model"]["params"]["epipolar_config"]
    return CameraCondition(
        features=tuple(recorded["pluker_embedding_features"]),
        epipolar_masks=dict(recorded["sample_locs_dict"]),
        origin_hw=(epipolar["origin_h"], epipolar["origin_w"]),
    )


def assert_network_close(actual, expected):
    """README §7: max|delta| <= 1e-4 * (1 + max|ref|) for one network call."""
    tolerance = 1e-4 * (1 + expected.abs().max().item())
    assert (actual - expected).abs().max().item() <= tolerance


@pytest.fixture(scope="module", params=["256", "512"])
def case(request):
    variant = request.param
    return variant, micro_unet(variant), fixture(variant, "d_unet")


def run(model, inputs, **kwargs):
    x = torch.cat([inputs["x_t"], inputs["c_concat"]], dim=1)
    with torch.no_grad():
        return model(x, inputs["t"], inputs["context"], **kwargs)


def test_micro_config_matches_reference_structure(case):
    variant, model, _ = case
    derived = variant_config(variant)["derived"]
    assert list(model.config.level_widths) == derived["unet_level_widths"]
    injected = [PREFIX + n for n, m in model.named_modules() if hasattr(m, "pluker_projection")]
    assert injected == derived["camera_injected_temporal_blocks"]
    params = sum(p.numel() for p in model.parameters())
    assert params == variant_config(variant)["weights"]["param_counts_by_prefix"]["model"]


def test_output_with_camera(case):
    variant, model, d = case
    inputs = d["inputs"]
    out = run(model, inputs, fs=inputs["fs"], camera=camera_condition(variant, inputs["camera_condition"]))
    assert_network_close(out, d["out_with_camera"])


def test_output_without_camera(case):
    _, model, d = case
    inputs = d["inputs"]
    out = run(model, inputs, fs=inputs["fs"])
    assert_network_close(out, d["out_without_camera"])
    # the camera path must matter: the two reference outputs differ by far more than the tolerance
    assert (d["out_with_camera"] - d["out_without_camera"]).abs().max() > 1e-2


def test_output_with_default_fs(case):
    variant, model, d = case
    inputs = d["inputs"]
    assert model.config.default_fs == d["default_fs"]
    out = run(model, inputs, camera=camera_condition(variant, inputs["camera_condition"]))
    assert_network_close(out, d["out_with_camera_fs_None"])
