"""`realcam preview` end to end: demo scene and preset, image + depth file + trajectory file, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from realcam.cli.main import main
from realcam.io.video import read_video, video_info


def test_preview_demo_preset_small(tmp_path):
    out = tmp_path / "p.mp4"
    assert main(["preview", "--demo", "--preset", "orbit-left", "--size", "64x96", "-o", str(out)]) == 0
    assert video_info(out).num_frames == 16
    assert read_video(out).shape == (16, 64, 96, 3)
    mask = read_video(tmp_path / "p_mask.mp4")
    assert mask.shape == (16, 64, 96, 3) and set(np.unique(mask)) <= {0, 255}
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["mask_video"] == "p_mask.mp4" and len(record["coverage"]) == 16
    assert record["coverage"][0] == 1.0  # the identity frame constrains every latent cell
    assert record["coverage"][-1] < 0.95  # the orbit reveals unseen regions
    assert np.asarray(record["K"]).shape == (16, 3, 3) and np.asarray(record["c2w"]).shape == (16, 4, 4)
    np.testing.assert_allclose(record["c2w"][0], np.eye(4), atol=1e-12)


@pytest.mark.slow
def test_preview_demo_preset_full_size_as_documented(tmp_path):
    out = tmp_path / "p.mp4"
    assert main(["preview", "--demo", "--preset", "orbit-left", "-o", str(out)]) == 0
    info = video_info(out)
    assert (info.num_frames, info.height, info.width) == (16, 320, 512)


def test_preview_image_depth_and_trajectory_file(tmp_path):
    from realcam.trajectory.io import save_trajectory
    from realcam.trajectory.presets import make_preset

    generator = torch.Generator().manual_seed(0)
    image = torch.randint(1, 256, (48, 64, 3), generator=generator, dtype=torch.uint8).numpy()
    Image.fromarray(image).save(tmp_path / "im.png")
    np.save(tmp_path / "d.npy", np.full((48, 64), 3.0, dtype=np.float32))
    save_trajectory(make_preset("truck-right", distance=0.3), tmp_path / "path.json")
    out = tmp_path / "q.mp4"
    argv = ["preview", str(tmp_path / "im.png"), "--depth", str(tmp_path / "d.npy"), "--fov", "50"]
    argv += ["--trajectory", str(tmp_path / "path.json"), "--frames", "5", "--point-size", "1"]
    # A perfect plane on a pixel grid: the outlier statistic would flag its border points, so switch it off here.
    argv += ["--outlier-removal", "off", "-o", str(out)]
    assert main(argv) == 0
    frames = read_video(out)
    assert frames.shape == (5, 48, 64, 3)
    record = json.loads((tmp_path / "q.json").read_text())
    focal = 24 / np.tan(np.radians(25))
    np.testing.assert_allclose(record["K_source"][0][0], focal)
    assert record["settings"]["outlier_removal"] is False and record["num_points"] == 48 * 64
    # The camera trucks right, so the right border of the last frame shows nothing.
    assert record["pixel_visible_fraction"][0] == 1.0 and record["pixel_visible_fraction"][-1] < 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "orbit-left"], "IMAGE and --depth"),
        (["--demo", "--preset", "no-such-preset"], "no-such-preset"),
        (["--demo", "--preset", "orbit-left", "--size", "big"], "--size"),
        (["--demo", "--trajectory", "missing.json"], "missing.json"),
    ],
)
def test_preview_errors_are_one_line(tmp_path, capsys, argv, message):
    assert main(["preview", *argv, "-o", str(tmp_path / "x.mp4")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


def test_preview_demo_reuses_the_disk_cache_and_rebuilds_a_corrupted_one(tmp_path, monkeypatch, caplog):
    from realcam.scene import demo

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "cache"))
    argv = ["preview", "--demo", "--preset", "pan-left", "--frames", "2", "--size", "40x56"]
    demo._render_cached.cache_clear()  # no in-memory copy: the first run generates and writes the file
    assert main([*argv, "-o", str(tmp_path / "a.mp4")]) == 0
    cached = tmp_path / "cache" / "demo-scene" / "demo-room-40x56.npz"
    assert cached.is_file() and not list(cached.parent.glob("*.tmp"))  # written atomically, no leftovers
    first = read_video(tmp_path / "a.mp4")

    def no_generation(height, width):
        raise AssertionError("the demo scene was regenerated although a valid cache file exists")

    demo._render_cached.cache_clear()
    with monkeypatch.context() as patch:
        patch.setattr(demo, "_render", no_generation)
        assert main([*argv, "-o", str(tmp_path / "b.mp4")]) == 0  # second run: read from the cache
    np.testing.assert_array_equal(read_video(tmp_path / "b.mp4"), first)

    cached.write_bytes(b"not an npz file")
    demo._render_cached.cache_clear()
    assert main([*argv, "-o", str(tmp_path / "c.mp4")]) == 0  # corrupted: rebuilt, not a crash
    assert "regenerating" in caplog.text
    np.testing.assert_array_equal(read_video(tmp_path / "c.mp4"), first)
    with np.load(cached) as data:  # the file was rewritten with the fresh arrays
        np.testing.assert_array_equal(data["image"], demo.demo_scene(40, 56, cache=False).image)
    demo._render_cached.cache_clear()


def test_preview_with_size_shows_the_resized_image_at_frame_0(tmp_path):
    """Image + depth file + --size 3x the image (with a centre crop), static camera: frame 0 is the resized, cropped
    input. The half-pixel convention mix-up this guards against shifted it by 0.5*(s - 1) = 1 pixel."""
    # Grey 4x4 blocks: sharp edges that a 1-pixel shift changes, and no colour edges for the video's chroma subsampling.
    blocks = torch.randint(0, 256, (10, 15, 1), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    image = blocks.expand(10, 15, 3).repeat_interleave(4, dim=0).repeat_interleave(4, dim=1).numpy()  # 40x60
    Image.fromarray(image).save(tmp_path / "im.png")
    np.save(tmp_path / "d.npy", np.full((40, 60), 2.5, dtype=np.float32))
    out = tmp_path / "s.mp4"
    argv = ["preview", str(tmp_path / "im.png"), "--depth", str(tmp_path / "d.npy"), "--preset", "static"]
    argv += ["--frames", "2", "--size", "120x120", "--point-size", "3", "--outlier-removal", "off", "-o", str(out)]
    assert main(argv) == 0
    frame = read_video(out)[0].astype(np.float64)
    expected = image.repeat(3, axis=0).repeat(3, axis=1)[:, 30:150].astype(np.float64)  # 120x180, centre crop
    shifted = np.roll(expected, (-1, -1), axis=(0, 1))  # where the half-pixel bug put it (up and left)
    error, error_shifted = np.abs(frame - expected).mean(), np.abs(frame - shifted).mean()
    assert error < 3.0 and error_shifted > 3 * error, (error, error_shifted)
    record = json.loads((tmp_path / "s.json").read_text())
    assert record["coverage"] == [1.0, 1.0]
    np.testing.assert_allclose(record["K"][0][0][2], 3 * 30 + 1 - 30)  # s*cx + 0.5*(s - 1) - left


def test_preview_sidecar_counts_the_points_outlier_removal_dropped(tmp_path):
    """A plane with a cluster of far-off spikes: outlier removal drops the spikes (nothing with it off); the sidecar
    says how many, and the hole they leave shows in frame 0. Depth-edge drops are counted separately."""
    image = np.full((48, 64, 3), 128, dtype=np.uint8)
    depth = np.full((48, 64), 3.0, dtype=np.float32)
    depth[17:21, 16:20] = 9.0  # 4x4 flying pixels: once removed, a hole wider than the neighbours' splats fill
    depth[5, 5] = 0.0  # missing depth: neither kept nor counted as dropped
    Image.fromarray(image).save(tmp_path / "im.png")
    np.save(tmp_path / "d.npy", depth)

    def run(*extra: str) -> dict:
        argv = ["preview", str(tmp_path / "im.png"), "--depth", str(tmp_path / "d.npy"), "--preset", "static"]
        assert main([*argv, "--frames", "1", *extra, "-o", str(tmp_path / "x.mp4")]) == 0
        return json.loads((tmp_path / "x.json").read_text())

    on, off = run("--outlier-removal", "on"), run("--outlier-removal", "off")
    assert on["points"] == {"pixels_with_depth": 3071, "depth_edges_removed": 0, "outliers_removed": 16, "kept": 3055}
    assert on["settings"]["outlier_statistic"] == "metric"  # the reference's statistic by default
    # Relative spacing: the 4x4 blob now looks like a small far surface and keeps its 4 interior points, while the
    # image's corners (one-sided neighbourhoods on this noise-free plane) go.
    relative = run("--outlier-removal", "on", "--outlier-statistic", "relative")
    assert relative["settings"]["outlier_statistic"] == "relative"
    assert relative["points"]["outliers_removed"] == 24
    assert off["points"] == {"pixels_with_depth": 3071, "depth_edges_removed": 0, "outliers_removed": 0, "kept": 3071}
    assert on["num_points"] == 3055 and off["num_points"] == 3071
    assert on["pixel_visible_fraction"][0] < 1.0 and on["coverage"][0] < 1.0  # the removed points' hole
    assert off["pixel_visible_fraction"][0] == 1.0 and off["coverage"][0] == 1.0
    # The edge filter drops the cluster's border (12 of 16) and the 16 plane pixels around it; 4 spikes are left.
    edges = run("--outlier-removal", "on", "--edge-threshold", "0.5")["points"]
    assert edges == {"pixels_with_depth": 3071, "depth_edges_removed": 28, "outliers_removed": 4, "kept": 3039}


def test_cli_outlier_statistic_choices_are_the_lift_s():
    from realcam.cli.preview import OUTLIER_STATISTIC_CHOICES
    from realcam.scene.lift import OUTLIER_STATISTICS

    assert OUTLIER_STATISTIC_CHOICES == OUTLIER_STATISTICS
