"""Metric depth maps from files, and the interface a depth model implements.

Files: `.npy` holds float depth in metres, a 16-bit PNG holds integer millimetres (the usual RGB-D convention). In
both, 0 marks a missing measurement; the lift drops those pixels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from realcam.errors import InputError

# Beyond this a depth map in "metres" is almost certainly in millimetres or broken.
MAX_PLAUSIBLE_DEPTH_M = 1000.0


@runtime_checkable
class DepthEstimator(Protocol):
    """A metric depth model: RGB image in, depth in metres out (the depth network implements this)."""

    def __call__(self, image: np.ndarray) -> Tensor:
        """Shapes: image uint8 numpy (h w 3) RGB -> depth (h w) float32 metres, same h and w."""
        ...


def validate_depth(depth: Tensor, *, name: str = "depth", allow_missing: bool = True) -> Tensor:
    """Check a metric depth map and return it as float32 (same device).

    Shapes: depth (h w) metres. Raises ValueError naming `name` for a wrong rank, NaN/inf, negative values, values above
    `MAX_PLAUSIBLE_DEPTH_M`, or (with allow_missing=False) zeros; a map with no valid pixel is always an error.
    """
    if not isinstance(depth, Tensor):
        raise ValueError(f"{name}: expected a torch tensor (h, w) in metres, got {type(depth).__name__}")
    if depth.ndim != 2 or depth.shape[0] < 1 or depth.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (h, w), got {tuple(depth.shape)}")
    if not depth.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor in metres, got {depth.dtype}")
    depth = depth.float()
    bad = ~torch.isfinite(depth)
    if bool(bad.any()):
        raise ValueError(f"{name}: {int(bad.sum())} pixels are NaN or infinite; mark missing depth with 0")
    if bool((depth < 0).any()):
        raise ValueError(f"{name}: negative depth (min {float(depth.min()):.4g} m); depth is z in metres, >= 0")
    top = float(depth.max())
    if top > MAX_PLAUSIBLE_DEPTH_M:
        raise ValueError(
            f"{name}: maximum {top:.4g} exceeds {MAX_PLAUSIBLE_DEPTH_M:g} m; is it in millimetres? "
            "(.npy files hold metres, 16-bit PNGs millimetres)"
        )
    missing = depth == 0
    if bool(missing.all()):
        raise ValueError(f"{name}: every pixel is 0 (missing); there is no depth to lift")
    if not allow_missing and bool(missing.any()):
        raise ValueError(f"{name}: {int(missing.sum())} pixels have depth 0 (missing)")
    return depth


def load_depth(path: str | os.PathLike) -> Tensor:
    """Read a metric depth map.

    `.npy`: a float array (h w) in metres. `.png`: a 16-bit single-channel PNG in millimetres (converted to metres).
    Returns (h w) float32 metres; 0 = missing. Raises `InputError` naming the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"depth file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = _read_npy(path)
    elif suffix == ".png":
        array = _read_png_mm(path)
    else:
        raise InputError(f"{path}: unsupported depth format {suffix!r}; use .npy (metres) or 16-bit .png (mm)")
    try:
        return validate_depth(torch.from_numpy(array), name=str(path))
    except ValueError as error:
        raise InputError(str(error)) from None


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise InputError(f"{path}: not a plain .npy array ({error})") from None
    if array.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array (h, w) in metres, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{path}: expected float depth in metres, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _read_png_mm(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("I;16", "I;16B", "I;16L", "I"):
            raise InputError(
                f"{path}: expected a 16-bit single-channel PNG in millimetres, got PIL mode {image.mode!r}"
            )
        array = np.array(image)
    if array.ndim != 2:
        raise InputError(f"{path}: expected a single-channel PNG, got shape {array.shape}")
    if array.min() < 0 or array.max() > 65535:
        raise InputError(f"{path}: values outside the 16-bit range [0, 65535]")
    return (array.astype(np.float64) / 1000.0).astype(np.float32)


def save_depth_png_mm(path: str | os.PathLike, depth: Tensor) -> None:
    """Write depth (h w) metres as a 16-bit PNG in millimetres (rounded; 0 = missing). Depth must be < 65.535 m."""
    from PIL import Image

    from realcam.io.atomic import atomic_path

    depth = validate_depth(depth)
    millimetres = torch.round(depth.double() * 1000.0)
    if float(millimetres.max()) > 65535:
        raise ValueError(f"depth: maximum {float(depth.max()):.4g} m does not fit a 16-bit millimetre PNG")
    array = millimetres.cpu().numpy().astype(np.uint16)
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
