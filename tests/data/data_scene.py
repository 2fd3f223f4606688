"""A ray-cast textured room for the scale-alignment tests: frames, exact metric z-depth and known poses.

The room is an axis-aligned box x in [-2.5, 2.5], y in [-1.5, 1.5], z in [-2, 5] metres (OpenCV frame of the first
camera: x right, y down, z forward). Each wall carries a seeded texture of overlapping coloured discs and triangles on
a smooth gradient, so SIFT finds many distinctive features; `textureless=True` paints every wall flat grey.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from realcam.data.realestate10k import ClipMetadata, PoseRows, write_metadata_file
from realcam.io.video import write_video

LOW = np.array([-2.5, -1.5, -2.0])
HIGH = np.array([2.5, 1.5, 5.0])
TEXELS_PER_METRE = 100


def _wall_texture(rng: np.random.Generator, size: int = 800) -> np.ndarray:
    gradient = np.linspace(60, 190, size)
    base = np.stack([np.add.outer(gradient, gradient[::-1]) / 2] * 3, axis=-1)
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(420):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(4, 30)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            angles = rng.uniform(0, 2 * math.pi, 3)
            draw.polygon([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles], fill=colour)
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float64)


def render_room(
    c2w: np.ndarray, K: np.ndarray, height: int, width: int, *, seed: int = 0, textureless: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Shapes: c2w (f 4 4) metres, K (3 3) pixels (pixel centres at +0.5) -> frames (f h w 3) uint8, depth (f h w)
    float32 metres (camera z)."""
    rng = np.random.default_rng(seed)
    textures = [_wall_texture(rng) for _ in range(6)]
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T  # camera z = 1
    frames, depths = [], []
    for pose in c2w:
        d = rays @ pose[:3, :3].T
        o = pose[:3, 3]
        with np.errstate(divide="ignore"):
            t_low, t_high = (LOW - o) / d, (HIGH - o) / d
        t_exit = np.where(d > 0, t_high, t_low)  # inside the box: the wall each ray leaves through, per axis
        axis = np.argmin(t_exit, axis=1)
        t = t_exit[np.arange(len(d)), axis]
        hit = o + t[:, None] * d
        colour = np.full((len(d), 3), 128.0)
        if not textureless:
            wall = 2 * axis + (d[np.arange(len(d)), axis] > 0)
            for w in range(6):
                sel = wall == w
                a, b = [k for k in range(3) if k != w // 2]
                tex = textures[w]
                col = ((hit[sel, a] - LOW[a]) * TEXELS_PER_METRE).astype(np.int64) % tex.shape[1]
                row = ((hit[sel, b] - LOW[b]) * TEXELS_PER_METRE).astype(np.int64) % tex.shape[0]
                colour[sel] = tex[row, col]
        frames.append(colour.reshape(height, width, 3).round().clip(0, 255).astype(np.uint8))
        depths.append(t.reshape(height, width).astype(np.float32))  # rays have unit camera z, so t is z
    return np.stack(frames), np.stack(depths)


def walk_trajectory(num_frames: int) -> np.ndarray:
    """A forward walk with a sideways drift and a slow pan (f 4 4), metres; frame 0 at the origin."""
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    for i in range(num_frames):
        s = i / max(num_frames - 1, 1)
        yaw = math.radians(12) * s
        c2w[i, :3, :3] = [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
        c2w[i, :3, 3] = [0.5 * s, 0.05 * s, 1.2 * s]
    return c2w


H, W, F = 192, 256, 12
POSE_SCALE = 3.7  # clip units per metre of the synthetic clips: the alignment must recover 1/3.7 m per unit
K = np.array([[200.0, 0, 128], [0, 200.0, 96], [0, 0, 1]])


def _write_clip(root: Path, clip_id: str, frames: np.ndarray, depth: np.ndarray, c2w_metres: np.ndarray) -> None:
    c2w = c2w_metres.copy()
    c2w[:, :3, 3] *= POSE_SCALE
    intr = np.tile([K[0, 0] / W, K[1, 1] / H, K[0, 2] / W, K[1, 2] / H], (F, 1))
    rows = PoseRows(np.arange(F, dtype=np.int64) * 100_000, intr, c2w)
    write_metadata_file(root / "meta" / f"{clip_id}.txt", ClipMetadata(clip_id, "u", f"v/{clip_id}", "a room", rows))
    write_video(root / "videos" / "v" / f"{clip_id}.mp4", frames, fps=10, crf=4)
    (root / "depth").mkdir(exist_ok=True)
    np.save(root / "depth" / f"{clip_id}.npy", depth)


def make_align_folder(root: Path) -> Path:
    """Three RE10K-layout clips of the room with poses in units of 1/POSE_SCALE m and true depth files:
    "room" (correct), "shuffled" (frames permuted against their poses), "flat" (textureless walls).
    Layout: root/meta/<clip>.txt, root/videos/v/<clip>.mp4, root/depth/<clip>.npy."""
    c2w = walk_trajectory(F)
    frames, depth = render_room(c2w, K, H, W)
    _write_clip(root, "room", frames, depth, c2w)
    order = np.random.default_rng(0).permutation(F)
    _write_clip(root, "shuffled", frames[order], depth[order], c2w)
    flat, flat_depth = render_room(c2w, K, H, W, textureless=True)
    _write_clip(root, "flat", flat, flat_depth, c2w)
    return root
