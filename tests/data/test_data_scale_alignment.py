"""Metric scale alignment: the self-test on a rendered room with deliberately scaled poses, failure reporting,
the per-frame policy, the quantile filter, and the `realcam data` commands end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from data_scene import POSE_SCALE, F, H, make_align_folder

from realcam.cli.main import main
from realcam.data.manifest import read_manifest
from realcam.data.scale_alignment import (
    AlignOptions,
    Observations,
    filter_by_quantiles,
    frame_scales,
    read_results,
    scale_from_observations,
)


@pytest.fixture(scope="module")
def scene_folder(tmp_path_factory):
    return make_align_folder(tmp_path_factory.mktemp("align"))


def test_align_scale_cli_recovers_inverse_pose_scale(scene_folder):
    root = scene_folder
    out = root / "scales"
    args = ["data", "align-scale", "--metadata", str(root / "meta"), "--videos", str(root / "videos")]
    args += ["--true-depth", str(root / "depth"), "--out", str(out), "--working-short-side", str(H)]
    assert main(args) == 0
    results = read_results(out)
    assert set(results) == {"room", "shuffled", "flat"}
    room = results["room"]
    assert room.status == "ok" and room.frame_status == ("measured",) * F
    np.testing.assert_allclose(room.per_frame_scale, 1 / POSE_SCALE, rtol=0.02)
    assert results["shuffled"].status == "failed" and results["shuffled"].per_frame_scale is None
    assert "disagree" in results["shuffled"].reason or "frames measured" in results["shuffled"].reason
    assert results["flat"].status == "failed" and results["flat"].reason == "no 3D points triangulated"
    summary = json.loads((out / "align-scale.json").read_text())
    assert summary["ok"] == 1 and set(summary["failed"]) == {"shuffled", "flat"}

    # Resumable: a rerun skips finished clips and leaves their files untouched.
    stamp = (out / "room.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "room.json").stat().st_mtime_ns == stamp

    # The manifest keeps the aligned clip with its scales and reports the rest.
    manifest = root / "train.jsonl"
    args = ["data", "manifest", "--metadata", str(root / "meta"), "--videos", str(root / "videos")]
    assert main(args + ["--scales", str(out), "--out", str(manifest), "--min-frames", str(F)]) == 0
    _, records = read_manifest(manifest)
    assert [r.clip_id for r in records] == ["room"]
    np.testing.assert_allclose(records[0].metric_scale, room.per_frame_scale)
    report = json.loads((root / "train.json").read_text())
    assert set(report["dropped_alignment"]) == {"shuffled", "flat"}
    assert report["dropped_alignment"]["flat"].startswith("alignment failed: no 3D points")


def _observations(per_frame: dict[int, tuple[np.ndarray, np.ndarray]]) -> Observations:
    frame = np.concatenate([np.full(len(z), f) for f, (_, z) in per_frame.items()])
    xy = np.concatenate([xy for xy, _ in per_frame.values()])
    z = np.concatenate([z for _, z in per_frame.values()])
    return Observations(frame, xy, z, num_points=len(z), image_hw=(10, 20))


def test_frame_scales_sampling_and_validity():
    depth = np.zeros((2, 5, 10))  # half the working size: keypoints are scaled by 0.5 and truncated
    depth[0, 2, 3] = 4.0
    depth[0, 4, 9] = 25.0  # beyond max_depth_m
    depth[1, 1, 1] = 2.0
    xy = np.array([[7.9, 5.5], [19.9, 9.9], [-1.0, 1.0], [2.5, 3.5], [6.0, 4.0]])
    z = np.array([2.0, 5.0, 1.0, 1.0, 1.0])
    obs = Observations(np.array([0, 0, 0, 0, 1]), xy, z, 5, (10, 20))
    median, count, spread = frame_scales(obs, depth, 2, max_depth_m=20.0)
    # Frame 0: only the first keypoint is usable (x 7.9/2 -> col 3, y 5.5/2 -> row 2): 4 / 2. The second exceeds
    # the depth limit, the third is outside, the fourth lands on a 0 (missing) depth.
    assert median[0] == 2.0 and count[0] == 1 and spread[0] == 0.0
    # Frame 1: (6, 4) -> (3, 2) has depth 0: no usable point.
    assert math.isnan(median[1]) and count[1] == 0


def test_policy_interpolates_unmeasured_frames_and_fails_on_too_few():
    rng = np.random.default_rng(0)
    per_frame = {}
    for f in (0, 1, 3, 4):
        n = 3 if f == 1 else 30  # frame 1 has too few points, frame 2 none
        per_frame[f] = (rng.uniform(0, 10, (n, 2)), np.full(n, 2.0))
    obs = _observations(per_frame)
    scale = np.array([1.0, 9.0, 9.0, 1.2, 1.4])
    depth = np.broadcast_to(2.0 * scale[:, None, None], (5, 10, 20))
    options = AlignOptions(min_points=10, min_measured_fraction=0.5)
    result = scale_from_observations("c", obs, 5, lambda: depth, options)
    assert result.status == "ok"
    assert result.frame_status == ("measured", "interpolated", "interpolated", "measured", "measured")
    np.testing.assert_allclose(result.per_frame_scale, [1.0, 1.0 + 0.2 / 3, 1.0 + 0.4 / 3, 1.2, 1.4])
    strict = scale_from_observations("c", obs, 5, lambda: depth, AlignOptions(min_points=10, min_measured_fraction=0.8))
    assert strict.status == "failed" and strict.reason == "only 3/5 frames measured (< 80%)"
    wide = np.broadcast_to(2.0 * np.array([1.0, 1, 1, 1, 4.0])[:, None, None], (5, 10, 20))
    disagree = scale_from_observations("c", obs, 5, lambda: wide, options)
    assert disagree.status == "failed" and "max/min = 4" in disagree.reason


def test_quantile_filter_drops_both_tails_of_max_and_min():
    scales = {f"c{i:03d}": np.array([1.0 + i, 2.0 + i]) for i in range(100)}
    scales["c050"] = np.array([0.01, 51.5])  # normal max, extreme min
    kept, dropped, thresholds = filter_by_quantiles(scales, 0.02)
    assert thresholds["max_low"] == pytest.approx(np.quantile([2.0 + i for i in range(100)], 0.02))
    assert {"c000", "c001", "c098", "c099"} <= set(dropped) and "c050" in dropped
    assert "min frame scale 0.01 <" in dropped["c050"]
    assert len(kept) + len(dropped) == 100 and "c010" in kept
    assert filter_by_quantiles(scales, 0.0)[1] == {}
