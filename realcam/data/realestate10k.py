"""RealEstate10K readers: raw pose files, the reference's metadata layout, captions, valid lists, test metadata.

Layouts (eval-data spec §4):
- `pose_files/<split>/<clip_id>.txt`: line 1 the YouTube URL, then one line per video frame with 19 numbers:
  `timestamp_us fx fy cx cy 0 0` and the OpenCV **w2c** 3×4 row-major. fx, cx are normalised by the image width,
  fy, cy by the height. Translation scale is arbitrary per clip (ORB-SLAM), consistent within the clip.
- `valid_metadata/<split>/<clip_id>.txt` (the reference's preprocessing output): line 1 URL, line 2 the video stem
  `<youtube_id>/<clip_id>` (relative to `video_clips/<split>/`, without `.mp4`), line 3 the caption, then the pose
  lines as above. The clip video has exactly one frame per pose line.
- `<split>_valid_list.txt`: one clip id per line. `<split>_captions.json` (CameraCtrl): `{"<clip_id>.mp4": [caption,
  ...]}`, the first caption is used.
- `*_test_metadata_1k.pth`: a list of dicts (`caption`, `video_path`, `camera_extrinsics` (f 4 4) w2c,
  `camera_intrinsics` (4,) normalised or (3 3), optional `per_frame_scale` (f,)). Loaded with `weights_only=True`.

Everything is converted once here: poses become OpenCV `c2w` (float64, clip units), intrinsics stay normalised until
a pixel size is known (`PoseRows.K`).

Why not `realcam.trajectory.io`'s RE10K reader: it turns a file into an editable `Trajectory` (keyframes, one K per
clip, times dropped when not increasing); training data needs the raw per-frame rows (timestamps, per-frame
normalised intrinsics) and the metadata layout's extra header lines, so the row parsing lives here once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realcam.errors import InputError
from realcam.trajectory.io import RE10K_NUM_COLUMNS, parse_re10k_rows

__all__ = [
    "ClipMetadata",
    "build_metadata",
    "PoseRows",
    "format_pose_line",
    "parse_pose_lines",
    "read_captions",
    "read_metadata_dir",
    "read_metadata_file",
    "read_per_frame_scale_npz",
    "read_pose_file",
    "read_test_metadata",
    "read_valid_list",
    "write_metadata_file",
]


@dataclass(frozen=True)
class PoseRows:
    """The per-frame rows of an RE10K pose file.

    Shapes: timestamps_us (f,) int64 microseconds; intrinsics_norm (f 4) float64 `fx/W, fy/H, cx/W, cy/H`;
    c2w (f 4 4) float64 OpenCV camera-to-world in the clip's (arbitrary) units.
    """

    timestamps_us: np.ndarray
    intrinsics_norm: np.ndarray
    c2w: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.timestamps_us.shape[0])

    def K(self, height: int, width: int) -> np.ndarray:
        """Pixel intrinsics for frames of height×width. Shapes: -> (f 3 3) float64."""
        fx, fy, cx, cy = self.intrinsics_norm.T
        K = np.zeros((self.num_frames, 3, 3))
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx * width, fy * height, cx * width, cy * height, 1
        return K

    def w2c(self) -> np.ndarray:
        """Shapes: -> (f 4 4) float64 world-to-camera."""
        return _invert_rigid(self.c2w)


@dataclass(frozen=True)
class ClipMetadata:
    """One clip of the reference's `valid_metadata` layout: id, URL, video stem, caption and its pose rows."""

    clip_id: str
    url: str
    video_stem: str
    caption: str
    poses: PoseRows


def _invert_rigid(T: np.ndarray) -> np.ndarray:
    R, t = T[..., :3, :3], T[..., :3, 3:]
    out = np.zeros_like(T)
    out[..., :3, :3] = np.swapaxes(R, -1, -2)
    out[..., :3, 3:] = -np.swapaxes(R, -1, -2) @ t
    out[..., 3, 3] = 1
    return out


def parse_pose_lines(lines: Sequence[str], source: str, first_line_number: int = 1) -> PoseRows:
    """Parse RE10K pose rows (19 numbers each; blank lines skipped) into `PoseRows`.

    Raises `InputError` naming `source` and the line for a wrong column count, a non-number, NaN/inf, a non-positive
    focal length or a w2c whose rotation is not a proper rotation (|RᵀR − I| > 1e-3 or det < 0).
    """
    stamps, intr, w2c = [], [], []
    for number, values in parse_re10k_rows(lines, source, first_line_number=first_line_number):
        M = np.eye(4)
        M[:3, :4] = np.asarray(values[7:], dtype=np.float64).reshape(3, 4)
        R = M[:3, :3]
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-3 or np.linalg.det(R) < 0:
            raise InputError(f"{source}: line {number}: the w2c rotation is not a proper rotation")
        stamps.append(int(round(values[0])))
        intr.append(values[1:5])
        w2c.append(M)
    if not stamps:
        raise InputError(f"{source}: no pose lines (expected {RE10K_NUM_COLUMNS} numbers per frame)")
    return PoseRows(
        timestamps_us=np.asarray(stamps, dtype=np.int64),
        intrinsics_norm=np.asarray(intr, dtype=np.float64),
        c2w=_invert_rigid(np.stack(w2c)),
    )


def format_pose_line(timestamp_us: int, intrinsics_norm: Sequence[float], c2w: np.ndarray) -> str:
    """One RE10K pose row (the inverse of `parse_pose_lines` for one frame). c2w (4 4) OpenCV."""
    w2c = _invert_rigid(np.asarray(c2w, dtype=np.float64))
    numbers = [float(x) for x in intrinsics_norm] + [0.0, 0.0] + w2c[:3, :4].reshape(12).tolist()
    return " ".join([str(int(timestamp_us))] + [repr(x) for x in numbers])


def _read_lines(path: str | os.PathLike) -> tuple[Path, list[str]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return path, path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a UTF-8 text file ({error})") from None


def read_pose_file(path: str | os.PathLike) -> tuple[str, PoseRows]:
    """Read a raw `pose_files/<split>/<clip_id>.txt`. Returns (URL, rows)."""
    path, lines = _read_lines(path)
    if not lines:
        raise InputError(f"{path}: empty pose file")
    return lines[0].strip(), parse_pose_lines(lines[1:], str(path), first_line_number=2)


def read_metadata_file(path: str | os.PathLike) -> ClipMetadata:
    """Read one `valid_metadata/<split>/<clip_id>.txt` (URL, video stem, caption, pose rows); clip id = file stem."""
    path, lines = _read_lines(path)
    if len(lines) < 4:
        raise InputError(f"{path}: expected a URL, a video stem, a caption and pose lines; got {len(lines)} lines")
    stem = lines[1].strip()
    if not stem:
        raise InputError(f"{path}: line 2: empty video stem (expected <youtube_id>/<clip_id>)")
    poses = parse_pose_lines(lines[3:], str(path), first_line_number=4)
    return ClipMetadata(path.stem, lines[0].strip(), stem, lines[2].strip(), poses)


def write_metadata_file(path: str | os.PathLike, clip: ClipMetadata) -> Path:
    """Write a clip in the `valid_metadata` layout (used to build test folders and to export)."""
    from realcam.io.atomic import write_text_atomic

    rows = clip.poses
    lines = [clip.url, clip.video_stem, clip.caption]
    for i in range(rows.num_frames):
        lines.append(format_pose_line(rows.timestamps_us[i], rows.intrinsics_norm[i], rows.c2w[i]))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return Path(path)


def build_metadata(
    pose_dir: str | os.PathLike,
    video_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    captions: dict[str, str] | None = None,
    *,
    min_frames: int = 16,
) -> tuple[list[str], dict[str, str]]:
    """Write the `valid_metadata/<split>` layout from raw `pose_files/<split>` and extracted clips.

    A clip's video is found as `video_dir/<any folder>/<clip_id>.mp4` (the reference's `<youtube_id>/<clip_id>.mp4`).
    Kept: clips with at least `min_frames` pose rows, a video, and (when `captions` is given) a caption; otherwise the
    caption line is empty. Returns (written clip ids sorted, skipped: clip id -> reason). Files are written atomically.
    """
    pose_dir, video_dir, out_dir = Path(pose_dir), Path(video_dir), Path(out_dir)
    if not pose_dir.is_dir():
        raise InputError(f"{pose_dir}: no such pose-file folder")
    stems = {p.stem: f"{p.parent.name}/{p.stem}" for p in sorted(video_dir.glob("*/*.mp4"))}
    written, skipped = [], {}
    for path in sorted(pose_dir.glob("*.txt")):
        clip_id = path.stem
        try:
            url, rows = read_pose_file(path)
        except InputError as error:
            skipped[clip_id] = str(error)
            continue
        if rows.num_frames < min_frames:
            skipped[clip_id] = f"{rows.num_frames} pose rows < {min_frames}"
        elif clip_id not in stems:
            skipped[clip_id] = f"no video <youtube_id>/{clip_id}.mp4 in {video_dir}"
        elif captions is not None and clip_id not in captions:
            skipped[clip_id] = "no caption"
        else:
            caption = "" if captions is None else captions[clip_id]
            write_metadata_file(out_dir / f"{clip_id}.txt", ClipMetadata(clip_id, url, stems[clip_id], caption, rows))
            written.append(clip_id)
    return written, skipped


def read_valid_list(path: str | os.PathLike) -> list[str]:
    """Clip ids of a `<split>_valid_list.txt` (one per line; blank lines skipped; duplicates raise)."""
    path, lines = _read_lines(path)
    ids = [line.strip() for line in lines if line.strip()]
    seen: set[str] = set()
    for clip_id in ids:
        if clip_id in seen:
            raise InputError(f"{path}: clip id {clip_id!r} is listed twice")
        seen.add(clip_id)
    return ids


def read_metadata_dir(
    meta_dir: str | os.PathLike, clip_ids: Sequence[str] | None = None
) -> tuple[list[ClipMetadata], dict[str, str]]:
    """Read every `<clip_id>.txt` of a `valid_metadata/<split>` folder (or only `clip_ids`).

    Returns (clips sorted by id, failures: clip id -> reason). A listed clip without a file, or a file that does not
    parse, becomes a failure rather than aborting the whole folder.
    """
    meta_dir = Path(meta_dir)
    if not meta_dir.is_dir():
        raise InputError(f"{meta_dir}: no such metadata folder")
    ids = sorted(clip_ids) if clip_ids is not None else sorted(p.stem for p in meta_dir.glob("*.txt"))
    clips, failures = [], {}
    for clip_id in ids:
        try:
            clips.append(read_metadata_file(meta_dir / f"{clip_id}.txt"))
        except InputError as error:
            failures[clip_id] = str(error)
    return clips, failures


def read_captions(path: str | os.PathLike) -> dict[str, str]:
    """CameraCtrl's `<split>_captions.json` -> {clip_id: first caption} (keys lose their `.mp4`)."""
    path, lines = _read_lines(path)
    try:
        data = json.loads("\n".join(lines))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object mapping '<clip_id>.mp4' to a list of captions")
    out = {}
    for key, value in data.items():
        captions = value if isinstance(value, list) else [value]
        if not captions or not isinstance(captions[0], str):
            raise InputError(f"{path}: entry {key!r}: expected a non-empty list of strings")
        out[key.removesuffix(".mp4")] = captions[0]
    return out


def read_test_metadata(path: str | os.PathLike) -> list[dict]:
    """The reference's test metadata `.pth` (a list of dicts) as plain records with OpenCV c2w.

    Each record: `caption` str, `video_path` str (relative to the RE10K root), `c2w` (f 4 4) float64 (the file stores
    w2c `camera_extrinsics`), `intrinsics_norm` (4,) float64 (fx/W, fy/H, cx/W, cy/H) or `K` (3 3) pixels when the file
    stores a matrix, and `per_frame_scale` (f,) float64 when present. Unpickled with `weights_only=True`.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such test metadata file")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of dicts, got {type(data).__name__}")
    records = []
    for i, item in enumerate(data):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a dict, got {type(item).__name__}")
        missing = sorted({"caption", "video_path", "camera_extrinsics", "camera_intrinsics"} - item.keys())
        if missing:
            raise InputError(f"{where}: missing keys {', '.join(missing)}")
        w2c = np.asarray(item["camera_extrinsics"], dtype=np.float64)
        if w2c.ndim != 3 or w2c.shape[1:] != (4, 4):
            raise InputError(f"{where}: camera_extrinsics: expected (f 4 4) w2c, got {w2c.shape}")
        record = {"caption": str(item["caption"]), "video_path": str(item["video_path"]), "c2w": _invert_rigid(w2c)}
        intr = np.asarray(item["camera_intrinsics"], dtype=np.float64)
        if intr.shape == (4,):
            record["intrinsics_norm"] = intr
        elif intr.shape[-2:] == (3, 3):
            record["K"] = intr.reshape(-1, 3, 3)[0]
        else:
            raise InputError(f"{where}: camera_intrinsics: expected (4,) or (3 3), got {intr.shape}")
        if "per_frame_scale" in item:
            record["per_frame_scale"] = np.asarray(item["per_frame_scale"], dtype=np.float64).reshape(-1)
        records.append(record)
    return records


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def read_per_frame_scale_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The reference's `RealCam-I2V_<split>_per_frame_scale.npz`: `arr_0` is a pickled dict clip id -> (f,) scales.

    The pickle is read with an unpickler that only accepts numpy arrays, dtypes and scalars inside plain containers,
    so a crafted file cannot run code. Returns {clip_id: (f,) float64}.
    """
    import io
    import pickle
    import zipfile

    from numpy.lib import format as npy_format

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) not in _NUMPY_GLOBALS:
                raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
            return super().find_class(module, name)

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such scale file")
    try:
        with zipfile.ZipFile(path) as archive, archive.open("arr_0.npy") as handle:
            version = npy_format.read_magic(handle)
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            _, _, dtype = read_header(handle)
            if dtype != np.dtype(object):
                raise InputError(f"{path}: arr_0 has dtype {dtype}; expected a pickled dict (object array)")
            array = _Unpickler(io.BytesIO(handle.read())).load()
    except (zipfile.BadZipFile, KeyError, pickle.UnpicklingError, ValueError, EOFError) as error:
        raise InputError(f"{path}: not a per-frame scale npz ({error})") from None
    data = array.item() if isinstance(array, np.ndarray) and array.shape == () else array
    if not isinstance(data, dict):
        raise InputError(f"{path}: arr_0 holds {type(data).__name__}, expected a dict clip id -> scales")
    out = {}
    for clip_id, value in data.items():
        scales = np.asarray(value, dtype=np.float64).reshape(-1)
        if not (np.isfinite(scales).all() and (scales > 0).all()):
            raise InputError(f"{path}: clip {clip_id}: scales must be finite and positive")
        out[str(clip_id)] = scales
    return out
