import pytest
import torch
from reference_keys import reference_key_rows
from torch import nn

from realcam.checkpoints.assemble import merge_realcam_state_dicts, realcam_file_kind
from realcam.checkpoints.keys import component_of, source_of
from realcam.checkpoints.load import (
    compare_keys,
    diagnose,
    load_state_dict_strict,
    read_dynamicrafter_base,
    read_state_dict,
    save_safetensors,
)
from realcam.errors import CheckpointMismatchError, InputError


class TinyUNetLike(nn.Module):
    """Keys shaped like the reference's: a diffusion UNet with an fs embedding and one camera block."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.diffusion_model = nn.Module()
        unet = self.model.diffusion_model
        unet.fps_embedding = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 8))
        block = nn.Module()
        block.pluker_projection = nn.Linear(8, 8)
        unet.block = block
        self.pose_encoder = nn.Linear(6, 8)
        self.register_buffer("betas", torch.linspace(0, 1, 10))


def dynamicrafter_ckpt(model: nn.Module) -> dict:
    """The DynamiCrafter file layout: Lightning pickle, `state_dict`, 256-base name `framestride_embed`, no plugin."""
    state = {}
    for key, value in model.state_dict().items():
        if source_of(key) != "DC_BASE":
            continue
        state[key.replace("fps_embedding", "framestride_embed")] = value.clone()
    return {"state_dict": state, "epoch": 3, "global_step": 1000}


def test_dynamicrafter_ckpt_roundtrip_strict(tmp_path):
    source = TinyUNetLike()
    path = tmp_path / "model.ckpt"
    torch.save(dynamicrafter_ckpt(source), path)
    base = read_dynamicrafter_base(path)
    assert "model.diffusion_model.fps_embedding.0.weight" in base
    assert not any("framestride_embed" in k for k in base)
    plugin = {k: v for k, v in source.state_dict().items() if source_of(k) == "REALCAM"}
    save_safetensors(plugin, tmp_path / "addon.safetensors")
    addon = read_state_dict(tmp_path / "addon.safetensors")
    assert realcam_file_kind(addon) == "addon"
    target = TinyUNetLike()
    load_state_dict_strict(target, merge_realcam_state_dicts(base, addon, None))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, rtol=0, atol=0)


def test_truncated_checkpoint_fails_with_grouped_report(tmp_path):
    source = TinyUNetLike()
    ckpt = dynamicrafter_ckpt(source)
    path = tmp_path / "model.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_state_dict_strict(TinyUNetLike(), read_dynamicrafter_base(path), what="tiny")
    message = str(info.value)
    assert "camera_plugin (4)" in message and "missing" in message
    assert "RealCam-I2V add-on" in message  # the hint names what to pass


def test_mismatched_shape_is_reported(tmp_path):
    state = TinyUNetLike().state_dict()
    state["pose_encoder.weight"] = torch.zeros(8, 7)
    with pytest.raises(CheckpointMismatchError, match=r"pose_encoder.weight: model \(8, 6\), file \(8, 7\)"):
        load_state_dict_strict(TinyUNetLike(), state)


def test_wrong_base_resolution_hint():
    expected = {"scale_arr": (1400,), "x.attn2.to_k.weight": (2, 2)}
    given = {"x.attn2.to_k.weight": torch.zeros(2, 2), "model.diffusion_model.a.attn2.alpha": torch.zeros(())}
    hints = diagnose(compare_keys(expected, given))
    assert any("DynamiCrafter_512" in h for h in hints)


def test_pickle_with_code_is_refused(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": Evil()}, path, _use_new_zipfile_serialization=True)
    with pytest.raises(InputError, match="state dict of tensors"):  # the call became an inert placeholder
        read_state_dict(path)
    assert "pwned" not in capsys.readouterr().out  # and was never made


def test_non_tensor_state_dict_is_refused(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": {"a": 1}}, path)
    with pytest.raises(InputError, match="state dict of tensors"):
        read_state_dict(path)


def test_component_and_source_rules():
    assert component_of(
        "model.diffusion_model.input_blocks.1.2.transformer_blocks.0.epipolar.epipolar_attn.to_q.weight"
    ) == ("camera_plugin")
    assert component_of("model.diffusion_model.input_blocks.1.1.proj_in.weight") == "unet"
    assert component_of("depth_predictor_normalizer_mean") == "depth"
    assert component_of("scale_arr") == "schedule"
    assert source_of("depth_predictor.pretrained.cls_token") == "DEPTH"
    assert source_of("pose_encoder.encoder_conv_in.weight") == "REALCAM"
    assert source_of("first_stage_model.encoder.conv_in.weight") == "DC_BASE"


def test_reference_key_table_sources_agree_with_rules():
    """Every key of the full-size reference table is classified as the table says."""
    rows = reference_key_rows()
    assert len(rows) == 3223
    wrong = [(row.key, row.source) for row in rows if source_of(row.key) != row.source]
    assert wrong == []
