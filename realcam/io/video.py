"""Video files through PyAV: H.264 mp4 out, uint8 RGB frames in.

Frames are `(f h w 3)` uint8 RGB everywhere here (what renderers and decoders produce); model videos (`b c f h w` in
[-1, 1]) are converted by the caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from realcam.errors import InputError
from realcam.io.atomic import atomic_path


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame count, size in pixels, frames per second, codec and pixel format."""

    num_frames: int
    height: int
    width: int
    fps: float
    codec: str
    pix_fmt: str


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Tensor,
    fps: float = 8,
    *,
    crf: int = 18,
    lossless: bool = False,
) -> Path:
    """Encode RGB frames as an H.264 video, atomically (a crash never leaves a partial file at `path`).

    Shapes: frames (f h w 3) uint8, numpy or tensor (any device). Even sizes use yuv420p (plays everywhere); odd
    widths or heights use yuv444p, which needs no padding. `lossless=True` stores the RGB values exactly (libx264rgb,
    crf 0), e.g. for masks. `crf` is x264's quality (0 best .. 51 worst). Returns the path.
    """
    array = _as_frames(frames)
    if not fps > 0:
        raise ValueError(f"fps: expected a positive number, got {fps}")
    if not (isinstance(crf, int) and 0 <= crf <= 51):
        raise ValueError(f"crf: expected an integer in [0, 51], got {crf!r}")
    import av

    f, height, width, _ = array.shape
    if lossless:
        codec, pix_fmt, options = "libx264rgb", "rgb24", {"crf": "0", "preset": "medium"}
    else:
        even = height % 2 == 0 and width % 2 == 0
        codec, pix_fmt, options = "libx264", "yuv420p" if even else "yuv444p", {"crf": str(crf), "preset": "medium"}
    path = Path(path)
    container_format = "mp4" if path.suffix.lower() in ("", ".mp4", ".m4v") else None
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=_rate(fps), options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            for i in range(f):
                frame = av.VideoFrame.from_ndarray(array[i], format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


def write_mask_video(path: str | os.PathLike, mask: Tensor, factor: int, fps: float) -> Path:
    """A latent noise-shaping mask as a lossless video: each latent cell shown as factor x factor white (constrained)
    or black pixels. Shapes: mask (f h w) bool latent cells -> frames (f h*factor w*factor 3)."""
    cells = mask.cpu().repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    frames = cells[..., None].expand(*cells.shape, 3).to(torch.uint8) * 255
    return write_video(path, frames, fps, lossless=True)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame of the first video stream. Returns (f h w 3) uint8 RGB numpy."""
    import av

    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except av.error.FFmpegError as error:
        raise InputError(f"{path}: cannot decode video ({error})") from None
    if not frames:
        raise InputError(f"{path}: the video stream has no frames")
    return np.stack(frames)


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count (counted by demuxing, not trusted from the header), size, fps, codec and pixel format."""
    import av

    path = _existing(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            rate = stream.average_rate or stream.base_rate
            info = dict(
                height=context.height,
                width=context.width,
                fps=float(rate) if rate else 0.0,
                codec=context.name,
                pix_fmt=context.pix_fmt or "",
            )
            count = sum(1 for packet in container.demux(stream) if packet.size > 0)
    except av.error.FFmpegError as error:
        raise InputError(f"{path}: cannot read video ({error})") from None
    return VideoInfo(num_frames=count, **info)


def _as_frames(frames: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(frames, Tensor):
        if frames.dtype != torch.uint8:
            raise ValueError(f"frames: expected uint8 RGB (f, h, w, 3), got dtype {frames.dtype}")
        frames = frames.detach().cpu().numpy()
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames: expected a numpy array or tensor (f, h, w, 3), got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 RGB (f, h, w, 3), got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected shape (f, h, w, 3), got {frames.shape}")
    if frames.shape[0] < 1 or frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"frames: expected at least one frame of at least 1x1 pixels, got {frames.shape}")
    return np.ascontiguousarray(frames)


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video file not found: {path}")
    return path
