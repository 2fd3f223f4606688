"""Reading user photos: RGB uint8 in the orientation a viewer shows, with clear errors for files that are no image
or too small to make a video from.

Phone cameras store portrait photos as landscape pixels plus an EXIF orientation tag; every viewer (and every depth
tool that reads images the usual way) shows them rotated. realcam applies the tag on read, so the photo, a depth map
made from it and the generated video all have the orientation the user sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from realcam.errors import InputError

MIN_IMAGE_SIDE = 32  # pixels; smaller inputs carry too little to condition a video on


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The photo at `path` as RGB uint8 (h w 3), EXIF orientation applied. Raises InputError naming the file when it
    is missing, not a readable image, or smaller than MIN_IMAGE_SIDE pixels on a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    try:
        with Image.open(path) as opened:
            rgb = np.asarray(ImageOps.exif_transpose(opened).convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"{path}: not a readable image ({error}); use a PNG or JPEG photo") from None
    check_image_size(rgb.shape[0], rgb.shape[1], what=str(path))
    return rgb


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(h, w) of the photo as `read_image` returns it (EXIF orientation applied), without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            width, height = opened.size
            orientation = opened.getexif().get(0x0112, 1)  # EXIF Orientation
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable image ({error}); use a PNG or JPEG photo") from None
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)  # 5-8 swap the axes


def check_image_size(height: int, width: int, *, what: str = "image") -> None:
    if min(height, width) < MIN_IMAGE_SIDE:
        raise InputError(
            f"{what}: {height}x{width} pixels is too small to generate from (at least {MIN_IMAGE_SIDE} px on each "
            "side; the models work at 256x256 and 320x512)"
        )
