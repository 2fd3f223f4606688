"""The RealEstate10K training dataset over a realcam manifest (spec §4.3, §5.5; paper §3.2, §4.1).

Per item: 16 frames at a random stride in [1, 10] from a random start, decoded with PyAV, resized to cover the target
and centre-cropped (intrinsics updated exactly), a random condition frame, poses relative to it with translations in
metres (× the condition frame's metric scale), and the frame-stride or fps conditioning value.

Randomness: item i of epoch e draws from a generator seeded by (seed, e, i), so an item is reproducible and epochs
differ after `set_epoch`. No global RNG is touched, so DataLoader workers need no extra seeding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from realcam.data.manifest import ManifestRecord, read_manifest, resolve_video
from realcam.data.transforms import (
    decode_frames,
    metric_relative_c2w,
    resize_crop_clip,
    sample_frame_indices,
    to_model_range,
)

__all__ = ["RealEstate10KDataset", "collate"]


class RealEstate10KDataset(Dataset):
    """Training clips from a manifest written by `realcam data manifest`.

    Items are dicts:
    - `video` (3 f H W) float32 in [-1, 1];
    - `caption` str; `clip_id` str;
    - `rel_c2w` (f 4 4) float32 OpenCV camera-to-world relative to the condition frame (which is the identity),
      translations in metres: clip-unit translation × `metric_scale[condition frame]`;
    - `K` (f 3 3) float32 pixels of the H×W crop;
    - `cond_index` int in [0, f); `fs` int: the frame stride (`fps_condition_type="fs"`) or
      floor(video fps / stride) (`"fps"`, the reference's `avg_fps // stride`).

    `require_scale=True` (default) rejects manifests with unaligned clips; with False an unaligned clip uses scale 1
    (relative-scale training as CamI2V). Clips shorter than `frames` are left out at construction (`skipped`).
    """

    def __init__(
        self,
        manifest_path: str | os.PathLike,
        *,
        pixel_hw: tuple[int, int] = (256, 256),
        frames: int = 16,
        stride_range: tuple[int, int] = (1, 10),
        fps_condition_type: Literal["fs", "fps"] = "fs",
        random_condition_frame: bool = True,
        seed: int = 0,
        require_scale: bool = True,
    ) -> None:
        if fps_condition_type not in ("fs", "fps"):
            raise ValueError(f"fps_condition_type: expected 'fs' or 'fps', got {fps_condition_type!r}")
        if len(pixel_hw) != 2 or min(pixel_hw) < 1:
            raise ValueError(f"pixel_hw: expected (H, W) positive, got {pixel_hw}")
        if frames < 1:
            raise ValueError(f"frames: expected a positive integer, got {frames}")
        low, high = stride_range
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
            raise ValueError(f"stride_range: expected integers 1 <= a <= b, got {stride_range}")
        self.manifest_path = Path(manifest_path)
        self.header, records = read_manifest(self.manifest_path)
        unaligned = [r.clip_id for r in records if r.metric_scale is None]
        if require_scale and unaligned:
            raise ValueError(
                f"manifest_path: {len(unaligned)} clips have no metric_scale (e.g. {unaligned[:3]}); run `realcam data "
                "align-scale` and rebuild the manifest with --scales, or pass require_scale=False"
            )
        self.records: list[ManifestRecord] = [r for r in records if r.num_frames >= frames]
        self.skipped = {r.clip_id: f"{r.num_frames} frames < {frames}" for r in records if r.num_frames < frames}
        self.pixel_hw = (int(pixel_hw[0]), int(pixel_hw[1]))
        self.frames = frames
        self.stride_range = (low, high)
        self.fps_condition_type = fps_condition_type
        self.random_condition_frame = random_condition_frame
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Items of another epoch draw other strides, starts and condition frames."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def _generator(self, index: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(2, dtype=np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        generator = self._generator(index)
        indices, stride = sample_frame_indices(record.num_frames, self.frames, self.stride_range, generator)
        cond_index = int(torch.randint(0, self.frames, (1,), generator=generator)) if self.random_condition_frame else 0
        frames, fps = decode_frames(resolve_video(self.manifest_path, record), indices)
        height, width = frames.shape[1:3]
        K = torch.from_numpy(record.K(height, width)[indices])
        video, K = resize_crop_clip(frames, K, self.pixel_hw)
        c2w = torch.from_numpy(record.c2w[indices])
        scale = 1.0 if record.metric_scale is None else float(record.metric_scale[indices[cond_index]])
        rel_c2w = metric_relative_c2w(c2w, cond_index, scale)
        if self.fps_condition_type == "fs":
            fs = stride
        else:
            if not fps > 0:
                raise ValueError(f"{record.clip_id}: the video reports no fps; cannot use fps_condition_type='fps'")
            fs = int(fps // stride)
        return {
            "video": to_model_range(video),
            "caption": record.caption,
            "rel_c2w": rel_c2w.float(),
            "K": K.float(),
            "cond_index": cond_index,
            "fs": fs,
            "clip_id": record.clip_id,
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack dataset items with `b` first: video (b 3 f H W), rel_c2w (b f 4 4), K (b f 3 3), cond_index (b,) int64,
    fs (b,) int64; caption and clip_id become lists of str."""
    if not items:
        raise ValueError("items: expected at least one item")
    batch: dict[str, Any] = {}
    for key in ("video", "rel_c2w", "K"):
        batch[key] = torch.stack([item[key] for item in items])
    for key in ("cond_index", "fs"):
        batch[key] = torch.tensor([item[key] for item in items], dtype=torch.int64)
    for key in ("caption", "clip_id"):
        batch[key] = [item[key] for item in items]
    return batch
