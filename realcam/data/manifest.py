"""realcam's training manifest: one JSON line per clip, read strictly.

File layout (`.jsonl`): line 1 is a header `{"format": "realcam-re10k-manifest", "version": 1, "convention":
"opencv_c2w", ...}`; every further line is one clip:

| key | content |
|---|---|
| `clip_id` | str |
| `video` | path of the clip's mp4; relative paths are relative to the manifest's folder |
| `caption` | str |
| `num_frames` | f, the number of pose rows = video frames |
| `timestamps_us` | (f,) int microseconds |
| `intrinsics_norm` | (f 4) `fx/W, fy/H, cx/W, cy/H` (RE10K's normalised intrinsics; pixels once the size is known) |
| `c2w` | (f 3 4) OpenCV camera-to-world rows in the clip's own (arbitrary) units; the last row 0 0 0 1 is implied |
| `metric_scale` | (f,) metres per clip unit from `realcam data align-scale`, or null when not aligned |

The scale is stored, never baked into `c2w`: the dataset multiplies the translations relative to the condition frame
by the condition frame's scale (spec §5.5 step 4).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from realcam.data.realestate10k import ClipMetadata, PoseRows
from realcam.errors import InputError
from realcam.io.atomic import write_text_atomic

__all__ = [
    "FORMAT_ID",
    "ManifestRecord",
    "build_records",
    "SCHEMA_VERSION",
    "read_manifest",
    "record_from_metadata",
    "resolve_video",
    "with_scales",
    "write_manifest",
]

FORMAT_ID = "realcam-re10k-manifest"
SCHEMA_VERSION = 1
_RECORD_KEYS = {"clip_id", "video", "caption", "num_frames", "timestamps_us", "intrinsics_norm", "c2w", "metric_scale"}


@dataclass(frozen=True)
class ManifestRecord:
    """One clip of the manifest.

    Shapes: timestamps_us (f,) int64; intrinsics_norm (f 4) float64; c2w (f 4 4) float64 OpenCV camera-to-world in
    clip units; metric_scale (f,) float64 metres per clip unit, or None when the clip is not aligned.
    """

    clip_id: str
    video: str
    caption: str
    timestamps_us: np.ndarray
    intrinsics_norm: np.ndarray
    c2w: np.ndarray
    metric_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        f = self.timestamps_us.shape[0]
        if self.intrinsics_norm.shape != (f, 4):
            raise ValueError(f"{self.clip_id}: intrinsics_norm: expected ({f}, 4), got {self.intrinsics_norm.shape}")
        if self.c2w.shape != (f, 4, 4):
            raise ValueError(f"{self.clip_id}: c2w: expected ({f}, 4, 4), got {self.c2w.shape}")
        if self.metric_scale is not None:
            if self.metric_scale.shape != (f,):
                raise ValueError(f"{self.clip_id}: metric_scale: expected ({f},), got {self.metric_scale.shape}")
            if not (np.isfinite(self.metric_scale).all() and (self.metric_scale > 0).all()):
                raise ValueError(f"{self.clip_id}: metric_scale: expected finite positive values")

    @property
    def num_frames(self) -> int:
        return int(self.timestamps_us.shape[0])

    @property
    def poses(self) -> PoseRows:
        return PoseRows(self.timestamps_us, self.intrinsics_norm, self.c2w)

    def K(self, height: int, width: int) -> np.ndarray:
        """Pixel intrinsics for frames of height×width. Shapes: -> (f 3 3) float64."""
        return self.poses.K(height, width)


def record_from_metadata(clip: ClipMetadata, video: str | os.PathLike, caption: str | None = None) -> ManifestRecord:
    """A manifest record from a `valid_metadata` clip; `caption` overrides the metadata's caption."""
    rows = clip.poses
    return ManifestRecord(
        clip_id=clip.clip_id,
        video=str(video),
        caption=clip.caption if caption is None else caption,
        timestamps_us=rows.timestamps_us,
        intrinsics_norm=rows.intrinsics_norm,
        c2w=rows.c2w,
    )


def build_records(
    meta_dir: str | os.PathLike,
    video_dir: str | os.PathLike,
    *,
    clip_ids: Sequence[str] | None = None,
    captions: Mapping[str, str] | None = None,
    min_frames: int = 16,
    check_videos: bool = True,
) -> tuple[list[ManifestRecord], dict[str, str]]:
    """Manifest records of a `valid_metadata/<split>` folder whose videos live in `video_dir` (`video_clips/<split>`).

    The video of a clip is `video_dir/<video stem>.mp4`, stored as an absolute path. `captions` (clip id -> caption)
    overrides metadata captions. Returns (records sorted by clip id, dropped: clip id -> reason). Reasons: unreadable
    metadata, fewer than `min_frames` pose rows, a missing video, and (with `check_videos`) a video whose frame count
    differs from the number of pose rows (the reference re-extracts such clips; spec §4.2).
    """
    from realcam.data.realestate10k import read_metadata_dir
    from realcam.io.video import video_info

    clips, dropped = read_metadata_dir(meta_dir, clip_ids)
    video_dir = Path(video_dir).resolve()
    records = []
    for clip in clips:
        video = video_dir / f"{clip.video_stem}.mp4"
        if clip.poses.num_frames < min_frames:
            dropped[clip.clip_id] = f"{clip.poses.num_frames} pose rows < {min_frames}"
        elif not video.is_file():
            dropped[clip.clip_id] = f"video not found: {video}"
        elif check_videos and (n := video_info(video).num_frames) != clip.poses.num_frames:
            dropped[clip.clip_id] = f"video has {n} frames but the metadata {clip.poses.num_frames} pose rows"
        else:
            caption = None if captions is None else captions.get(clip.clip_id)
            records.append(record_from_metadata(clip, video, caption))
    return records, dropped


def with_scales(records: Sequence[ManifestRecord], scales: Mapping[str, np.ndarray]) -> list[ManifestRecord]:
    """Records with `metric_scale` set from `scales` (clip id -> (f,)); clips missing from `scales` are dropped."""
    return [
        replace(r, metric_scale=np.asarray(scales[r.clip_id], dtype=np.float64)) for r in records if r.clip_id in scales
    ]


def _record_json(record: ManifestRecord) -> dict:
    scale = None if record.metric_scale is None else [float(x) for x in record.metric_scale]
    return {
        "clip_id": record.clip_id,
        "video": record.video,
        "caption": record.caption,
        "num_frames": record.num_frames,
        "timestamps_us": [int(x) for x in record.timestamps_us],
        "intrinsics_norm": record.intrinsics_norm.tolist(),
        "c2w": record.c2w[:, :3, :4].tolist(),
        "metric_scale": scale,
    }


def write_manifest(path: str | os.PathLike, records: Iterable[ManifestRecord], **header: object) -> Path:
    """Write records as JSON lines, atomically. Extra `header` fields (e.g. the source folders) go in line 1."""
    head = {"format": FORMAT_ID, "version": SCHEMA_VERSION, "convention": "opencv_c2w", **header}
    lines = [json.dumps(head)]
    ids: set[str] = set()
    for record in records:
        if record.clip_id in ids:
            raise ValueError(f"records: clip id {record.clip_id!r} appears twice")
        ids.add(record.clip_id)
        lines.append(json.dumps(_record_json(record)))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)


def _array(value: object, shape: tuple[int, ...], where: str, dtype: type = np.float64) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected numbers of shape {shape}") from None
    if array.shape != shape:
        raise InputError(f"{where}: expected shape {shape}, got {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"{where}: contains NaN or inf")
    return array


def _parse_record(data: object, where: str) -> ManifestRecord:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected an object")
    missing, unknown = sorted(_RECORD_KEYS - data.keys()), sorted(data.keys() - _RECORD_KEYS)
    if missing or unknown:
        raise InputError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    for key in ("clip_id", "video", "caption"):
        if not isinstance(data[key], str):
            raise InputError(f"{where}: {key}: expected a string")
    f = data["num_frames"]
    if not isinstance(f, int) or f < 1:
        raise InputError(f"{where}: num_frames: expected a positive integer, got {f!r}")
    c2w = np.tile(np.eye(4), (f, 1, 1))
    c2w[:, :3, :4] = _array(data["c2w"], (f, 3, 4), f"{where}: c2w")
    scale = data["metric_scale"]
    if scale is not None:
        scale = _array(scale, (f,), f"{where}: metric_scale")
    try:
        return ManifestRecord(
            clip_id=data["clip_id"],
            video=data["video"],
            caption=data["caption"],
            timestamps_us=_array(data["timestamps_us"], (f,), f"{where}: timestamps_us", np.int64),
            intrinsics_norm=_array(data["intrinsics_norm"], (f, 4), f"{where}: intrinsics_norm"),
            c2w=c2w,
            metric_scale=scale,
        )
    except ValueError as error:
        raise InputError(f"{where}: {error}") from None


def read_manifest(path: str | os.PathLike) -> tuple[dict, list[ManifestRecord]]:
    """Read a manifest strictly. Returns (header, records). Raises `InputError` naming the file, line and problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise InputError(f"{path}: empty manifest")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line 1: not JSON ({error.msg})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_ID:
        raise InputError(f"{path}: line 1: not a {FORMAT_ID} header")
    if header.get("version") != SCHEMA_VERSION:
        raise InputError(f"{path}: version {header.get('version')!r}; this realcam reads {SCHEMA_VERSION}")
    records, ids = [], set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            data = json.loads(line, parse_constant=lambda c: math.nan)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: line {number}: not JSON ({error.msg})") from None
        record = _parse_record(data, f"{path}: line {number}")
        if record.clip_id in ids:
            raise InputError(f"{path}: line {number}: clip id {record.clip_id!r} appears twice")
        ids.add(record.clip_id)
        records.append(record)
    return header, records


def resolve_video(manifest_path: str | os.PathLike, record: ManifestRecord) -> Path:
    """The record's video path; a relative one is taken relative to the manifest's folder."""
    video = Path(record.video)
    return video if video.is_absolute() else Path(manifest_path).parent / video
