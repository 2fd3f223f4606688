"""RE10K-layout clips of the shared synthetic room (`tests/synthetic_room.py`) for the scale-alignment tests: frames,
exact metric z-depth and known poses.

The room here is the box x in [-2.5, 2.5], y in [-1.5, 1.5], z in [-2, 5] metres (OpenCV frame of the first camera:
x right, y down, z forward); `textureless=True` paints every wall flat grey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from synthetic_room import Room, dolly_trajectory

from realcam.data.realestate10k import ClipMetadata, PoseRows, write_metadata_file
from realcam.io.video import write_video

BOX_MIN = (-2.5, -1.5, -2.0)
BOX_MAX = (2.5, 1.5, 5.0)


def render_room(
    c2w: np.ndarray, K: np.ndarray, height: int, width: int, *, seed: int = 0, textureless: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Shapes: c2w (f 4 4) metres, K (3 3) pixels (pixel centres at +0.5) -> frames (f h w 3) uint8, depth (f h w)
    float32 metres (camera z)."""
    room = Room(seed, box_min=BOX_MIN, box_max=BOX_MAX, textured=not textureless)
    frames, depth = room.render(c2w, K, height, width)
    return frames, depth.astype(np.float32)


def walk_trajectory(num_frames: int) -> np.ndarray:
    """A forward walk with a sideways drift and a slow pan (f 4 4), metres; frame 0 at the origin."""
    return dolly_trajectory(num_frames, (0.5, 0.05, 1.2), yaw_deg=12.0)


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
