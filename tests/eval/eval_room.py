"""A ray-cast textured box room for SfM tests: exact metric poses, intrinsics and depth, no renderer dependency.

The camera starts at the origin looking down +z (OpenCV: x right, y down). The room is the box x in [-3, 3],
y in [-2, 2], z in [-3, 6] metres; every wall carries its own multi-scale random texture (blobs and rectangles, so
SIFT finds plenty of distinctive features).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BOX_MIN = np.array([-3.0, -2.0, -3.0])
BOX_MAX = np.array([3.0, 2.0, 6.0])
PIXELS_PER_METRE = 120.0


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
    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.textures = [_texture(rng) for _ in range(6)]

    def render(self, c2w: np.ndarray, K: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames uint8 (f h w 3) and z-depth (f h w) metres for c2w (f 4 4) OpenCV, K (3 3) pixels."""
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
                for side, bound in enumerate((BOX_MIN[axis], BOX_MAX[axis])):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        t = (bound - o[axis]) / d[:, axis]
                    better = (t > 0) & (t < best_t)
                    best_t = np.where(better, t, best_t)
                    wall = np.where(better, 2 * axis + side, wall)
            hit = o + best_t[:, None] * d
            colour = np.zeros((len(d), 3), dtype=np.float32)
            for w in range(6):
                sel = wall == w
                axis = w // 2
                a, b = [k for k in range(3) if k != axis]
                u = (hit[sel, a] - BOX_MIN[a]) * PIXELS_PER_METRE
                v = (hit[sel, b] - BOX_MIN[b]) * PIXELS_PER_METRE
                colour[sel] = _sample(self.textures[w], u, v)
            frames.append(np.clip(colour, 0, 255).round().astype(np.uint8).reshape(height, width, 3))
            depths.append(best_t.reshape(height, width))  # rays have camera z = 1, so t is the z-depth
        return np.stack(frames), np.stack(depths)


def intrinsics(height: int, width: int, fov_deg: float = 60.0) -> np.ndarray:
    f = 0.5 * height / math.tan(math.radians(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def arc_trajectory(num_frames: int = 16, distance: float = 1.0, yaw_deg: float = 15.0) -> np.ndarray:
    """Forward-right dolly with a slow pan: c2w (f 4 4) metres, frame 0 = identity."""
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    for i in range(num_frames):
        s = i / (num_frames - 1)
        c2w[i, :3, :3] = _rot_y(math.radians(yaw_deg) * s)
        c2w[i, :3, 3] = [0.4 * distance * s, -0.1 * distance * s, distance * s]
    return c2w


class DemoSceneDepth:
    """Picklable depth factory for harness workers: returns an oracle that answers every frame with the exact metric
    depth of the demo scene's condition view (correct for frame 0 of a video rendered from the identity camera)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width

    def __call__(self):
        from realcam.scene.demo import demo_scene

        depth = demo_scene(self.height, self.width).depth.numpy()
        return lambda image: depth
