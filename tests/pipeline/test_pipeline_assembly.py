"""Weights assembly for the pipeline (base .ckpt + camera add-on .safetensors + DA-V2 .pth in the released layouts,
written here from a tiny model), the `realcam bench` command, and conditioning helpers."""

from __future__ import annotations

import json

import torch

from realcam.checkpoints.keys import is_camera_key
from realcam.checkpoints.load import save_safetensors
from realcam.cli.main import main
from realcam.models.camera.epipolar import pairwise_relative_poses
from realcam.pipeline import conditioning as cond
from realcam.pipeline.i2v import load_realcam_weights
from realcam.pipeline.tiny import tiny_config, tiny_model


def test_load_realcam_weights_from_the_three_released_file_kinds(tmp_path):
    source = tiny_model("512", seed=2).state_dict()
    schedule = set(tiny_config("512").schedule().reference_buffers())
    depth = {k.removeprefix("depth_predictor."): v for k, v in source.items() if k.startswith("depth_predictor.")}
    addon = {k: v for k, v in source.items() if is_camera_key(k)}
    base = {
        k: v
        for k, v in source.items()
        if not is_camera_key(k) and not k.startswith("depth_predictor") and k not in schedule
    }
    torch.save({"state_dict": base}, tmp_path / "model.ckpt")
    save_safetensors(addon, tmp_path / "addon.safetensors")
    torch.save(depth, tmp_path / "depth.pth")
    files = {
        "base-512": tmp_path / "model.ckpt",
        "realcam-512": tmp_path / "addon.safetensors",
        "depth-indoor": tmp_path / "depth.pth",
    }
    model = load_realcam_weights(tiny_config("512"), files, model="512", depth="indoor")
    loaded = model.state_dict()
    assert set(loaded) == set(source)
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key  # schedule buffers are recomputed: the same values
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])


def test_realcam_bench_tiny_writes_report_and_video(tmp_path, capsys):
    assert (
        main(["bench", "--model", "256", "--size", "tiny", "--steps", "1", "--device", "cpu", "-o", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "denoise" in out and "decode" in out
    report = json.loads((tmp_path / "bench-256-tiny-cpu.json").read_text())
    assert set(report["stages_s"]) == {"prepare", "depth", "scene", "preview", "encode", "camera", "denoise", "decode"}
    assert len(report["step_s"]) == 1 and report["peak_memory_bytes"]["decode"] > 0
    assert (tmp_path / "bench-256-tiny-cpu.mp4").stat().st_size > 0


def test_zero_translation_perturbation_is_seeded_and_only_touches_zero_pairs():
    rel = torch.eye(4).repeat(1, 4, 1, 1)
    rel[0, 2:, 0, 3] = torch.tensor([0.5, 1.0])  # frames 0 and 1 coincide; 2 and 3 are apart
    pairs = pairwise_relative_poses(rel)
    a = cond.perturbed_pair_translations(pairs, torch.Generator().manual_seed(0))
    b = cond.perturbed_pair_translations(pairs, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    raw = pairs[..., :3, 3:]
    zero = (raw.abs() < 1e-6).all(dim=-2).squeeze(-1)
    assert torch.equal(a[~zero], raw[~zero])
    assert (a[zero].abs() < 1e-5).all() and (a[zero] != 0).all()
