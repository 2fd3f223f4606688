"""User photos: EXIF orientation applied (as viewers show them), clear errors for non-images and tiny images."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from realcam.errors import InputError
from realcam.io.images import MIN_IMAGE_SIDE, image_size, read_image


def _photo(height: int = 40, width: int = 60) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_png_round_trip_and_size(tmp_path):
    pixels = _photo()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), pixels)
    assert image_size(tmp_path / "a.png") == (40, 60)


@pytest.mark.parametrize("orientation, rotate", [(6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90)])
def test_exif_orientation_is_applied_like_a_viewer(tmp_path, orientation, rotate):
    """A phone's portrait shot: landscape pixels + Orientation 6 (or 8); read as the viewer shows it (portrait)."""
    pixels = _photo()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "phone.png", exif=exif)
    expected = np.asarray(Image.fromarray(pixels).transpose(rotate))
    np.testing.assert_array_equal(read_image(tmp_path / "phone.png"), expected)
    assert image_size(tmp_path / "phone.png") == (60, 40) == expected.shape[:2]


def test_a_file_that_is_no_image_names_the_file(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.png: not a readable image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(InputError, match="no such image file"):
        read_image(tmp_path / "missing.png")


def test_tiny_images_are_refused(tmp_path):
    Image.fromarray(_photo(MIN_IMAGE_SIDE - 1, 200)).save(tmp_path / "strip.png")
    with pytest.raises(InputError, match="too small"):
        read_image(tmp_path / "strip.png")
    Image.fromarray(_photo(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)).save(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png").shape == (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE, 3)


def test_pipeline_warns_when_the_input_is_upscaled_a_lot(caplog):
    from realcam.pipeline.i2v import RealCamPipeline
    from realcam.pipeline.tiny import tiny_model, tiny_tokenizer

    pipe = RealCamPipeline(tiny_model("512", seed=0), tiny_tokenizer())  # a 64x128 model
    with caplog.at_level(logging.WARNING, logger="realcam.pipeline.i2v"):
        assert pipe.prepare_image(_photo(40, 64)).rgb.shape == (64, 128, 3)  # 2x to cover: the limit, no warning
        assert "upscaled" not in caplog.text
        pipe.prepare_image(_photo(40, 40))  # 3.2x
    assert "upscaled 3.2x" in caplog.text
    with pytest.raises(InputError, match="too small"):
        pipe.prepare_image(_photo(20, 60))
