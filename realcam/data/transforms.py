"""Training-clip transforms: frame sampling, PyAV decoding of chosen frames, resize-to-cover + centre crop with exact
intrinsics, pixel scaling, and relative metric poses (spec §4.3, §5.5)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from realcam.errors import InputError
from realcam.geometry.intrinsics import cover_size, resize_cover_crop, scale_K
from realcam.geometry.se3 import relative_c2w

__all__ = [
    "decode_frames",
    "decode_resized",
    "metric_relative_c2w",
    "resize_crop_clip",
    "sample_frame_indices",
    "to_model_range",
]


def sample_frame_indices(
    num_available: int, frames: int, stride_range: tuple[int, int], generator: torch.Generator
) -> tuple[np.ndarray, int]:
    """Pick `frames` evenly strided indices from a clip of `num_available` frames.

    The stride is uniform in [a, b] (both included); if the clip is too short for it (needs stride·(frames−1)+1
    frames), the largest stride that fits, (num_available − 1) // (frames − 1), is used instead (the reference uses
    num_frames // 16 there, which can overrun by one frame). The start is uniform over the valid range.
    Returns (indices (frames,) int64, stride). Raises ValueError if the clip has fewer than `frames` frames.
    """
    low, high = stride_range
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ValueError(f"stride_range: expected integers 1 <= a <= b, got {stride_range}")
    if frames < 1:
        raise ValueError(f"frames: expected a positive integer, got {frames}")
    if num_available < frames:
        raise ValueError(f"num_available: a clip of {num_available} frames is shorter than frames={frames}")
    stride = int(torch.randint(low, high + 1, (1,), generator=generator))
    if frames > 1 and stride * (frames - 1) + 1 > num_available:
        stride = (num_available - 1) // (frames - 1)
    needed = stride * (frames - 1) + 1
    start = int(torch.randint(0, num_available - needed + 1, (1,), generator=generator))
    return start + stride * np.arange(frames, dtype=np.int64), stride


def decode_frames(path: str | os.PathLike, indices: np.ndarray) -> tuple[np.ndarray, float]:
    """Decode the frames at `indices` (any order, repeats allowed) of a video's first stream with PyAV.

    Decodes sequentially up to the largest index and keeps only the wanted frames. Returns (frames (n h w 3) uint8 RGB
    in the order of `indices`, the stream's average fps). Raises `InputError` if the video has too few frames.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"video file not found: {path}")
    wanted = {int(i) for i in indices}
    last = max(wanted)
    kept: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    kept[i] = frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
    except av.error.FFmpegError as error:
        raise InputError(f"{path}: cannot decode video ({error})") from None
    if len(kept) != len(wanted):
        raise InputError(f"{path}: needs frame {last}, but the video has only {max(kept, default=-1) + 1} frames")
    return np.stack([kept[int(i)] for i in indices]), fps


def resize_crop_clip(frames: np.ndarray, K: Tensor, out_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Resize a clip to cover out_hw (aspect kept) and centre-crop it; update every frame's K exactly.

    Shapes: frames (f h w 3) uint8; K (f 3 3) pixels of the input frames -> (frames (3 f H W) uint8, K (f 3 3) pixels
    of H×W, same dtype as K). The principal point follows the crop (cx·sx − left), so off-centre principal points
    stay exact (the reference instead puts cx·W on the crop; spec §8.14).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 (f h w 3), got {frames.dtype} {frames.shape}")
    f, in_h, in_w, _ = frames.shape
    if K.shape != (f, 3, 3):
        raise ValueError(f"K: expected ({f}, 3, 3), got {tuple(K.shape)}")
    out_h, out_w = out_hw
    # All frames share one resize + crop: run it once on the stacked channels (f*3 h w).
    stacked = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).reshape(f * 3, in_h, in_w)
    image, _ = resize_cover_crop(stacked, K[0], out_hw)
    rh, rw = cover_size(in_h, in_w, out_h, out_w)
    K_out = scale_K(K, rw / in_w, rh / in_h, (rw - out_w) // 2, (rh - out_h) // 2)
    video = image.reshape(f, 3, out_h, out_w).permute(1, 0, 2, 3).contiguous()
    return video, K_out


def to_model_range(video: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] as x/255·2 − 1 (the reference's (x/255 − 0.5)·2). Any shape."""
    if video.dtype != torch.uint8:
        raise ValueError(f"video: expected uint8, got {video.dtype}")
    return video.float() / 127.5 - 1.0


def metric_relative_c2w(c2w: Tensor, cond_index: int, scale: float) -> Tensor:
    """Poses relative to the condition frame, translations in metres (spec §5.5 steps 2 and 4).

    rel_i = inv(c2w_cond) · c2w_i, then rel_i's translation × `scale` (the condition frame's metric scale, metres per
    clip unit). The condition frame becomes exactly the identity. Shapes: c2w (f 4 4) -> (f 4 4), same dtype.
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite positive number, got {scale}")
    rel = relative_c2w(c2w[None], cond_index)[0]
    rel[:, :3, 3] = rel[:, :3, 3] * scale
    rel[cond_index] = torch.eye(4, dtype=c2w.dtype)
    return rel


def decode_resized(path: str | os.PathLike, out_hw: tuple[int, int] | None = None) -> tuple[np.ndarray, float]:
    """Decode every frame of a video, each resized to out_hw (area-averaging swscale) while decoding, so long clips
    never sit in memory at full resolution. Returns (frames (f h w 3) uint8 RGB, average fps)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"video file not found: {path}")
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.base_rate
            for frame in container.decode(stream):
                if out_hw is not None:
                    frame = frame.reformat(width=out_hw[1], height=out_hw[0], format="rgb24", interpolation="AREA")
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as error:
        raise InputError(f"{path}: cannot decode video ({error})") from None
    if not frames:
        raise InputError(f"{path}: the video stream has no frames")
    return np.stack(frames), float(rate) if rate else 0.0
