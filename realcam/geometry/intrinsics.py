"""Pinhole intrinsics in pixels.

Pixel convention: K maps a camera-frame point to continuous image coordinates in which pixel column i, row j covers
[i, i+1) × [j, j+1) and has its centre at (i + 0.5, j + 0.5). With this convention a resize by a factor s maps the
coordinate u to s·u exactly, and a crop by (left, top) subtracts (left, top); so the K updates below are exact for
off-centre principal points too.

FOV: vertical unless `axis="horizontal"`; in degrees.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "K_from_fov",
    "cover_size",
    "fov_from_K",
    "reference_default_K",
    "resize_cover_crop",
    "scale_K",
]

Axis = Literal["vertical", "horizontal"]


def _axis_size(height: float, width: float, axis: str) -> float:
    if axis == "vertical":
        return height
    if axis == "horizontal":
        return width
    raise ValueError(f"axis: expected 'vertical' or 'horizontal', got {axis!r}")


def K_from_fov(
    height: int, width: int, fov_deg: float | Tensor, *, axis: Axis = "vertical", dtype: torch.dtype = torch.float64
) -> Tensor:
    """Intrinsics of a centred pinhole camera with square pixels and the given FOV along `axis`.

    f = 0.5·size / tan(fov/2), fx = fy = f, (cx, cy) = (W/2, H/2).
    Shapes: fov_deg scalar -> (3 3); fov_deg (f,) -> (f 3 3).
    """
    fov = torch.as_tensor(fov_deg, dtype=dtype)
    if not torch.all((fov > 0) & (fov < 180)):
        raise ValueError(f"fov_deg: expected values in (0, 180) degrees, got {fov.tolist()}")
    size = _axis_size(height, width, axis)
    f = 0.5 * size / torch.tan(torch.deg2rad(fov) / 2)
    K = torch.zeros(*fov.shape, 3, 3, dtype=dtype)
    K[..., 0, 0] = f
    K[..., 1, 1] = f
    K[..., 0, 2] = width / 2
    K[..., 1, 2] = height / 2
    K[..., 2, 2] = 1
    return K


def fov_from_K(K: Tensor, height: int, width: int, axis: Axis = "vertical") -> Tensor:
    """Full FOV in degrees along `axis`: 2·atan(0.5·size / f) with f = fy (vertical) or fx (horizontal).

    Shapes: K (... 3 3) -> (...). Assumes a centred principal point (the symmetric FOV).
    """
    size = _axis_size(height, width, axis)
    f = K[..., 1, 1] if axis == "vertical" else K[..., 0, 0]
    return torch.rad2deg(2 * torch.atan(0.5 * size / f))


def scale_K(K: Tensor, sx: float, sy: float, left: float = 0.0, top: float = 0.0) -> Tensor:
    """K of an image resized by (sx, sy) and then cropped at (left, top). Shapes: (... 3 3)."""
    out = K.clone()
    out[..., 0, :] = K[..., 0, :] * sx
    out[..., 1, :] = K[..., 1, :] * sy
    out[..., 0, 2] = out[..., 0, 2] - left
    out[..., 1, 2] = out[..., 1, 2] - top
    out[..., 2, :] = K[..., 2, :]
    return out


def cover_size(in_h: int, in_w: int, out_h: int, out_w: int) -> tuple[int, int]:
    """Size (h, w) of the aspect-preserving resize of an in_h×in_w image that covers out_h×out_w.

    The side that limits the scale matches the target exactly; the other is truncated with int(), as the reference
    does (spec §5.3: 1920×1080 into 256×256 -> 256×455; into 320×512 -> 320×568). Works for portrait images and
    portrait targets alike: out_h and out_w are used as given, never swapped.
    """
    for name, value in (("in_h", in_h), ("in_w", in_w), ("out_h", out_h), ("out_w", out_w)):
        if int(value) != value or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {value}")
    if out_h * in_w >= out_w * in_h:  # height limits: match height
        return out_h, max(out_w, int(in_w * out_h / in_h))
    return max(out_h, int(in_h * out_w / in_w)), out_w


def reference_default_K(orig_h: int, orig_w: int, out_h: int, out_w: int) -> Tensor:
    """The reference app's intrinsics for an orig_h×orig_w image shown to the model at out_h×out_w (spec §5.3).

    Reference behaviour: the image is resized to cover the target (see `cover_size`) and centre-cropped; then
    fx = fy = 0.5·max(resized_h, resized_w) on the pre-crop resized size, so the long side of the resized image spans
    90°, and (cx, cy) = (out_w/2, out_h/2). Kept because the released weights were used with it. Unlike the reference,
    a portrait image keeps the requested (out_h, out_w). Returns (3 3) float64.
    """
    rh, rw = cover_size(orig_h, orig_w, out_h, out_w)
    f = 0.5 * max(rh, rw)
    return torch.tensor([[f, 0.0, out_w / 2], [0.0, f, out_h / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)


def resize_cover_crop(
    image: np.ndarray | Tensor, K: Tensor, out_hw: tuple[int, int], *, mode: str = "bilinear"
) -> tuple[np.ndarray | Tensor, Tensor]:
    """Resize an image to cover out_hw (aspect kept, `cover_size`), centre-crop it (top = ΔH//2, left = ΔW//2) and
    update K to match.

    Shapes: image (h w 3) uint8 numpy array or (c h w) tensor (uint8 or float); K (3 3) pixels of the input image ->
    (image of the same kind at out_h×out_w, K (3 3) of the output). `mode` "bilinear" resizes with antialiasing
    (images); "nearest-exact" copies the nearest input pixel (depth maps: no depths mixed across edges). uint8
    results are rounded. K update: K scaled by the actual per-axis ratios (resized/original size), then the crop
    offset is subtracted from the principal point.
    """
    out_h, out_w = out_hw
    is_numpy = isinstance(image, np.ndarray)
    if is_numpy:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image: expected an (h w 3) uint8 array, got {image.shape} {image.dtype}")
        chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    else:
        if image.ndim != 3:
            raise ValueError(f"image: expected a (c h w) tensor, got shape {tuple(image.shape)}")
        chw = image
    if K.shape != (3, 3):
        raise ValueError(f"K: expected shape (3 3), got {tuple(K.shape)}")
    in_h, in_w = chw.shape[-2:]
    rh, rw = cover_size(in_h, in_w, out_h, out_w)
    x = chw.float()[None]
    if (rh, rw) != (in_h, in_w):
        if mode == "bilinear":
            x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)
        elif mode == "nearest-exact":
            x = F.interpolate(x, size=(rh, rw), mode="nearest-exact")
        else:
            raise ValueError(f"mode: expected 'bilinear' or 'nearest-exact', got {mode!r}")
    top, left = (rh - out_h) // 2, (rw - out_w) // 2
    x = x[0, :, top : top + out_h, left : left + out_w]
    if chw.dtype == torch.uint8:
        x = x.round().clamp(0, 255).to(torch.uint8)
    else:
        x = x.to(chw.dtype)
    K_out = scale_K(K, rw / in_w, rh / in_h, left, top)
    if is_numpy:
        return x.permute(1, 2, 0).contiguous().numpy(), K_out
    return x, K_out
