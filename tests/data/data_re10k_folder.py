"""A tiny synthetic RealEstate10K-layout folder for the data tests.

Layout: `valid_metadata/train/<clip>.txt`, `video_clips/train/<youtube_id>/<clip>.mp4`, `train_valid_list.txt`,
`train_captions.json`. Videos are lossless H.264 whose pixels encode column, row and frame index, so tests can check
which frames were picked and where the crop landed: R = 2·column, G = 3·row, B = 6·frame (all mod 256).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from realcam.data.realestate10k import ClipMetadata, PoseRows, write_metadata_file
from realcam.io.video import write_video


def coded_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """Shapes: -> (f h w 3) uint8 with R = 2·column, G = 3·row, B = 6·frame (mod 256)."""
    f, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([(2 * x) % 256, (3 * y) % 256, (6 * f) % 256], axis=-1).astype(np.uint8)


def random_c2w(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random camera path (f 4 4), OpenCV c2w, clip units."""
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    for i in range(num_frames):
        angle = 0.02 * i
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        c2w[i, :3, :3] = np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K
        c2w[i, :3, 3] = [0.05 * i, -0.01 * i, 0.1 * i + rng.normal() * 0.01]
    return c2w


def make_folder(root: Path, clips: dict[str, int], height: int = 48, width: int = 80, seed: int = 0) -> dict:
    """Write clips {clip_id: num_frames}. Returns {clip_id: (PoseRows, per-frame scale (f,))} for checking."""
    rng = np.random.default_rng(seed)
    truth = {}
    captions = {}
    for k, (clip_id, n) in enumerate(sorted(clips.items())):
        youtube_id = f"yt{k:03d}"
        intr = np.tile([0.9, 0.9 * width / height, 0.52, 0.47], (n, 1))
        rows = PoseRows(np.arange(n, dtype=np.int64) * 33_366 + 1_000_000, intr, random_c2w(n, rng))
        clip = ClipMetadata(clip_id, f"https://example.invalid/{youtube_id}", f"{youtube_id}/{clip_id}", "", rows)
        write_metadata_file(root / "valid_metadata" / "train" / f"{clip_id}.txt", clip)
        write_video(
            root / "video_clips" / "train" / youtube_id / f"{clip_id}.mp4",
            coded_frames(n, height, width),
            fps=30,
            lossless=True,
        )
        captions[f"{clip_id}.mp4"] = [f"a room number {k}", "second caption"]
        truth[clip_id] = (rows, rng.uniform(0.5, 2.0, size=n))
    (root / "train_valid_list.txt").write_text("\n".join(sorted(clips)) + "\n")
    (root / "train_captions.json").write_text(json.dumps(captions))
    return truth
