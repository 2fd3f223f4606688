"""A ray-cast textured box room for SfM-based tests (evaluation, scale alignment): frames, exact metric z-depth and
known poses, no renderer dependency.

Cameras sit inside an axis-aligned box (metres, OpenCV frame of the first camera: x right, y down, z forward). Every
wall carries its own seeded multi-scale random texture (blobs and rectangles on a bicubic colour field, so SIFT finds
plenty of distinctive features); `Room(textured=False)` paints every wall flat grey (SfM must fail there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BOX_MIN = (-3.0, -2.0, -3.0)
BOX_MAX = (3.0, 2.0, 6.0)
PIXELS_PER_METRE = 120.0
FLAT_GREY = 128.0


def _texture(rng: np.random.Generator, size: int = 1200) -> np.ndarray:
    base = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((size, size), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(500):
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(3, 28)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.rectangle([x - r, y - 0.6 * r, x + r, y + 0.6 * r], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(image, dtype=np.float32)


def _sample(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around; u, v in texture pixels."""
    size = texture.shape[0]
    u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    du, dv = (u - u0)[..., None], (v - v0)[..., None]
    u0, v0 = u0 % size, v0 % size
    u1, v1 = (u0 + 1) % size, (v0 + 1) % size
    top = texture[v0, u0] * (1 - du) + texture[v0, u1] * du
    bottom = texture[v1, u0] * (1 - du) + texture[v1, u1] * du
    return top * (1 - dv) + bottom * dv


class Room:
    """The box [box_min, box_max] (metres) with six seeded wall textures (or flat grey walls: `textured=False`)."""

    def __init__(
        self,
        seed: int = 0,
        *,
        box_min: Sequence[float] = BOX_MIN,
        box_max: Sequence[float] = BOX_MAX,
        textured: bool = True,
    ):
        rng = np.random.default_rng(seed)
        self.box_min, self.box_max = np.asarray(box_min, dtype=np.float64), np.asarray(box_max, dtype=np.float64)
        self.textures = [_texture(rng) for _ in range(6)] if textured else None

    def render(self, c2w: np.ndarray, K: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames uint8 (f h w 3) and z-depth (f h w) float64 metres for c2w (f 4 4) OpenCV inside the box, K (3 3)
        pixels (pixel centres at +0.5)."""
        jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        pix = np.stack([jj, ii, np.ones_like(jj)], axis=-1).reshape(-1, 3)
        rays_cam = pix @ np.linalg.inv(K).T  # z = 1
        frames, depths = [], []
        for pose in c2w:
            R, o = pose[:3, :3], pose[:3, 3]
            d = rays_cam @ R.T
            best_t = np.full(len(d), np.inf)
            wall = np.zeros(len(d), dtype=np.int64)
            for axis in range(3):
                for side, bound in enumerate((self.box_min[axis], self.box_max[axis])):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        t = (bound - o[axis]) / d[:, axis]
                    better = (t > 0) & (t < best_t)
                    best_t = np.where(better, t, best_t)
                    wall = np.where(better, 2 * axis + side, wall)
            hit = o + best_t[:, None] * d
            colour = np.full((len(d), 3), FLAT_GREY, dtype=np.float32)
            for w in range(6 if self.textures is not None else 0):
                sel = wall == w
                a, b = [k for k in range(3) if k != w // 2]
                u = (hit[sel, a] - self.box_min[a]) * PIXELS_PER_METRE
                v = (hit[sel, b] - self.box_min[b]) * PIXELS_PER_METRE
                colour[sel] = _sample(self.textures[w], u, v)
            frames.append(np.clip(colour, 0, 255).round().astype(np.uint8).reshape(height, width, 3))
            depths.append(best_t.reshape(height, width))  # rays have camera z = 1, so t is the z-depth
        return np.stack(frames), np.stack(depths)


def intrinsics(height: int, width: int, fov_deg: float = 60.0) -> np.ndarray:
    """K (3 3) pixels: square pixels, vertical field of view `fov_deg`, principal point at the image centre."""
    f = 0.5 * height / math.tan(math.radians(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def dolly_trajectory(num_frames: int, end_translation: Sequence[float], yaw_deg: float) -> np.ndarray:
    """c2w (f 4 4) metres: frame 0 = identity, then a straight move to `end_translation` (x, y, z metres) while the
    camera pans about y up to `yaw_deg` at the last frame, both linear in the frame index."""
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    for i in range(num_frames):
        s = i / max(num_frames - 1, 1)
        c2w[i, :3, :3] = _rot_y(math.radians(yaw_deg) * s)
        c2w[i, :3, 3] = np.asarray(end_translation, dtype=np.float64) * s
    return c2w


def arc_trajectory(num_frames: int = 16, distance: float = 1.0, yaw_deg: float = 15.0) -> np.ndarray:
    """Forward-right dolly with a slow pan: c2w (f 4 4) metres, frame 0 = identity."""
    return dolly_trajectory(num_frames, (0.4 * distance, -0.1 * distance, distance), yaw_deg)
