"""Add-on checkpoints (strict on the camera-plugin subset), resume state checks and the strict training config."""

import json

import pytest
import torch
from train_synthetic import make_model, released_weight_files

from realcam.checkpoints.keys import REALCAM, is_camera_key, source_of
from realcam.errors import CheckpointMismatchError
from realcam.train.checkpoint import (
    ADDON_FILE,
    camera_plugin_state_dict,
    latest_checkpoint,
    list_checkpoints,
    load_camera_plugin,
    read_training_state,
    save_camera_plugin,
    save_training_state,
    step_dir,
)
from realcam.train.config import LoopConfig, OptimizerConfig, TrainConfig


def test_addon_round_trip_touches_only_the_plugin(tmp_path):
    trained, fresh = make_model(), make_model()
    with torch.no_grad():
        for param in trained.parameters():
            param.add_(1.0)
    path = save_camera_plugin(trained, tmp_path / "addon.safetensors", {"step": 7})
    addon = camera_plugin_state_dict(trained)
    assert set(addon) == {k for k in trained.state_dict() if source_of(k) == REALCAM}
    assert all(is_camera_key(k) for k in addon)
    assert any("pos_encoder" in k for k in addon)  # buffers of the pose encoder travel with the add-on
    before = fresh.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    load_camera_plugin(fresh, path)
    after, source = fresh.state_dict(), trained.state_dict()
    for key in after:
        expected = source[key] if key in addon else before[key]
        assert torch.equal(after[key], expected), key
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["step"] == "7" and handle.metadata()["format"] == "realcam-camera-plugin"


def test_addon_mismatch_raises_one_report(tmp_path):
    model = make_model()
    addon = camera_plugin_state_dict(model)
    missing = dict(addon)
    dropped = next(iter(missing))
    del missing[dropped]
    with pytest.raises(CheckpointMismatchError, match="1 missing"):
        load_camera_plugin(model, missing)
    extra = dict(addon, **{"model.diffusion_model.out.2.weight": torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError, match="unexpected"):
        load_camera_plugin(model, extra)
    key = next(k for k, v in addon.items() if v.ndim == 2)
    wrong = dict(addon, **{key: torch.zeros(3, 3)})
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        load_camera_plugin(model, wrong)


def test_training_state_checks_parameter_names(tmp_path):
    directory = step_dir(tmp_path, 5)
    directory.mkdir(parents=True)
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.AdamW([param])
    param.grad = torch.ones(2)
    optimizer.step()
    save_training_state(
        directory, step=5, optimizer_state=optimizer.state_dict(), parameter_names=["a"], scaler_state=None
    )
    assert read_training_state(directory, ["a"])["step"] == 5
    with pytest.raises(CheckpointMismatchError, match="other trainable parameters"):
        read_training_state(directory, ["b"])
    assert list_checkpoints(tmp_path) == []  # no add-on yet: incomplete, ignored
    save_camera_plugin(make_model(), directory / ADDON_FILE)
    assert list_checkpoints(tmp_path) == [(5, directory)] and latest_checkpoint(tmp_path) == directory


def test_config_is_strict_and_round_trips(tmp_path):
    config = TrainConfig(model="512", optimizer=OptimizerConfig(lr=2e-4), loop=LoopConfig(grad_accum=2))
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config.to_dict()))
    assert TrainConfig.from_json(path) == config
    assert TrainConfig.from_dict({}) == TrainConfig()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr_typo'\]"):
        TrainConfig.from_dict({"optimizer": dict(config.to_dict()["optimizer"], lr_typo=1)})
    loop = config.to_dict()["loop"]
    del loop["seed"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['seed'\]"):
        TrainConfig.from_dict({"loop": loop})
    with pytest.raises(ValueError, match="mixed_precision"):
        LoopConfig(mixed_precision="fp8")
    defaults = TrainConfig()
    assert (defaults.optimizer.lr, defaults.optimizer.weight_decay, defaults.optimizer.grad_clip_norm) == (
        1e-4,
        1e-2,
        0.5,
    )
    assert (defaults.loop.grad_accum, defaults.loop.seed, defaults.step.uncond_prob) == (8, 20230211, 0.05)


def test_trained_addon_loads_through_the_pipeline_loader(tmp_path, monkeypatch):
    """The add-on as training writes it (`save_camera_plugin`, the loop's writer) is a valid `realcam-256` file for the
    pipeline: `load_realcam_weights` (strict over every key) and `RealCamPipeline.from_pretrained(paths=...)` give the
    trained plugin and the base/depth weights untouched."""
    from realcam.models.realcam_i2v import RealCamI2VConfig
    from realcam.pipeline.i2v import RealCamPipeline, load_realcam_weights
    from realcam.pipeline.tiny import tiny_config

    trained = make_model()
    with torch.no_grad():
        for name, param in trained.named_parameters():
            if is_camera_key(name):
                param.add_(0.5)  # a trained plugin differs from every donor tensor
    addon_path = save_camera_plugin(trained, tmp_path / ADDON_FILE, {"model": "tiny-256", "step": 2})
    files, donor = released_weight_files(tmp_path, addon_path)
    addon = camera_plugin_state_dict(trained)

    def check(model) -> None:
        loaded = model.state_dict()
        assert set(loaded) == set(donor)
        for key, value in loaded.items():
            assert torch.equal(value, addon[key] if key in addon else donor[key]), key

    check(load_realcam_weights(tiny_config("256"), files, model="256", depth="indoor"))
    # from_pretrained builds the released preset; at test size the preset is swapped for the tiny config.
    tiny = tiny_config("256")
    monkeypatch.setattr(RealCamI2VConfig, "preset", classmethod(lambda cls, name, depth="indoor": tiny))
    pipeline = RealCamPipeline.from_pretrained("256", "indoor", paths=files)
    check(pipeline.model)
    assert pipeline.tokenizer.encoder == json.loads(files["clip-vocab"].read_text())

    # A plugin missing one tensor is refused by the pipeline's strict check, naming the key.
    partial = dict(addon)
    dropped = sorted(partial)[0]
    del partial[dropped]
    from realcam.checkpoints.load import save_safetensors

    save_safetensors(partial, tmp_path / "partial.safetensors")
    files["realcam-256"] = tmp_path / "partial.safetensors"
    with pytest.raises(CheckpointMismatchError, match=dropped.replace(".", "\\.")):
        load_realcam_weights(tiny_config("256"), files, model="256", depth="indoor")
