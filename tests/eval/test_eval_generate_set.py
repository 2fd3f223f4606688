"""`realcam eval generate`: the evaluation set in the reference layout, read back by the harness's layout reader.

A synthetic RealEstate10K folder (tests/data/data_re10k_folder.py: pixels encode the frame index) becomes a manifest of
three clips: a long scaled clip (stride 8), a short scaled clip (stride fallback) and an unscaled one (skipped). The
CLI loads tiny weight files written in the released formats (`RealCamI2VConfig.preset` patched to tiny configs). The
fast tests keep the window, crop, cameras, depth network, point cloud, preview and all file writing real and replace
the VAE/CLIP encoding, camera encoder, DDIM loop and VAE decoding by cheap seeded stand-ins; the slow test runs the
tiny network for real (1 DDIM step).
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))  # `import data_re10k_folder`

from data_re10k_folder import make_folder  # noqa: E402
from released_files import use_tiny_presets, write_released_files, write_tokenizer_files  # noqa: E402

from realcam.cli.main import main  # noqa: E402
from realcam.eval.generate_set import is_metric_run, select_window, window_generator  # noqa: E402
from realcam.eval.layout import discover_samples, read_camera_data  # noqa: E402
from realcam.geometry.intrinsics import cover_size  # noqa: E402
from realcam.io.video import read_video, video_info  # noqa: E402
from realcam.pipeline.i2v import RealCamPipeline  # noqa: E402

SRC_H, SRC_W = 48, 80  # the synthetic clips
H = W = 64  # the tiny-256 model size
CLIPS = {"clipA": 130, "clipB": 24, "clipC": 20}  # clipC gets no metric scale


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """A manifest of CLIPS (clipC unscaled) and the truth {clip_id: (PoseRows, per-frame scale)}."""
    from dataclasses import replace

    from realcam.data.manifest import build_records, write_manifest

    root = tmp_path_factory.mktemp("re10k")
    truth = make_folder(root, CLIPS, height=SRC_H, width=SRC_W)
    captions = {clip_id: f"a room called {clip_id}" for clip_id in CLIPS}
    records, dropped = build_records(
        root / "valid_metadata" / "train", root / "video_clips" / "train", captions=captions
    )
    assert not dropped, dropped
    records = [r if r.clip_id == "clipC" else replace(r, metric_scale=truth[r.clip_id][1]) for r in records]
    return write_manifest(root / "test.jsonl", records, split="test"), truth


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Tiny weights in the released formats: base .ckpt, camera add-on, DA-V2 .pth, tokenizer folder."""
    folder = tmp_path_factory.mktemp("weights")
    names = {"base": "model.ckpt", "addon": "camera_plugin.safetensors", "depth": "depth.pth"}
    write_released_files(folder, "256", seed=3, names=names)
    write_tokenizer_files(folder / "tokenizer")
    return folder


def _tiny_presets(monkeypatch):
    use_tiny_presets(monkeypatch)


def _fast_networks(monkeypatch):
    """Seeded stand-ins for encoding, camera encoder, DDIM and decoding: the video is a function of the sample's
    generator (so of its seed) and of the condition frame."""

    def encode_conditions(self, image, preview, settings, generator, end_image=None):
        return SimpleNamespace(fs=torch.tensor([settings.frame_stride]), rgb=image.rgb)

    def denoise(self, conditions, camera, preview, settings, generator, *, continuation=None, on_step_end=None):
        noise = torch.randint(0, 64, (16, H, W, 3), generator=generator, dtype=torch.uint8)
        return torch.from_numpy(conditions.rgb)[None] // 2 + noise

    monkeypatch.setattr(RealCamPipeline, "encode_conditions", encode_conditions)
    monkeypatch.setattr(RealCamPipeline, "build_camera_condition", lambda self, c2w, K, generator: None)
    monkeypatch.setattr(RealCamPipeline, "denoise", denoise)
    monkeypatch.setattr(RealCamPipeline, "decode", lambda self, latents, chunk=4: latents)


def _argv(manifest_path, weights, out, *extra):
    return [
        "eval",
        "generate",
        str(manifest_path),
        "--out",
        str(out),
        "--model",
        "256",
        "--base",
        str(weights / "model.ckpt"),
        "--camera-plugin",
        str(weights / "camera_plugin.safetensors"),
        "--depth-weights",
        str(weights / "depth.pth"),
        "--tokenizer",
        str(weights / "tokenizer"),
        "--steps",
        "1",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.fixture(scope="module")
def runs(manifest, weights, tmp_path_factory):
    """Run A, a rerun of A (resume) and run B (same seed, another folder), with fast stand-in networks."""
    out = tmp_path_factory.mktemp("runs")
    path, _ = manifest
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("REALCAM_CACHE", str(out / "empty-cache"))  # nothing may come from a cache
        _tiny_presets(monkeypatch)
        _fast_networks(monkeypatch)
        assert main(_argv(path, weights, out / "a")) == 0
        first = {p: p.stat().st_mtime_ns for p in (out / "a").rglob("*") if p.is_file()}
        first_report = json.loads((out / "a" / "generate.json").read_text())
        assert main(_argv(path, weights, out / "a")) == 0
        assert main(_argv(path, weights, out / "b")) == 0
        mismatched = main(_argv(path, weights, out / "a", "--steps", "2"))
    return SimpleNamespace(a=out / "a", b=out / "b", first=first, first_report=first_report, mismatched=mismatched)


def _expected_cameras(truth, clip_id, indices):
    """Independent expectation: c2w relative to frame 0 with translations × the condition frame's scale, and K of the
    resize-to-cover (height limits: 48 -> 64) + centre crop of the 48×80 source."""
    rows, scale = truth[clip_id]
    c2w = rows.c2w[indices]
    rel = np.linalg.inv(c2w[0]) @ c2w
    rel[:, :3, 3] *= scale[indices[0]]
    rh, rw = cover_size(SRC_H, SRC_W, H, W)
    assert rh == H
    fx, fy, cx, cy = rows.intrinsics_norm[indices].T
    K = np.zeros((len(indices), 3, 3))
    K[:, 0, 0], K[:, 1, 1] = fx * SRC_W * rw / SRC_W, fy * SRC_H * rh / SRC_H
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = cx * SRC_W * rw / SRC_W - (rw - W) // 2, cy * SRC_H * rh / SRC_H, 1
    return rel, K


def test_generate_writes_the_reference_layout(runs, manifest):
    _, truth = manifest
    run = runs.a
    for folder in ("samples", "gt_video", "camera_data"):
        assert sorted(p.stem for p in (run / folder).iterdir() if p.suffix != ".json") == ["clipA", "clipB"]
    report = runs.first_report
    assert (report["generated"], report["resumed"], report["skipped"]) == (2, 0, 1)
    assert list(report["skipped_clips"]) == ["clipC"] and "no metric scale" in report["skipped_clips"]["clipC"]
    assert report["camera_data_units"] == "metres" and is_metric_run(run)
    for clip_id, stride in (("clipA", 8), ("clipB", 1)):  # clipB: (24 - 1) // 15 = 1, the largest stride that fits
        sidecar = json.loads((run / "samples" / f"{clip_id}.json").read_text())
        start = sidecar["start_index"]
        indices = start + stride * np.arange(16)
        assert sidecar["frame_stride"] == stride and sidecar["frame_indices"] == indices.tolist()
        assert 0 <= start <= CLIPS[clip_id] - (15 * stride + 1)
        assert sidecar["settings"]["prompt"] == sidecar["caption"] != "" and sidecar["fs"] == stride
        assert sidecar["settings"]["shaping"]["enabled"] and sidecar["settings"]["shaping"]["t0"] == 900
        assert sidecar["metric_scale"]["cond_scale"] == pytest.approx(truth[clip_id][1][start])
        for video in (run / "samples" / f"{clip_id}.mp4", run / "gt_video" / f"{clip_id}.mp4"):
            info = video_info(video)
            assert (info.num_frames, info.height, info.width) == (16, H, W)
        # gt_video holds the chosen source frames: the blue channel encodes 6 x frame index (mod 256).
        blue = read_video(run / "gt_video" / f"{clip_id}.mp4")[..., 2].reshape(16, -1).mean(axis=1)
        np.testing.assert_allclose(blue, (6 * indices) % 256, atol=4)
        rel, K = _expected_cameras(truth, clip_id, indices)
        data = np.loadtxt(run / "camera_data" / f"{clip_id}.txt")
        assert data.shape == (16, 18)
        np.testing.assert_allclose(data[:, :4], np.stack([K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]], 1))
        np.testing.assert_array_equal(data[:, 4:6], 0)
        np.testing.assert_allclose(data[:, 6:].reshape(16, 3, 4), np.linalg.inv(rel)[:, :3, :4], atol=1e-12)
        np.testing.assert_allclose(np.asarray(sidecar["cameras"]["c2w"]), rel, atol=1e-12)


def test_the_harness_reader_finds_the_samples_with_the_written_cameras(runs):
    samples = {s.name: s for s in discover_samples(runs.a, gt_metric=True)}
    assert sorted(samples) == ["clipA", "clipB"]
    for name, sample in samples.items():
        c2w, K = read_camera_data(runs.a / "camera_data" / f"{name}.txt")
        sidecar = json.loads((runs.a / "samples" / f"{name}.json").read_text())
        np.testing.assert_allclose(sample.gt_c2w, np.asarray(sidecar["cameras"]["c2w"]), atol=1e-9)
        np.testing.assert_allclose(sample.gt_c2w[0], np.eye(4), atol=1e-12)
        assert sample.K[0, 0] == pytest.approx(sidecar["cameras"]["K"][0][0][0])
        assert sample.gt_video == runs.a / "gt_video" / f"{name}.mp4" and sample.problem is None


def test_rerun_skips_finished_samples_and_refuses_other_settings(runs):
    report = json.loads((runs.a / "generate.json").read_text())
    assert (report["generated"], report["resumed"], report["skipped"]) == (0, 2, 1)
    for folder in ("samples", "gt_video", "camera_data"):
        for path in (runs.a / folder).iterdir():
            assert path.stat().st_mtime_ns == runs.first[path], path  # not rewritten
    assert runs.mismatched == 1  # --steps 2 into a folder made with --steps 1


def test_same_seed_gives_the_same_windows_and_samples(runs):
    for clip_id in ("clipA", "clipB"):
        a = json.loads((runs.a / "samples" / f"{clip_id}.json").read_text())
        b = json.loads((runs.b / "samples" / f"{clip_id}.json").read_text())
        assert (a["start_index"], a["seed"]) == (b["start_index"], b["seed"])
        text_a = (runs.a / "camera_data" / f"{clip_id}.txt").read_text()
        assert text_a == (runs.b / "camera_data" / f"{clip_id}.txt").read_text()
        for folder in ("samples", "gt_video"):
            frames_a = read_video(runs.a / folder / f"{clip_id}.mp4")
            np.testing.assert_array_equal(frames_a, read_video(runs.b / folder / f"{clip_id}.mp4"))
    seeds = [json.loads((runs.a / "samples" / f"{c}.json").read_text())["seed"] for c in ("clipA", "clipB")]
    assert seeds[0] != seeds[1]  # every clip gets its own generation seed


def test_the_window_is_fixed_by_clip_id_and_seed(manifest):
    from realcam.eval.generate_set import clips_from_manifest

    path, _ = manifest
    clip = next(c for c in clips_from_manifest(path) if c.clip_id == "clipA")
    assert all((select_window(clip, 0) == select_window(clip, 0)).all() for _ in range(3))
    starts = {int(select_window(clip, seed)[0]) for seed in range(8)}
    assert len(starts) > 1  # the seed moves the window (10 possible starts)
    assert all(0 <= s <= 130 - 121 for s in starts)
    g1, g2 = window_generator("clipA", 0), window_generator("clipB", 0)
    assert torch.randint(0, 2**30, (1,), generator=g1) != torch.randint(0, 2**30, (1,), generator=g2)


def test_shards_are_disjoint_and_cover(manifest, weights, tmp_path, monkeypatch):
    path, _ = manifest
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    _tiny_presets(monkeypatch)
    _fast_networks(monkeypatch)
    extra = ("--no-noise-shaping", "--max-samples", "2")  # clipA and clipB; no depth model loaded
    assert main(_argv(path, weights, tmp_path / "r", "--shard", "0/2", *extra)) == 0
    assert main(_argv(path, weights, tmp_path / "r", "--shard", "1/2", *extra)) == 0
    first = json.loads((tmp_path / "r" / "generate.shard-0-of-2.json").read_text())
    second = json.loads((tmp_path / "r" / "generate.shard-1-of-2.json").read_text())
    assert (first["generated"], second["generated"]) == (1, 1)
    assert sorted(p.stem for p in (tmp_path / "r" / "samples").glob("*.mp4")) == ["clipA", "clipB"]
    sidecar = json.loads((tmp_path / "r" / "samples" / "clipA.json").read_text())
    assert not sidecar["settings"]["shaping"]["enabled"] and sidecar["coverage_per_frame"] is None


@pytest.mark.slow
def test_generate_with_the_tiny_network(manifest, weights, tmp_path, monkeypatch):
    """The real tiny network, 1 DDIM step, noise shaping on: one sample."""
    path, _ = manifest
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    _tiny_presets(monkeypatch)
    assert main(_argv(path, weights, tmp_path / "run", "--max-samples", "1")) == 0
    sidecar = json.loads((tmp_path / "run" / "samples" / "clipA.json").read_text())
    assert len(sidecar["coverage_per_frame"]) == 16 and sidecar["timings_s"]["denoise"] > 0
    assert video_info(tmp_path / "run" / "samples" / "clipA.mp4").num_frames == 16
    assert len(discover_samples(tmp_path / "run")) == 1


def test_test_metadata_pth_gives_the_same_samples_as_the_manifest(manifest, tmp_path):
    """The reference's test metadata (.pth: w2c extrinsics, per-clip normalised intrinsics, per_frame_scale, video
    paths relative to the data root) prepares the same inputs as the manifest."""
    from realcam.eval.generate_set import SkipClip, prepare_input, read_clips

    path, truth = manifest
    by_id = {c.clip_id: c for c in read_clips(path)}
    items = []
    for clip_id in ("clipA", "clipC"):
        rows, scale = truth[clip_id]
        item = {
            "caption": by_id[clip_id].caption,
            "video_path": str(by_id[clip_id].video.relative_to(path.parent)),
            "camera_extrinsics": torch.from_numpy(np.linalg.inv(rows.c2w)),
            "camera_intrinsics": torch.from_numpy(rows.intrinsics_norm[0]),
        }
        if clip_id == "clipA":
            item["per_frame_scale"] = torch.from_numpy(scale)
        items.append(item)
    torch.save(items, tmp_path / "test_metadata.pth")
    clips = read_clips(tmp_path / "test_metadata.pth", data_root=path.parent)
    assert [c.clip_id for c in clips] == ["clipA", "clipC"]
    from_pth = prepare_input(clips[0], (H, W), seed=0)
    from_manifest = prepare_input(by_id["clipA"], (H, W), seed=0)
    np.testing.assert_array_equal(from_pth.frame_indices, from_manifest.frame_indices)
    np.testing.assert_array_equal(from_pth.frames, from_manifest.frames)
    np.testing.assert_allclose(from_pth.K, from_manifest.K)
    np.testing.assert_allclose(from_pth.rel_c2w, from_manifest.rel_c2w, atol=1e-12)
    with pytest.raises(SkipClip, match="no metric scale"):
        prepare_input(clips[1], (H, W), seed=0)
