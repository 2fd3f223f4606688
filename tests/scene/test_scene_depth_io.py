"""Depth files: .npy metres and 16-bit PNG millimetres, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from realcam.errors import InputError
from realcam.scene.depth_io import DepthEstimator, load_depth, save_depth_png_mm


def test_npy_round_trip(tmp_path):
    depth = np.linspace(0.5, 7.5, 12, dtype=np.float64).reshape(3, 4)
    np.save(tmp_path / "d.npy", depth)
    loaded = load_depth(tmp_path / "d.npy")
    assert loaded.dtype == torch.float32 and loaded.shape == (3, 4)
    torch.testing.assert_close(loaded, torch.from_numpy(depth).float())


def test_png_millimetres_round_trip(tmp_path):
    depth = torch.tensor([[0.0, 1.234], [2.5, 65.535]])
    save_depth_png_mm(tmp_path / "d.png", depth)
    with Image.open(tmp_path / "d.png") as image:
        assert np.array(image).tolist() == [[0, 1234], [2500, 65535]]
    torch.testing.assert_close(load_depth(tmp_path / "d.png"), depth, atol=1e-6, rtol=0)


def test_png_written_by_pil_from_uint16_is_read_as_millimetres(tmp_path):
    Image.fromarray(np.array([[1000, 2000]], dtype=np.uint16)).save(tmp_path / "d.png")
    assert load_depth(tmp_path / "d.png").tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("nan.npy", np.array([[1.0, np.nan]]), "NaN"),
        ("rank.npy", np.ones((2, 2, 1)), "2-D"),
        ("int.npy", np.ones((2, 2), dtype=np.int32), "float"),
        ("mm.npy", np.full((2, 2), 2500.0), "millimetres"),
        ("neg.npy", np.array([[1.0, -0.5]]), "negative"),
        ("d.exr", None, "unsupported"),
    ],
)
def test_bad_depth_files_raise_input_error(tmp_path, name, content, match):
    path = tmp_path / name
    if content is None:
        path.write_bytes(b"x")
    else:
        np.save(path, content)
        if path.suffix != ".npy":
            path = path.with_suffix(".npy")
    with pytest.raises(InputError, match=match):
        load_depth(path)


def test_eight_bit_png_and_missing_file_are_rejected(tmp_path):
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(tmp_path / "d8.png")
    with pytest.raises(InputError, match="16-bit"):
        load_depth(tmp_path / "d8.png")
    with pytest.raises(InputError, match="not found"):
        load_depth(tmp_path / "nope.npy")


def test_depth_estimator_protocol_is_structural():
    def constant_depth(image: np.ndarray) -> torch.Tensor:
        return torch.full(image.shape[:2], 2.0)

    assert isinstance(constant_depth, DepthEstimator)
