"""The alignment driver: batched model depth, worker processes and shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realcam.data.scale_alignment import FileDepth, ModelDepth, working_size
from realcam.errors import InputError
from realcam.models.depth.depth_anything import DepthAnythingConfig, DepthAnythingV2, MetricDepthEstimator
from realcam.models.depth.dinov2 import DinoV2Config


def _tiny_estimator() -> MetricDepthEstimator:
    torch.manual_seed(0)
    encoder = DinoV2Config(embed_dim=16, depth=4, num_heads=2, img_size=70)
    config = DepthAnythingConfig(encoder, features=8, out_channels=(4, 8, 16, 16), intermediate_layers=(0, 1, 2, 3))
    return MetricDepthEstimator(DepthAnythingV2(config)).eval()


def test_model_depth_batches_match_single_frames():
    estimator = _tiny_estimator()
    frames = np.random.default_rng(0).integers(0, 256, (5, 28, 42, 3), dtype=np.uint8)
    batched = ModelDepth(estimator, batch_size=3)("clip", frames)
    single = np.stack([estimator(frame).numpy() for frame in frames])
    assert batched.shape == (5, 28, 42) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-4)
    assert np.all((batched > 0) & (batched < 20))
    # Any DepthEstimator (no batched `estimate`) is called frame by frame.
    per_frame = ModelDepth(lambda image: torch.full(image.shape[:2], 2.5), batch_size=2)("clip", frames)
    np.testing.assert_array_equal(per_frame, np.full((5, 28, 42), 2.5, dtype=np.float32))


def test_file_depth_and_working_size(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 4, 5), dtype=np.float32))
    assert FileDepth(str(tmp_path))("a", None).shape == (3, 4, 5)
    with pytest.raises(InputError, match="no depth file for clip b"):
        FileDepth(str(tmp_path))("b", None)
    assert working_size(720, 1280, 256) == (256, 455)
    assert working_size(1280, 720, 256) == (455, 256)
    assert working_size(192, 256, 192) == (192, 256)


@pytest.mark.slow
def test_workers_and_shards_write_the_same_results(tmp_path):
    from data_scene import H, make_align_folder

    from realcam.cli.main import main
    from realcam.data.scale_alignment import read_results

    root = make_align_folder(tmp_path / "clips")
    base = ["data", "align-scale", "--metadata", str(root / "meta"), "--videos", str(root / "videos")]
    base += ["--true-depth", str(root / "depth"), "--working-short-side", str(H)]
    assert main(base + ["--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(base + ["--out", str(tmp_path / "two"), "--workers", "2", "--shard", "0/2"]) == 0
    assert main(base + ["--out", str(tmp_path / "two"), "--workers", "2", "--shard", "1/2"]) == 0
    one, two = read_results(tmp_path / "one"), read_results(tmp_path / "two")
    assert set(one) == set(two) == {"flat", "room", "shuffled"}
    for clip_id in one:
        assert one[clip_id].status == two[clip_id].status
        if one[clip_id].per_frame_scale is not None:
            np.testing.assert_allclose(one[clip_id].per_frame_scale, two[clip_id].per_frame_scale, rtol=1e-9)
    assert (tmp_path / "two" / "align-scale.shard-0-of-2.json").is_file()


def test_missing_depth_weights_name_a_depth_only_download(tmp_path, monkeypatch):
    """Without --depth-weights or a cached depth model, the error names a command fetching only the depth file (not
    the whole set, which would also fetch the ~10 GB base) and the local-file flag."""
    from realcam.cli.data import _cached_depth_weights
    from realcam.errors import WeightsMissingError

    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsMissingError) as caught:
        _cached_depth_weights()
    message = str(caught.value)
    assert "`realcam weights download --depth indoor --only depth`" in message
    assert "--depth-weights PATH" in message
