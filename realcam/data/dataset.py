"""The RealEstate10K training dataset over a realcam manifest (spec §4.3, §5.5; paper §3.2, §4.1).

Per item: 16 frames at a random stride in [1, 10] from a random start, decoded with PyAV, resized to cover the target
and centre-cropped (intrinsics updated exactly), a random condition frame, poses relative to it with translations in
metres (× the condition frame's metric scale), the frame stride, fps and the one of them the model is conditioned on,
the frame indices and the per-frame metric scales used.

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

__all__ = ["ITEM_KEYS", "RealEstate10KDataset", "collate"]


class RealEstate10KDataset(Dataset):
    """Training clips from a manifest written by `realcam data manifest`.

    Items are dicts (`ITEM_KEYS`; the reference's §4.3 keys in realcam's conventions):
    - `video` (3 f H W) float32 in [-1, 1];
    - `caption` str; `clip_id` str; `video_path` str, the decoded mp4 (a relative manifest entry
      joined to the manifest's folder);
    - `frame_indices` (f,) int64: the source frames used, `start + k·frame_stride`;
    - `frame_stride` int: the stride actually used (the drawn one, or the largest that fits a short clip);
    - `fps` int: floor(video fps / frame_stride), the reference's `avg_fps // stride`; 0 if the video reports no
      frame rate;
    - `fs` int: the value the model's fs embedding gets: `frame_stride` (`fps_condition_type="fs"`, 256 model) or
      `fps` (`"fps"`, 512 model);
    - `rel_c2w` (f 4 4) float32 OpenCV camera-to-world relative to the condition frame (which is the identity),
      translations in metres: clip-unit translation × `cond_scale`;
    - `K` (f 3 3) float32 pixels of the H×W crop;
    - `cond_index` int in [0, f);
    - `metric_scale` (f,) float32: metres per clip unit of each used frame (the reference's `per_frame_scale`), NaN
      for a clip without alignment; `cond_scale` float: the factor applied to the translations,
      `metric_scale[cond_index]`, or 1.0 for a clip without alignment.

    The reference's `RT` (w2c in clip units) and `camera_data` (19 columns) are not yielded: they are the manifest's
    c2w and K at `frame_indices` in another layout, and neither training nor evaluation reads them.

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
        video_path = resolve_video(self.manifest_path, record)
        frames, fps = decode_frames(video_path, indices)
        height, width = frames.shape[1:3]
        K = torch.from_numpy(record.K(height, width)[indices])
        video, K = resize_crop_clip(frames, K, self.pixel_hw)
        c2w = torch.from_numpy(record.c2w[indices])
        if record.metric_scale is None:
            metric_scale = torch.full((self.frames,), float("nan"))
            cond_scale = 1.0
        else:
            metric_scale = torch.from_numpy(record.metric_scale[indices]).float()
            cond_scale = float(record.metric_scale[indices[cond_index]])
        rel_c2w = metric_relative_c2w(c2w, cond_index, cond_scale)
        if self.fps_condition_type == "fps" and not fps > 0:
            raise ValueError(f"{record.clip_id}: the video reports no fps; cannot use fps_condition_type='fps'")
        fps_per_stride = int(fps // stride) if fps > 0 else 0
        return {
            "video": to_model_range(video),
            "caption": record.caption,
            "clip_id": record.clip_id,
            "video_path": str(video_path),
            "frame_indices": torch.from_numpy(np.asarray(indices, dtype=np.int64)),
            "frame_stride": int(stride),
            "fps": fps_per_stride,
            "fs": int(stride) if self.fps_condition_type == "fs" else fps_per_stride,
            "rel_c2w": rel_c2w.float(),
            "K": K.float(),
            "cond_index": cond_index,
            "metric_scale": metric_scale,
            "cond_scale": cond_scale,
        }

# Item keys by how `collate` batches them.
_TENSOR_KEYS = ("video", "rel_c2w", "K", "frame_indices", "metric_scale")
_INT_KEYS = ("cond_index", "frame_stride", "fps", "fs")
_FLOAT_KEYS = ("cond_scale",)
_STR_KEYS = ("caption", "clip_id", "video_path")
ITEM_KEYS = frozenset(_TENSOR_KEYS + _INT_KEYS + _FLOAT_KEYS + _STR_KEYS)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items (exactly `ITEM_KEYS` each) with `b` first.

    Shapes: video (b 3 f H W), rel_c2w (b f 4 4), K (b f 3 3), frame_indices (b f) int64, metric_scale (b f) float32;
    cond_index, frame_stride, fps, fs (b,) int64; cond_scale (b,) float32; caption, clip_id, video_path lists of str.
    """
    if not items:
        raise ValueError("items: expected at least one item")
    for k, item in enumerate(items):
        if set(item) != ITEM_KEYS:
            raise ValueError(
                f"items[{k}]: expected keys {sorted(ITEM_KEYS)}; missing {sorted(ITEM_KEYS - set(item))}, "
                f"unexpected {sorted(set(item) - ITEM_KEYS)}"
            )
    batch: dict[str, Any] = {}
    for key in _TENSOR_KEYS:
        batch[key] = torch.stack([item[key] for item in items])
    for key in _INT_KEYS:
        batch[key] = torch.tensor([item[key] for item in items], dtype=torch.int64)
    for key in _FLOAT_KEYS:
        batch[key] = torch.tensor([item[key] for item in items], dtype=torch.float32)
    for key in _STR_KEYS:
        batch[key] = [item[key] for item in items]
    return batch
