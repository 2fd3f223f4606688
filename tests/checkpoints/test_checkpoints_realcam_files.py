"""`load_realcam_weights` on tiny models written in the released file formats: DynamiCrafter base `.ckpt`
(Lightning pickle, 256 base names `framestride_embed`, schedule buffers, 512 base has `scale_arr`), RealCam-I2V
add-on or full `.safetensors`, Depth-Anything-V2 `.pth`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from realcam.checkpoints.keys import is_camera_key
from realcam.checkpoints.load import save_safetensors
from realcam.checkpoints.realcam_files import addon_resolution, load_realcam_weights, read_realcam_state_dict
from realcam.errors import CheckpointMismatchError, WeightsMissingError
from realcam.pipeline.tiny import tiny_config, tiny_model


def dynamicrafter_ckpt(state: dict, variant: str) -> dict:
    """A DynamiCrafter `model.ckpt` layout: Lightning extras around `state_dict` (every non-camera, non-depth key,
    schedule buffers included); the 256 base calls the fs embedding `framestride_embed`.
    The Lightning extras are the usual top-level entries; the spec does not list the released file's (assumption)."""
    base = {}
    for key, value in state.items():
        if is_camera_key(key) or key.startswith("depth_predictor"):
            continue
        if variant == "256":
            key = key.replace(".fps_embedding.", ".framestride_embed.")
        base[key] = value.clone()
    first = next(iter(base.values()))
    return {
        "epoch": 7,
        "global_step": 100000,
        "pytorch-lightning_version": "1.9.3",
        "state_dict": base,
        "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros_like(first)}}, "param_groups": [{"lr": 1e-5}]}],
        "lr_schedulers": [],
    }


def write_released(folder: Path, variant: str, *, seed: int) -> tuple[dict, dict]:
    """Write the tiny `variant` model as base .ckpt + add-on + depth .pth; returns (state dict, files by hub key)."""
    state = tiny_model(variant, seed=seed).state_dict()
    folder.mkdir(parents=True)
    torch.save(dynamicrafter_ckpt(state, variant), folder / "model.ckpt")
    addon = folder / f"{variant}_realcam-i2v_50k.safetensors"
    save_safetensors({k: v for k, v in state.items() if is_camera_key(k)}, addon)
    depth = {k.removeprefix("depth_predictor."): v for k, v in state.items() if k.startswith("depth_predictor.")}
    torch.save(depth, folder / "depth.pth")
    files = {
        f"base-{variant}": folder / "model.ckpt",
        f"realcam-{variant}": addon,
        "depth-indoor": folder / "depth.pth",
    }
    return state, files


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    """{variant: (state dict, files)} for the tiny 256 and 512 models, written once per module."""
    root = tmp_path_factory.mktemp("released")
    return {variant: write_released(root / variant, variant, seed=seed) for variant, seed in (("256", 1), ("512", 2))}


def assert_same_weights(model, state: dict) -> None:
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])


def test_256_dynamicrafter_ckpt_loads_strictly(released):
    state, files = released["256"]
    raw = torch.load(files["base-256"], weights_only=True)
    assert any(".framestride_embed." in k for k in raw["state_dict"]) and "betas" in raw["state_dict"]
    assert raw["global_step"] == 100000 and "optimizer_states" in raw
    model = load_realcam_weights(tiny_config("256"), files, model="256", depth="indoor")
    assert_same_weights(model, state)


@pytest.mark.parametrize(
    ("base_variant", "model_variant", "repo"),
    [("256", "512", "Doubiiu/DynamiCrafter_512"), ("512", "256", "Doubiiu/DynamiCrafter (")],
)
def test_wrong_resolution_base_names_the_right_one(released, base_variant, model_variant, repo):
    files = {k: v for k, v in released[model_variant][1].items() if not k.startswith("base")}
    files[f"base-{model_variant}"] = released[base_variant][1][f"base-{base_variant}"]
    with pytest.raises(CheckpointMismatchError) as info:
        load_realcam_weights(tiny_config(model_variant), files, model=model_variant, depth="indoor")
    message = str(info.value)
    assert "16 unexpected key(s)" in message if base_variant == "256" else "16 missing key(s)" in message
    assert "attn2.alpha" in message
    assert "hint: this looks like the" in message and repo in message, message


def test_full_realcam_file_needs_no_base(released, tmp_path, caplog):
    state, files = released["512"]
    save_safetensors(state, tmp_path / "full.safetensors")
    full = {"realcam-512": tmp_path / "full.safetensors"}
    assert_same_weights(load_realcam_weights(tiny_config("512"), full, model="512", depth="indoor"), state)
    # With a base as well, the base is not read (this one is not even a checkpoint) and the log says so.
    (tmp_path / "model.ckpt").write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.INFO, logger="realcam.checkpoints.realcam_files"):
        merged = read_realcam_state_dict({**full, "base-512": tmp_path / "model.ckpt"}, model="512", depth="indoor")
    assert "the base" in caplog.text and "not needed" in caplog.text
    assert set(merged) == set(state)


def test_addon_without_base_names_the_base(released):
    files = {k: v for k, v in released["256"][1].items() if k != "base-256"}
    with pytest.raises(WeightsMissingError, match=r"only the camera plugin.*'base-256' \(Doubiiu/DynamiCrafter/model"):
        read_realcam_state_dict(files, model="256", depth="indoor")


def test_addon_of_the_other_resolution_is_refused(released, tmp_path):
    state, files = released["512"]
    plugin = {k: v for k, v in state.items() if is_camera_key(k)}
    # The released name says 512: refused for the 256 model before anything is loaded.
    wrong = {**released["256"][1], "realcam-256": files["realcam-512"]}
    with pytest.raises(
        CheckpointMismatchError, match=r"camera plugin of the 512 model .*starts with 512_.*--model 256"
    ):
        read_realcam_state_dict(wrong, model="256", depth="indoor")
    # `realcam train` metadata says 512 (whatever the name): refused too.
    save_safetensors(plugin, tmp_path / "plugin.safetensors", metadata={"model": "512", "step": 10})
    assert addon_resolution(tmp_path / "plugin.safetensors") == ("512", "its safetensors metadata says model=512")
    with pytest.raises(CheckpointMismatchError, match="metadata says model=512"):
        read_realcam_state_dict({**wrong, "realcam-256": tmp_path / "plugin.safetensors"}, model="256", depth="indoor")
    # Metadata wins over the name; no name or metadata signal: cannot be known (documented limit), accepted.
    save_safetensors(plugin, tmp_path / "256_x.safetensors", metadata={"model": "512"})
    assert addon_resolution(tmp_path / "256_x.safetensors")[0] == "512"
    save_safetensors(plugin, tmp_path / "camera.safetensors", metadata={"model": "custom"})
    assert addon_resolution(tmp_path / "camera.safetensors")[0] is None
    merged = read_realcam_state_dict(
        {**wrong, "realcam-256": tmp_path / "camera.safetensors"}, model="256", depth="indoor"
    )
    assert torch.equal(merged["pose_encoder.encoder_conv_in.weight"], plugin["pose_encoder.encoder_conv_in.weight"])
