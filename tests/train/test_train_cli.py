"""`realcam train` end to end on CPU: the tiny model, a real (synthetic) RealEstate10K manifest through the data
pipeline, one optimisation step, then a resume to step 2; plus config resolution."""

import json

import pytest
from train_synthetic import make_manifest

from realcam.checkpoints.load import read_state_dict
from realcam.cli.main import build_parser, main
from realcam.cli.train import resolve_config


def test_flags_override_the_released_recipe(tmp_path):
    args = build_parser().parse_args(
        ["train", "--manifest", "m.jsonl", "--output", str(tmp_path), "--grad-accum", "2", "--lr", "3e-5"]
    )
    config = resolve_config(args)
    assert (config.loop.grad_accum, config.optimizer.lr, config.model) == (2, 3e-5, "256")
    assert (config.loop.max_steps, config.optimizer.grad_clip_norm, config.loop.mixed_precision) == (
        50_000,
        0.5,
        "fp16",
    )
    (tmp_path / "c.json").write_text(json.dumps({"loop": {"nope": 1}}))
    args = build_parser().parse_args(
        ["train", "--manifest", "m", "--output", "o", "--config", str(tmp_path / "c.json")]
    )
    with pytest.raises(ValueError, match="nope"):
        resolve_config(args)


SAMPLE = ("--sample-every", "1", "--sample-clips", "1", "--sample-steps", "2")


def _reset_accelerate():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def _args(manifest, out, *extra):
    return [
        "train", "--tiny", "--manifest", str(manifest), "--output", str(out), "--frames", "4", "--cpu",
        "--grad-accum", "1", "--mixed-precision", "no", "--num-workers", "0", "--log-every", "1",
        "--checkpoint-every", "1", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_cli_tiny_run_with_validation(tmp_path, capsys):
    _reset_accelerate()
    manifest = make_manifest(tmp_path / "data")
    out = tmp_path / "run"
    assert (
        main(
            _args(manifest, out, "--max-steps", "1", "--validate-every", "1", "--val-manifest", str(manifest), *SAMPLE)
        )
        == 0
    )
    assert "step 1: loss" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1]
    assert [r["step"] for r in records if "val_loss" in r] == [1] and records[-1]["val_loss"] > 0
    assert (out / "checkpoints" / "step-0000001" / "camera_plugin.safetensors").is_file()
    addon = read_state_dict(out / "camera_plugin.safetensors")
    assert addon and all(
        k.startswith("pose_encoder.") or ".epipolar." in k or ".pluker_projection." in k for k in addon
    )
    assert (out / "samples" / "step-0000001" / "clip0.mp4").is_file()
    sidecar = json.loads((out / "camera_plugin.json").read_text())
    assert sidecar["step"] == 1 and sidecar["config"]["model"] == "tiny-256"


@pytest.mark.slow
def test_cli_resume_latest(tmp_path, capsys):
    _reset_accelerate()
    manifest = make_manifest(tmp_path / "data")
    out = tmp_path / "run"
    assert main(_args(manifest, out, "--max-steps", "1")) == 0
    assert main(_args(manifest, out, "--max-steps", "2", "--resume", "latest")) == 0
    assert "step 2: loss" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2]
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-0000001", "step-0000002"]


def test_fp16_on_cpu_is_refused(tmp_path):
    from realcam.train.config import TrainConfig
    from realcam.train.loop import make_accelerator

    with pytest.raises(ValueError, match="fp16"):
        make_accelerator(TrainConfig(output_dir=str(tmp_path)), cpu=True)


def test_base_loads_strictly_except_the_plugin():
    variant = "512"
    import torch
    from train_synthetic import make_model

    from realcam.checkpoints.keys import DC_BASE, is_camera_key, source_of
    from realcam.cli.train import load_base_for_training
    from realcam.errors import CheckpointMismatchError

    donor, model = make_model(variant), make_model(variant)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(0.5)
    base = {k: v for k, v in donor.state_dict().items() if source_of(k) == DC_BASE}
    base["betas"] = torch.zeros_like(base["betas"])  # a stale schedule in the file is recomputed (ZTSNR)
    camera_before = {k: v.clone() for k, v in model.state_dict().items() if is_camera_key(k)}
    load_base_for_training(model, base, what="base")
    state = model.state_dict()
    for key, value in state.items():
        if is_camera_key(key):
            assert torch.equal(value, camera_before[key]), key
        elif key == "betas":
            torch.testing.assert_close(value, model.config.schedule().reference_buffers()["betas"])
        else:
            assert torch.equal(value, base[key]), key
    del base[next(k for k in base if k.startswith("model.diffusion_model."))]
    with pytest.raises(CheckpointMismatchError, match="1 missing"):
        load_base_for_training(model, base, what="base")


@pytest.mark.slow
def test_cli_tensorboard_logging_writes_event_files(tmp_path):
    _reset_accelerate()
    manifest = make_manifest(tmp_path / "data")
    out = tmp_path / "run"
    assert main(_args(manifest, out, "--max-steps", "1", "--tensorboard")) == 0
    events = list((out / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
