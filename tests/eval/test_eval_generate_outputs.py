"""`realcam eval camera` reads what `realcam generate` writes: the sidecar camera is the conditioning camera, metric.

The fast tests run the real `realcam generate` path (tiny checkpoint, demo room: trajectory, cameras, preview, sidecar
writing) with the three network stages replaced by cheap stand-ins, so they take seconds; the slow test runs the tiny
network for real and then the whole `realcam eval camera` command on its output.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from realcam.checkpoints.load import save_safetensors
from realcam.cli.main import main
from realcam.eval.harness import HarnessConfig, run_trials
from realcam.eval.layout import discover_samples, read_sidecar_camera
from realcam.io.video import video_info
from realcam.pipeline.i2v import RealCamPipeline
from realcam.pipeline.tiny import tiny_model
from realcam.scene.demo import demo_scene
from realcam.trajectory.presets import make_preset

H = W = 64  # the tiny-256 model size, so the size of the written video


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny-256.safetensors"
    save_safetensors(tiny_model("256", seed=0).state_dict(), path)
    return path


def _fast_networks(monkeypatch):
    """Stand-ins for the VAE/CLIP encoding, the camera encoder, the DDIM loop and the VAE decoding; the trajectory,
    cameras, preview render, video and sidecar writing stay real."""

    def encode_conditions(self, image, preview, settings, generator, end_image=None):
        return SimpleNamespace(fs=torch.tensor([3]))  # the sidecar records fs; nothing else reads the stand-in

    def denoise(self, conditions, camera, preview, settings, generator, *, continuation=None, on_step_end=None):
        h, w = self.model.config.latent_hw
        return torch.zeros(1, 4, self.model.config.frames, h, w)

    def decode(self, latents, chunk=4):
        rng = np.random.default_rng(latents.shape[2])
        return torch.from_numpy(rng.integers(0, 256, (latents.shape[2], H, W, 3), dtype=np.uint8))

    monkeypatch.setattr(RealCamPipeline, "encode_conditions", encode_conditions)
    monkeypatch.setattr(RealCamPipeline, "build_camera_condition", lambda self, c2w, K, generator: None)
    monkeypatch.setattr(RealCamPipeline, "denoise", denoise)
    monkeypatch.setattr(RealCamPipeline, "decode", decode)


def _generate(checkpoint, out, *extra):
    argv = ["generate", "--demo", "--model", "tiny-256", "--checkpoint", str(checkpoint), "--steps", "1"]
    assert main([*argv, *extra, "-o", str(out)]) == 0


@pytest.fixture(scope="module")
def generated(tiny_checkpoint, tmp_path_factory):
    """`realcam generate` outputs (fast stand-in networks): a 2x-scaled dolly, a zoom and a 2-clip continuation."""
    folder = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fast_networks(monkeypatch)
        _generate(tiny_checkpoint, folder / "dolly.mp4", "--preset", "dolly-forward", "--distance", "1", "--scale", "2")
        _generate(tiny_checkpoint, folder / "zoom.mp4", "--preset", "zoom-in")
        continued = ("--mode", "continue", "--segments", "2")
        _generate(tiny_checkpoint, folder / "long.mp4", "--preset", "truck-right", *continued)
    return folder


def test_generate_sidecar_is_the_metric_conditioning_camera(generated):
    samples = {s.name: s for s in discover_samples(generated)}
    assert sorted(samples) == ["dolly", "long", "zoom"]  # *.preview.mp4 have no sidecar: not samples
    sample = samples["dolly"]
    assert sample.gt_metric and sample.problem is None and sample.gt_video is None
    # The camera the model was conditioned on: relative to frame 0, translations x --scale, in metres, applied once.
    expected = make_preset("dolly-forward", distance=1.0).sample(16).c2w.double().numpy()
    expected[:, :3, 3] *= 2.0
    np.testing.assert_allclose(sample.gt_c2w, expected, atol=1e-6)
    np.testing.assert_allclose(sample.gt_c2w[-1, :3, 3], [0.0, 0.0, 2.0], atol=1e-6)  # 2 m forward (OpenCV +z)
    # K in pixels of the written video (the demo room's K at the model size).
    np.testing.assert_allclose(sample.K, demo_scene(H, W).K.double().numpy(), atol=1e-6)
    info = video_info(sample.video)
    assert (info.num_frames, info.height, info.width) == (len(sample.gt_c2w), H, W)
    record = json.loads(sample.video.with_suffix(".json").read_text())
    assert record["metric_scale"] == {"translation_scale": 2.0, "units": "metres"}


def test_generate_outputs_the_sfm_cannot_use_are_counted_failures_with_the_reason(generated, tmp_path):
    samples = {s.name: s for s in discover_samples(generated)}
    zoom, long = samples["zoom"], samples["long"]
    assert "intrinsics change" in zoom.problem
    assert video_info(long.video).num_frames == 28 and len(long.gt_c2w) == 16
    assert "28 frames" in long.problem and "first clip" in long.problem
    records = run_trials([zoom, long], tmp_path, config=HarnessConfig(trials=2))
    assert len(records) == 4 and not any(r.ok for r in records)
    assert all(r.reason.startswith("input: ") for r in records)


def test_eval_camera_cli_on_generate_outputs(generated, tmp_path, capsys):
    """The command used to stop with "no samples found" on generate outputs. Noise frames don't reconstruct: a
    counted failure, like the two unusable outputs."""
    out = tmp_path / "report"
    assert main(["eval", "camera", str(generated), "--trials", "1", "--no-depth", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 3 and summary["trials"] == 3
    assert summary["failure_reasons"]["input error"] == 2


def test_hand_written_sidecar_and_malformed_cameras(tmp_path):
    c2w = np.tile(np.eye(4), (16, 1, 1))
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"camera": {"c2w": c2w.tolist(), "K": np.eye(3).tolist()}}))
    camera = read_sidecar_camera(path)
    assert camera.problem is None and camera.c2w.shape == (16, 4, 4) and camera.K.shape == (3, 3)
    path.write_text(json.dumps({"cameras": {"c2w": c2w.tolist(), "K": np.eye(3)[None].repeat(15, 0).tolist()}}))
    with pytest.raises(ValueError, match=r"cameras.K must be \(3 3\) or \(16 3 3\)"):
        read_sidecar_camera(path)
    path.write_text(json.dumps({"settings": {}, "preview": "x.preview.mp4"}))
    assert read_sidecar_camera(path) is None


@pytest.mark.slow
def test_real_tiny_generation_through_eval_camera(tiny_checkpoint, tmp_path):
    """No stand-ins: the tiny network generates, `realcam eval camera` evaluates (random weights: SfM may fail,
    which is counted; the point is that the real output is read with its conditioning camera)."""
    _generate(tiny_checkpoint, tmp_path / "orbit.mp4", "--preset", "orbit-left")
    (sample,) = discover_samples(tmp_path)
    record = json.loads((tmp_path / "orbit.json").read_text())
    np.testing.assert_allclose(sample.gt_c2w, np.asarray(record["cameras"]["c2w"]), atol=0)
    np.testing.assert_allclose(sample.gt_c2w[0], np.eye(4), atol=1e-6)
    out = tmp_path / "report"
    assert main(["eval", "camera", str(tmp_path), "--trials", "1", "--no-depth", "-o", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["samples"] == 1
