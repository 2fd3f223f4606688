"""Video IO through PyAV: round trips, odd sizes, lossless, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realcam.errors import InputError
from realcam.io.video import read_video, video_info, write_video


def _smooth_frames(f: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    frames = [np.stack(((x * 3 + 10 * i) % 256, (y * 4) % 256, np.full_like(x, 128)), axis=-1) for i in range(f)]
    return np.stack(frames).astype(np.uint8)


def test_lossy_round_trip_is_close_and_reports_info(tmp_path):
    frames = _smooth_frames(16, 64, 96)
    path = write_video(tmp_path / "v.mp4", frames, fps=8)
    decoded = read_video(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames).mean() < 3.0
    info = video_info(path)
    assert (info.num_frames, info.height, info.width, info.fps) == (16, 64, 96, 8.0)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"


def test_lossless_is_exact_for_random_frames_from_a_tensor(tmp_path):
    frames = torch.randint(0, 256, (5, 31, 17, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    write_video(tmp_path / "m.mp4", frames, fps=10, lossless=True)
    np.testing.assert_array_equal(read_video(tmp_path / "m.mp4"), frames.numpy())


@pytest.mark.parametrize(("h", "w"), [(33, 47), (1, 1), (2, 3)])
def test_odd_sizes_work_without_padding(tmp_path, h, w):
    frames = _smooth_frames(3, h, w)
    write_video(tmp_path / "o.mp4", frames)
    decoded = read_video(tmp_path / "o.mp4")
    assert decoded.shape == (3, h, w, 3)
    assert video_info(tmp_path / "o.mp4").pix_fmt == "yuv444p"


def test_write_is_atomic_and_bad_frames_leave_nothing(tmp_path):
    target = tmp_path / "v.mp4"
    write_video(target, _smooth_frames(2, 8, 8))
    before = target.read_bytes()
    with pytest.raises(ValueError, match="dtype"):
        write_video(target, np.zeros((2, 8, 8, 3), np.float32))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


@pytest.mark.parametrize(
    ("frames", "kwargs", "match"),
    [
        (np.zeros((8, 8, 3), np.uint8), {}, "shape"),
        (np.zeros((1, 8, 8, 4), np.uint8), {}, "shape"),
        (torch.zeros(1, 8, 8, 3), {}, "dtype"),
        (np.zeros((0, 8, 8, 3), np.uint8), {}, "at least one"),
        (np.zeros((1, 8, 8, 3), np.uint8), {"fps": 0}, "fps"),
        (np.zeros((1, 8, 8, 3), np.uint8), {"crf": 60}, "crf"),
        ([[0]], {}, "numpy"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path, frames, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_video(tmp_path / "x.mp4", frames, **kwargs)


def test_reading_missing_or_broken_files_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_video(tmp_path / "none.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="broken.mp4"):
        read_video(tmp_path / "broken.mp4")
    with pytest.raises(InputError, match="broken.mp4"):
        video_info(tmp_path / "broken.mp4")
