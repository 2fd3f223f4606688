"""Weights assembly for the pipeline (base .ckpt + camera add-on .safetensors + DA-V2 .pth in the released layouts,
written here from a tiny model), the `realcam bench` command, and conditioning helpers."""

from __future__ import annotations

import json

import pytest
import torch
from released_files import use_tiny_presets, write_released_files

from realcam.checkpoints.load import save_safetensors
from realcam.cli.main import main
from realcam.models.camera.epipolar import pairwise_relative_poses
from realcam.pipeline import conditioning as cond
from realcam.pipeline.i2v import load_realcam_weights
from realcam.pipeline.tiny import tiny_config, tiny_tokenizer


def test_load_realcam_weights_from_the_three_released_file_kinds(tmp_path):
    source, files = write_released_files(tmp_path, "512", seed=2)
    files = {k: v for k, v in files.items() if not k.startswith("clip-")}
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
    assert "within each stage" in report["memory_kind"]
    flops = report["flops"]
    assert flops["unet_tflop_per_forward"] > 0 and flops["cfg_branches"] == 2
    assert flops["unet_tflop_per_video"] == pytest.approx(2 * flops["unet_tflop_per_forward"], rel=1e-4)
    assert flops["achieved_tflops"] > 0 and flops["fraction_of_peak"] is None  # CPU: no peak given
    assert "TFLOP/video" in out
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


@pytest.fixture
def tiny_presets(monkeypatch):
    """`RealCamI2VConfig.preset` returns the tiny configs, so `from_pretrained` builds tiny models."""
    use_tiny_presets(monkeypatch)


def test_from_pretrained_local_paths_route(tmp_path, tiny_presets, monkeypatch):
    from realcam.pipeline.i2v import RealCamPipeline
    from realcam.scene.demo import demo_scene

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))  # nothing may come from a cache
    source, files = write_released_files(tmp_path)
    pipe = RealCamPipeline.from_pretrained("256", "indoor", paths=files)
    loaded = pipe.model.state_dict()
    assert set(loaded) == set(source) and all(torch.equal(loaded[k], v) for k, v in source.items())
    assert pipe.tokenizer.encode("a room") == tiny_tokenizer().encode("a room")
    assert (pipe.tokenizer.sot_id, pipe.tokenizer.eot_id) == (512, 513)  # the vocab file's special tokens
    image = demo_scene(64, 64).image
    assert pipe.estimate_depth(pipe.prepare_image(image)).shape == (64, 64)


def test_from_pretrained_without_depth_needs_no_depth_file(tmp_path, tiny_presets, monkeypatch):
    from realcam.errors import WeightsMissingError
    from realcam.pipeline.i2v import GenerationSettings, RealCamPipeline, ShapingSettings
    from realcam.scene.demo import demo_scene

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    _, files = write_released_files(tmp_path)
    del files["depth-indoor"]
    with pytest.raises(WeightsMissingError, match=r"realcam weights download .*--depth indoor"):
        RealCamPipeline.from_pretrained("256", "indoor", paths=files)  # depth to estimate: the file is required
    pipe = RealCamPipeline.from_pretrained("256", None, paths=files)  # depth always given: no depth file
    assert pipe.model.config.depth is None
    scene = demo_scene(64, 64)
    settings = GenerationSettings(steps=1, shaping=ShapingSettings(enabled=False))
    pipe.set_progress_bar_config(disable=True)
    result = pipe(scene.image, "orbit-left", settings, K=scene.K, depth=scene.depth)
    assert result.frames.shape == (16, 64, 64, 3) and result.metadata["depth_source"] == "given"
    with pytest.raises(ValueError, match="no depth network"):
        pipe(scene.image, "orbit-left", settings, K=scene.K)


def test_from_pretrained_with_a_full_realcam_file_needs_no_base(tmp_path, tiny_presets, monkeypatch):
    """A RealCam-I2V file holding the whole model (base UNet, VAE, CLIP and plugin) loads without a DynamiCrafter
    base: the cache is not asked for one, and the weights are the full file's."""
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))  # a base lookup in the cache would fail
    source, files = write_released_files(tmp_path)
    schedule = set(tiny_config("256").schedule().reference_buffers())
    full = {k: v for k, v in source.items() if not k.startswith("depth_predictor") and k not in schedule}
    save_safetensors(full, tmp_path / "full.safetensors")
    files = {**files, "realcam-256": tmp_path / "full.safetensors"}
    del files["base-256"]

    from realcam.pipeline.i2v import RealCamPipeline

    pipe = RealCamPipeline.from_pretrained("256", "indoor", paths=files)
    loaded = pipe.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in source.items())


def test_cli_generate_with_a_trained_camera_plugin_and_a_local_base(tmp_path, tiny_presets, monkeypatch):
    """`realcam generate --camera-plugin FILE [--base FILE]`: what a user runs after `realcam train`; the tokenizer
    still comes from the weights cache."""
    from hubcache import add_to_hub_cache

    from realcam.checkpoints import hub
    from realcam.io.video import read_video

    _, files = write_released_files(tmp_path)
    cache = tmp_path / "cache"
    for key in ("clip-vocab", "clip-merges"):
        add_to_hub_cache(cache, hub.WEIGHT_FILES[key].repo_id, hub.WEIGHT_FILES[key].filename, files[key].read_bytes())
    monkeypatch.setenv("REALCAM_CACHE", str(cache))
    plugin = tmp_path / "camera_plugin.safetensors"
    files["realcam-256"].rename(plugin)  # a name without the released prefix, as `realcam train` writes it
    out = tmp_path / "out.mp4"
    argv = ["generate", "--demo", "--preset", "pan-left", "--steps", "1", "--no-noise-shaping", "-o", str(out)]
    extra = ["--camera-plugin", str(plugin), "--base", str(files["base-256"]), "--outlier-statistic", "relative"]
    assert main([*argv, *extra]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["camera_plugin"] == str(plugin) and record["base"] == str(files["base-256"])
    assert record["settings"]["outlier_statistic"] == "relative"
    assert read_video(out).shape == (16, 64, 64, 3)
    assert main([*argv, "--camera-plugin", str(plugin), "--checkpoint", str(plugin)]) == 1  # one or the other
