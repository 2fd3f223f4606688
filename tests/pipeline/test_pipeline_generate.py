"""The tiny full model (random weights, made here) through `realcam generate` and `RealCamPipeline` on CPU:
video + preview + sidecar, determinism for a seed, a live camera condition, step-by-step noise shaping, modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from realcam.checkpoints.load import save_safetensors
from realcam.cli.main import main
from realcam.diffusion.ddim import DDIMStep
from realcam.io.video import read_video, video_info
from realcam.pipeline import conditioning as cond
from realcam.pipeline.i2v import GenerationSettings, RealCamPipeline, ShapingSettings
from realcam.pipeline.noise_shaping import NoiseShaping
from realcam.pipeline.sampling import sample_latents
from realcam.pipeline.tiny import tiny_model, tiny_tokenizer
from realcam.scene.demo import demo_scene


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny-256.safetensors"
    save_safetensors(tiny_model("256", seed=0).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def pipe():
    return RealCamPipeline(tiny_model("256", seed=0), tiny_tokenizer())


def generate(checkpoint, out, *extra):
    argv = [
        "generate",
        "--demo",
        "--model",
        "tiny-256",
        "--checkpoint",
        str(checkpoint),
        "--steps",
        "1",
        "-o",
        str(out),
    ]
    assert main([*argv, *extra]) == 0
    return read_video(out)


def test_cli_generate_writes_video_preview_sidecar_deterministically(tiny_checkpoint, tmp_path):
    torch.manual_seed(0)
    # Lossless storage: the decoded frames are exactly the generated ones. (Lossy x264 output is not byte-stable
    # from run to run on this host even for identical frames, so it cannot show determinism.)
    args = ("--preset", "orbit-left", "--seed", "7", "--prompt", "room", "--lossless")
    first = generate(tiny_checkpoint, tmp_path / "a.mp4", *args)
    again = generate(tiny_checkpoint, tmp_path / "b.mp4", *args)
    assert first.shape == (16, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)  # same seed and inputs: the same video
    assert video_info(tmp_path / "a.preview.mp4").num_frames == 16
    record = json.loads((tmp_path / "a.json").read_text())
    mask = read_video(tmp_path / "a.preview_mask.mp4")  # the noise-shaping mask next to the preview, lossless
    assert record["preview_mask"] == "a.preview_mask.mp4" and mask.shape == (16, 64, 64, 3)
    cells = mask[:, ::8, ::8, 0] > 127  # one latent cell per 8x8 block
    constrained = np.array(record["coverage_per_frame"])
    np.testing.assert_allclose(cells.reshape(16, -1).mean(axis=1), constrained, atol=1e-3)
    assert record["settings"]["seed"] == 7 and record["settings"]["prompt"] == "room"
    assert record["settings"]["shaping"]["t0"] == 900 and record["mode"] == "i2v"
    assert record["trajectory"]["format"] == "realcam-trajectory" and record["trajectory"]["frames"]["num_frames"] == 16
    assert set(record["timings_s"]) >= {"depth", "preview", "encode", "denoise", "decode"}
    assert len(record["coverage_per_frame"]) == 16 and record["coverage_per_frame"][0] > 0.9
    assert record["versions"]["torch"] and record["metric_scale"]["translation_scale"] == 1.0


def test_cli_generate_from_an_image_file_uses_the_depth_network(tiny_checkpoint, tmp_path):
    from PIL import Image

    Image.fromarray(demo_scene(96, 80).image).save(tmp_path / "room.png")  # not the model size: resized + cropped
    out = tmp_path / "img.mp4"
    argv = ["generate", str(tmp_path / "room.png"), "--model", "tiny-256", "--checkpoint", str(tiny_checkpoint)]
    assert main([*argv, "--preset", "pan-left", "--steps", "1", "--no-noise-shaping", "-o", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["depth_source"] == "model" and record["settings"]["shaping"]["enabled"] is False
    assert record["cameras"]["K"][0][0][0] == 0.5 * int(96 * 64 / 80)  # reference K: half the long resized side
    assert read_video(out).shape == (16, 64, 64, 3)


def test_cli_generate_with_a_depth_file_skips_the_depth_network(tiny_checkpoint, tmp_path, monkeypatch):
    from PIL import Image

    scene = demo_scene(96, 80)  # not the model size: image and depth are resized and cropped alike
    Image.fromarray(scene.image).save(tmp_path / "room.png")
    np.save(tmp_path / "room_depth.npy", scene.depth.numpy())

    def no_estimate(self, image):
        raise AssertionError("the depth network ran although --depth was given")

    monkeypatch.setattr(RealCamPipeline, "estimate_depth", no_estimate)
    out = tmp_path / "d.mp4"
    argv = ["generate", str(tmp_path / "room.png"), "--depth", str(tmp_path / "room_depth.npy")]
    argv += ["--model", "tiny-256", "--checkpoint", str(tiny_checkpoint), "--preset", "orbit-left", "--steps", "1"]
    assert main([*argv, "-o", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["depth_source"] == "given" and record["depth_file"].endswith("room_depth.npy")
    assert record["coverage_per_frame"][0] > 0.9  # the given depth lifted the scene
    np.save(tmp_path / "wrong.npy", np.ones((10, 10), np.float32))
    argv[3] = str(tmp_path / "wrong.npy")
    assert main([*argv, "-o", str(tmp_path / "e.mp4")]) == 1


def test_cli_generate_loop_mode_closes_the_path(tiny_checkpoint, tmp_path):
    out = tmp_path / "loop.mp4"
    generate(tiny_checkpoint, out, "--preset", "orbit-left", "--mode", "loop", "--no-noise-shaping")
    record = json.loads(out.with_suffix(".json").read_text())
    c2w = torch.tensor(record["cameras"]["c2w"])
    assert record["mode"] == "loop" and record["settings"]["mode"] == "loop"
    torch.testing.assert_close(c2w[-1], torch.eye(4), atol=1e-5, rtol=0)
    assert c2w[7, :3, 3].norm() > 0.1  # out along the orbit, then back


def test_cli_generate_missing_weights_fails_fast_with_the_download_command(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    # The demo has exact depth: the depth model's file is not asked for.
    code = main(["generate", "--demo", "--preset", "orbit-left", "-o", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert code == 1
    assert "realcam weights download --model 256 --only base camera tokenizer" in err
    assert "depth_anything" not in err.lower()
    assert not (tmp_path / "x.mp4").exists()
    # A photo without --depth: the depth is estimated, so its file is required too.
    Image.fromarray(demo_scene(64, 64).image).save(tmp_path / "room.png")
    code = main(["generate", str(tmp_path / "room.png"), "--preset", "orbit-left", "-o", str(tmp_path / "y.mp4")])
    err = capsys.readouterr().err
    assert code == 1 and "realcam weights download --model 256 --depth indoor" in err


def test_cli_generate_rejects_inconsistent_mode_arguments(tiny_checkpoint, tmp_path, capsys):
    argv = ["generate", "--demo", "--preset", "orbit-left", "--model", "tiny-256", "--checkpoint", str(tiny_checkpoint)]
    assert main([*argv, "--mode", "interp", "-o", str(tmp_path / "x.mp4")]) == 1
    assert "--end-image" in capsys.readouterr().err


def _conditions(pipe, settings, trajectory="orbit-left"):
    scene = demo_scene(64, 64)
    generator = torch.Generator().manual_seed(settings.seed)
    prepared = pipe.prepare_image(scene.image, scene.K)
    c2w, K = pipe.cameras(pipe.resolve_trajectory(trajectory), prepared.K, settings.translation_scale)
    preview = pipe.render_preview(pipe.build_scene(prepared, scene.depth), c2w, K, settings.shaping)
    conditions = pipe.encode_conditions(prepared, preview, settings, generator)
    camera = pipe.build_camera_condition(c2w, K, generator)
    return conditions, camera, preview


def test_noise_shaping_touches_only_masked_cells_and_only_at_steps_above_t0(pipe):
    settings = GenerationSettings(steps=4, seed=3, shaping=ShapingSettings(t0=700))
    conditions, camera, preview = _conditions(pipe, settings)
    mask = preview.mask[None, None].expand(1, 4, 16, 8, 8)
    assert 0 < mask.float().mean() < 1  # some cells are constrained, some are free
    concat = cond.concat_latent(conditions.z_cond, 16)
    c = cond.UNetCondition(concat, conditions.context, conditions.fs, camera)
    u = cond.UNetCondition(concat, conditions.uncond_context, conditions.fs, camera)
    shaping = NoiseShaping(conditions.z_preview, preview.mask, t0=700)
    x_T = torch.randn(1, 4, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    steps: list[DDIMStep] = []
    sample_latents(
        pipe.model, x_T, c, u, settings.sampler(), generator=torch.Generator().manual_seed(1), shaping=shaping,
        on_step_end=steps.append,
    )  # fmt: skip
    assert [s.t for s in steps] == [999, 749, 499, 249]
    before = [x_T] + [s.x_prev for s in steps[:-1]]
    for step, x_before in zip(steps, before, strict=True):
        changed = step.x_t != x_before
        assert not changed[~mask].any(), f"unmasked cells changed at t={step.t}"
        if step.t >= 700:
            assert changed[mask].float().mean() > 0.99, f"masked cells not re-noised at t={step.t}"
        else:
            assert not changed.any(), f"x_t changed at t={step.t} < t0"


def _latents(pipe, trajectory, seed=5):
    settings = GenerationSettings(steps=1, seed=seed, shaping=ShapingSettings(enabled=False))
    conditions, camera, preview = _conditions(pipe, settings, trajectory)
    return pipe.denoise(conditions, camera, preview, settings, torch.Generator().manual_seed(seed))


def test_same_seed_same_latents_and_camera_changes_them(pipe):
    """Determinism in-process, and another trajectory gives another output (the camera condition is live)."""
    a, b, c = _latents(pipe, "orbit-left"), _latents(pipe, "orbit-left"), _latents(pipe, "dolly-forward")
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-3)


def test_translation_scale_multiplies_metric_translations(pipe):
    sampled = pipe.resolve_trajectory("truck-right")
    K = torch.eye(3)
    c2w_1, _ = pipe.cameras(sampled, K, 1.0)
    c2w_2, _ = pipe.cameras(sampled, K, 2.5)
    torch.testing.assert_close(c2w_2[:, :3, 3], 2.5 * c2w_1[:, :3, 3])
    torch.testing.assert_close(c2w_2[:, :3, :3], c2w_1[:, :3, :3])
