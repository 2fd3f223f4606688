"""Trajectory files, read and write. Converted once at the edge to realcam's convention (OpenCV c2w, metres, K in
pixels).

Formats:
- "realcam" (.json): realcam's own versioned schema (`FORMAT_ID`, `SCHEMA_VERSION`); states units, convention,
  intrinsics in pixels, interpolation settings, keyframes, and the frames written with them:
      {"format": "realcam-trajectory", "version": 1, "convention": "opencv_c2w", "convention_note": "...",
       "units": {"translation": "m", "fov": "deg (vertical)", "time": "s", "intrinsics": "px"},
       "intrinsics": {"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], "width": W, "height": H} | null,
       "settings": {"tension": 0.0, "closed": false, "timing": "arc", "ease": "none", "pivot": [x, y, z] | null},
       "keyframes": [{"c2w": 4×4 rows, "fov_deg": deg | null, "time": s | null}, ...],
       "frames": {"source": "sampled" | "keyframes", "num_frames": 16, "c2w": [...], "fov_deg": [...] | null,
                  "time": [...] | null}}
  Reading is strict: unknown or missing keys raise with their names. `load_trajectory` rebuilds the path from the
  keyframes; the frames block is informative, except that `stored_num_frames` reads which frames it holds:
  "keyframes" (the keyframes themselves, at their times: a file made from a per-frame file, or written with
  `num_frames=None`) or "sampled" (`num_frames` frames along the spline; files without "source" are sampled).
- "nerfstudio" (.json with a `camera_path` key): nerfstudio's camera-path JSON; OpenGL c2w (row-major 16 numbers),
  vertical FOV in degrees, render size. Read from `camera_path` (the frames that get rendered), each frame a keyframe.
  Its positions are in the scene's units; realcam reads them as metres (scale them if the scene was not metric).
  nerfstudio renders square pixels. realcam writes each frame's `aspect` as the square-pixel aspect fy·W/(fx·H),
  which is the width/height ratio before a nominal width was rounded to whole pixels; on read, an `aspect` that
  rounds to the render size (|aspect·H − W| ≤ 0.5 px) sets fx = fy·W/(H·aspect), so normalised RE10K
  intrinsics survive the trip exactly. Any other `aspect` (nerfstudio's viewer may store the browser's) is ignored.
- "re10k" (.txt): RealEstate10K / CameraCtrl pose file: a URL line, then per frame 19 numbers
  `timestamp fx fy cx cy k1 k2` + the OpenCV w2c 3×4 row-major, with fx, cx normalised by the width and fy, cy by the
  height. Each row becomes a keyframe with timing "keys".

Writing a `Trajectory` to a per-frame format (re10k, nerfstudio) samples `num_frames` frames (default 16);
`num_frames=None` writes the keyframes as they are (the realcam schema then stores the keyframes as its frames).
Malformed input raises `InputError` naming the file, the line or field, and what is wrong.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from realcam.errors import InputError
from realcam.geometry.conventions import opencv_to_opengl_c2w, opengl_to_opencv_c2w
from realcam.geometry.se3 import invert_se3, validate_c2w
from realcam.io.atomic import write_text_atomic
from realcam.trajectory.interpolate import keyframe_fovs
from realcam.trajectory.keyframes import (
    DEFAULT_FOV_DEG,
    DEFAULT_NUM_FRAMES,
    InterpolationSettings,
    Intrinsics,
    Keyframe,
    SampledTrajectory,
    Trajectory,
)

__all__ = [
    "FORMATS",
    "FORMAT_ID",
    "NOMINAL_RE10K_HEIGHT",
    "OUTPUT_EXTENSIONS",
    "SCHEMA_VERSION",
    "detect_format",
    "load_trajectory",
    "output_format",
    "parse_re10k_rows",
    "save_trajectory",
    "stored_num_frames",
    "trajectory_from_json",
    "trajectory_to_json",
]

log = logging.getLogger(__name__)

FORMATS = ("realcam", "nerfstudio", "re10k")
FORMAT_ID = "realcam-trajectory"
SCHEMA_VERSION = 1
RE10K_URL = "https://realcam.invalid/trajectory"  # line 1 must exist; the reference skips it (.invalid: RFC 2606)
# RE10K intrinsics are normalised and carry no image size. Without `image_size`, K is stated for a nominal image
# NOMINAL_RE10K_HEIGHT px tall with the aspect ratio implied by square pixels (W/H = fy_n/fx_n); normalised values
# round-trip exactly whatever the size, and `K_for` rescales to the size the model uses.
NOMINAL_RE10K_HEIGHT = 1080
RE10K_NUM_COLUMNS = 19  # timestamp, fx fy cx cy, k1 k2, w2c 3×4
# Output format by extension when no format is given (nerfstudio JSON shares .json, so it needs the format).
OUTPUT_EXTENSIONS = {".json": "realcam", ".txt": "re10k"}
_NERFSTUDIO_DEFAULT_SIZE = (256, 256)  # render size written when a trajectory has no intrinsics


def detect_format(path: str | os.PathLike, format: str | None = None) -> str:
    """Format name from `format` or the extension: .txt -> re10k; .json -> nerfstudio if it has a `camera_path` key
    (when reading an existing file), else realcam."""
    if format is not None:
        if format not in FORMATS:
            raise InputError(f"{path}: unknown trajectory format {format!r}; expected one of {', '.join(FORMATS)}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return "re10k"
    if suffix == ".json":
        p = Path(path)
        if p.exists():
            try:
                data = json.loads(p.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise InputError(f"{path}: not valid JSON ({error})") from error
            if isinstance(data, dict) and "camera_path" in data:
                return "nerfstudio"
        return "realcam"
    raise InputError(f"{path}: cannot tell the trajectory format from the extension {suffix!r}; pass a format")


def output_format(path: str | os.PathLike, format: str | None = None) -> str:
    """Format written by `save_trajectory`: `format` if given, else from the extension (`OUTPUT_EXTENSIONS`: .json
    -> realcam, .txt -> re10k; nerfstudio JSON needs `format`). Any other extension raises ValueError rather than
    writing a file that reading would refuse."""
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_EXTENSIONS:
        accepted = ", ".join(f"{ext} ({fmt})" for ext, fmt in OUTPUT_EXTENSIONS.items())
        raise ValueError(
            f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r}; accepted: {accepted}, "
            f"or give the format ({', '.join(FORMATS)})"
        )
    return OUTPUT_EXTENSIONS[suffix]


# ---------------------------------------------------------------------------------------------------------- realcam


def _matrix(value: Any, rows: int, cols: int, where: str) -> Tensor:
    ok = isinstance(value, list) and len(value) == rows
    ok = ok and all(isinstance(r, list) and len(r) == cols for r in value)
    ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in value for x in r)
    if not ok:
        raise InputError(f"{where}: expected a {rows}×{cols} list of numbers, got {json.dumps(value)[:80]}")
    t = torch.tensor(value, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise InputError(f"{where}: contains NaN or inf")
    return t


def _strict_keys(obj: Any, required: set[str], optional: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object, got {type(obj).__name__}")
    missing = sorted(required - obj.keys())
    unknown = sorted(obj.keys() - required - optional)
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise InputError(f"{where}: {'; '.join(parts)}")


def _number(value: Any, where: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _intrinsics_json(intrinsics: Intrinsics | None) -> dict | None:
    if intrinsics is None:
        return None
    return {"K": intrinsics.K.tolist(), "width": intrinsics.width, "height": intrinsics.height}


def trajectory_to_json(trajectory: Trajectory | SampledTrajectory, num_frames: int | None = DEFAULT_NUM_FRAMES) -> dict:
    """realcam schema as a JSON-ready dict. A SampledTrajectory is stored with its frames as keyframes ("keys").

    The frames block holds `num_frames` frames sampled along the spline ("source": "sampled"), or with
    `num_frames=None` the keyframes themselves with their FOVs and times ("source": "keyframes").
    """
    trajectory = _as_trajectory(trajectory)
    sampled, times = _frames_for_writing(trajectory, num_frames)
    known_times = all(t is not None for t in times)
    return {
        "format": FORMAT_ID,
        "version": SCHEMA_VERSION,
        "convention": "opencv_c2w",
        "convention_note": "camera-to-world 4x4, camera axes x right, y down, z forward (OpenCV)",
        "units": {"translation": "m", "fov": "deg (vertical)", "time": "s", "intrinsics": "px"},
        "intrinsics": _intrinsics_json(trajectory.intrinsics),
        "settings": asdict(trajectory.settings),
        "keyframes": [{"c2w": k.c2w.tolist(), "fov_deg": k.fov_deg, "time": k.time} for k in trajectory.keyframes],
        "frames": {
            "source": "keyframes" if num_frames is None else "sampled",
            "num_frames": sampled.num_frames,
            "c2w": sampled.c2w.tolist(),
            "fov_deg": None if sampled.fov_deg is None else sampled.fov_deg.tolist(),
            "time": times if known_times else None,
        },
    }


def stored_num_frames(path: str | os.PathLike, format: str | None = None) -> int | None:
    """Which frames a trajectory file holds, in `save_trajectory`'s `num_frames` terms: None when its frames are its
    keyframes (RE10K and nerfstudio files, realcam files whose frames block has "source": "keyframes"), else the
    number of frames a realcam file's frames block sampled along the spline (`DEFAULT_NUM_FRAMES` without a block).

    Converting a file onward with this `num_frames` writes the frames the file holds, so per-frame files keep every
    frame, exactly, through realcam JSON. Raises `InputError` for an unreadable file or a malformed frames block.
    """
    fmt = detect_format(path, format)
    if fmt != "realcam":
        return None
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{source}: cannot read the realcam JSON ({error})") from error
    frames = data.get("frames") if isinstance(data, dict) else None
    if frames is None:
        return DEFAULT_NUM_FRAMES
    _strict_keys(frames, {"num_frames"}, {"source", "c2w", "fov_deg", "time"}, f"{source}: field frames")
    kind = frames.get("source", "sampled")
    if kind not in ("sampled", "keyframes"):
        raise InputError(f"{source}: field frames.source: expected 'sampled' or 'keyframes', got {kind!r}")
    n = frames["num_frames"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"{source}: field frames.num_frames: expected a positive integer, got {n!r}")
    return None if kind == "keyframes" else n


def trajectory_from_json(data: Any, source: str = "<json>") -> Trajectory:
    """Parse realcam's schema strictly: unknown or missing keys raise `InputError` with their names."""
    top = {"format", "version", "convention", "units", "intrinsics", "settings", "keyframes"}
    _strict_keys(data, top, {"convention_note", "frames"}, source)
    if data["format"] != FORMAT_ID:
        raise InputError(f"{source}: field format is {data['format']!r}, expected {FORMAT_ID!r}")
    if data["version"] != SCHEMA_VERSION:
        raise InputError(f"{source}: field version is {data['version']!r}; this realcam reads {SCHEMA_VERSION}")
    if data["convention"] != "opencv_c2w":
        raise InputError(f"{source}: field convention is {data['convention']!r}, expected 'opencv_c2w'")
    intrinsics = None
    if data["intrinsics"] is not None:
        _strict_keys(data["intrinsics"], {"K", "width", "height"}, set(), f"{source}: field intrinsics")
        K = _matrix(data["intrinsics"]["K"], 3, 3, f"{source}: field intrinsics.K")
        try:
            intrinsics = Intrinsics(K, data["intrinsics"]["width"], data["intrinsics"]["height"])
        except (ValueError, TypeError) as error:
            raise InputError(f"{source}: field intrinsics: {error}") from error
    fields = {"tension", "closed", "timing", "ease", "pivot"}
    _strict_keys(data["settings"], set(), fields, f"{source}: field settings")
    try:
        raw = dict(data["settings"])
        if raw.get("pivot") is not None:
            raw["pivot"] = tuple(raw["pivot"])
        settings = InterpolationSettings(**raw)
    except (ValueError, TypeError) as error:
        raise InputError(f"{source}: field settings: {error}") from error
    keys = data["keyframes"]
    if not isinstance(keys, list) or not keys:
        raise InputError(f"{source}: field keyframes: expected a non-empty list")
    keyframes = []
    for i, key in enumerate(keys):
        where = f"{source}: field keyframes[{i}]"
        _strict_keys(key, {"c2w"}, {"fov_deg", "time"}, where)
        c2w, _ = validate_c2w(_matrix(key["c2w"], 4, 4, f"{where}.c2w"), name=f"{where}.c2w")
        try:
            keyframes.append(
                Keyframe(
                    c2w,
                    _number(key.get("fov_deg"), f"{where}.fov_deg", optional=True),
                    _number(key.get("time"), f"{where}.time", optional=True),
                )
            )
        except ValueError as error:
            raise InputError(f"{where}: {error}") from error
    try:
        return Trajectory(tuple(keyframes), settings, intrinsics)
    except ValueError as error:
        raise InputError(f"{source}: {error}") from error


# ------------------------------------------------------------------------------------------------------- nerfstudio


def _frames_for_writing(
    trajectory: Trajectory | SampledTrajectory, num_frames: int | None
) -> tuple[SampledTrajectory, list[float | None]]:
    """Frames to write to a per-frame format, and their times (None where unknown)."""
    if isinstance(trajectory, SampledTrajectory):
        return trajectory, [None] * trajectory.num_frames
    if num_frames is None:
        keys = trajectory.keyframes
        fov = keyframe_fovs(trajectory)
        sampled = SampledTrajectory(trajectory.c2w(), fov, trajectory.intrinsics)
        return sampled, [k.time for k in keys]
    return trajectory.sample(num_frames), [None] * num_frames


def _nerfstudio_to_json(trajectory: Trajectory | SampledTrajectory, num_frames: int | None, fps: float) -> dict:
    sampled, _ = _frames_for_writing(trajectory, num_frames)
    intrinsics = sampled.intrinsics
    height, width = (intrinsics.height, intrinsics.width) if intrinsics is not None else _NERFSTUDIO_DEFAULT_SIZE
    K = sampled.K_for(height, width, DEFAULT_FOV_DEG)
    fov = torch.rad2deg(2 * torch.atan(0.5 * height / K[:, 1, 1]))
    # Square-pixel aspect fy·W/(fx·H): width/height itself for square pixels; for a nominal width rounded to whole
    # pixels, the unrounded ratio, which the reader turns back into fx exactly (see the module docstring).
    aspect = K[:, 1, 1] * width / (K[:, 0, 0] * height)
    gl = opencv_to_opengl_c2w(sampled.c2w)
    frames = [
        {"camera_to_world": gl[i].reshape(16).tolist(), "fov": float(fov[i]), "aspect": float(aspect[i])}
        for i in range(sampled.num_frames)
    ]
    # nerfstudio's own keyframes: the trajectory's keyframes when there are any, else the frames themselves.
    keys = _as_trajectory(trajectory).keyframes if isinstance(trajectory, Trajectory) else None
    if keys is None:
        keyframes = [{"matrix": f["camera_to_world"], "fov": f["fov"], "aspect": f["aspect"]} for f in frames]
    else:
        key_gl = opencv_to_opengl_c2w(torch.stack([k.c2w for k in keys]))
        key_fov = [k.fov_deg if k.fov_deg is not None else float(fov[0]) for k in keys]
        keyframes = [
            {"matrix": key_gl[i].reshape(16).tolist(), "fov": key_fov[i], "aspect": width / height}
            for i in range(len(keys))
        ]
    for key in keyframes:
        key["override_transition_enabled"] = False
    closed = isinstance(trajectory, Trajectory) and trajectory.settings.closed
    n = sampled.num_frames
    return {
        "default_fov": float(fov[0]),
        "default_transition_sec": 1.0 / fps,
        "keyframes": keyframes,
        "camera_type": "perspective",
        "render_height": height,
        "render_width": width,
        "fps": fps,
        "seconds": n / fps,
        "is_cycle": closed,
        "smoothness_value": 0.0,
        "camera_path": frames,
    }


def _nerfstudio_from_json(data: Any, source: str) -> Trajectory:
    if not isinstance(data, dict) or "camera_path" not in data:
        raise InputError(f"{source}: not a nerfstudio camera path (no 'camera_path' key)")
    for key in ("render_height", "render_width"):
        value = data.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0 or int(value) != value:
            raise InputError(f"{source}: field {key}: expected a positive integer, got {value!r}")
    height, width = int(data["render_height"]), int(data["render_width"])
    camera_type = data.get("camera_type", "perspective")
    if camera_type != "perspective":
        raise InputError(f"{source}: field camera_type is {camera_type!r}; only 'perspective' paths are supported")
    frames = data["camera_path"]
    if not isinstance(frames, list) or not frames:
        raise InputError(f"{source}: field camera_path: expected a non-empty list of frames")
    fps = data.get("fps")
    fps = _number(fps, f"{source}: field fps") if fps is not None else None
    keyframes = []
    for i, frame in enumerate(frames):
        where = f"{source}: field camera_path[{i}]"
        if not isinstance(frame, dict) or "camera_to_world" not in frame:
            raise InputError(f"{where}: expected an object with 'camera_to_world'")
        flat = frame["camera_to_world"]
        if not isinstance(flat, list) or len(flat) not in (12, 16):
            raise InputError(
                f"{where}.camera_to_world: expected 16 (or 12) numbers, a row-major 4×4 (or 3×4), "
                f"got {json.dumps(flat)[:80]}"
            )
        rows = [flat[r * 4 : r * 4 + 4] for r in range(len(flat) // 4)]
        gl = _matrix(rows + [[0.0, 0.0, 0.0, 1.0]] * (4 - len(rows)), 4, 4, f"{where}.camera_to_world")
        fov = _number(frame.get("fov", data.get("default_fov")), f"{where}.fov")
        if not 0 < fov < 180:
            raise InputError(f"{where}.fov: expected a vertical FOV in (0, 180) degrees, got {fov}")
        try:
            c2w, _ = validate_c2w(opengl_to_opencv_c2w(gl), name=f"{where}.camera_to_world")
            keyframes.append(Keyframe(c2w, fov, i / fps if fps else None))
        except ValueError as error:
            raise InputError(str(error)) from error
    K = torch.tensor([[0.0, 0.0, width / 2], [0.0, 0.0, height / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    focal = 0.5 * height / math.tan(math.radians(keyframes[0].fov_deg) / 2)
    K[0, 0] = K[1, 1] = focal
    aspect = frames[0].get("aspect")
    if isinstance(aspect, (int, float)) and not isinstance(aspect, bool) and math.isfinite(aspect) and aspect > 0:
        if abs(aspect * height - width) <= 0.5:  # the unrounded width of this render size: pixels not quite square
            K[0, 0] = focal * width / (height * aspect)
    return Trajectory(tuple(keyframes), InterpolationSettings(timing="keys"), Intrinsics(K, width, height))


# ------------------------------------------------------------------------------------------------------------ re10k


def _re10k_to_text(trajectory: Trajectory | SampledTrajectory, num_frames: int | None, fps: float) -> str:
    sampled, times = _frames_for_writing(trajectory, num_frames)
    intrinsics = sampled.intrinsics
    height, width = (intrinsics.height, intrinsics.width) if intrinsics is not None else (256, 256)
    K = sampled.K_for(height, width, DEFAULT_FOV_DEG)
    w2c = invert_se3(sampled.c2w)
    lines = [RE10K_URL]
    for i in range(sampled.num_frames):
        t = times[i] if all(x is not None for x in times) else i / fps
        stamp = round(t * 1e6)  # RealEstate10K timestamps are microseconds
        intr = [K[i, 0, 0] / width, K[i, 1, 1] / height, K[i, 0, 2] / width, K[i, 1, 2] / height]
        numbers = [float(x) for x in intr] + [0.0, 0.0] + w2c[i, :3, :4].reshape(12).tolist()
        lines.append(" ".join([str(stamp)] + [repr(x) for x in numbers]))
    return "\n".join(lines) + "\n"


def parse_re10k_rows(lines: Sequence[str], source: str, *, first_line_number: int = 1) -> list[tuple[int, list[float]]]:
    """The numbers of RealEstate10K pose lines: `(line number, 19 floats)` per non-blank line, in order.

    A row is `timestamp_us fx fy cx cy k1 k2` + the OpenCV w2c 3×4 row-major (fx, cx normalised by the width, fy, cy
    by the height); `first_line_number` is the file line number of `lines[0]`. Raises `InputError` naming `source` and
    the line for a wrong column count, a non-number, NaN/inf or a non-positive fx/fy. The rotation is not checked here.
    """
    rows = []
    for number, line in enumerate(lines, start=first_line_number):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != RE10K_NUM_COLUMNS:
            raise InputError(f"{source}: line {number}: expected {RE10K_NUM_COLUMNS} numbers, got {len(parts)}")
        try:
            values = [float(p) for p in parts]
        except ValueError as error:
            raise InputError(f"{source}: line {number}: not a number ({error})") from None
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"{source}: line {number}: contains NaN or inf")
        if values[1] <= 0 or values[2] <= 0:
            raise InputError(f"{source}: line {number}: fx and fy must be positive, got fx={values[1]}, fy={values[2]}")
        rows.append((number, values))
    return rows


def _re10k_from_text(
    text: str, source: str, image_size: tuple[int, int] | None, accept_reflected: bool = False
) -> Trajectory:
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    skip_url = bool(first) and not first[0].isdigit() and first[0] not in "+-."  # line 1 is the video URL
    rows = parse_re10k_rows(lines[1:] if skip_url else lines, source, first_line_number=2 if skip_url else 1)
    if not rows:
        raise InputError(f"{source}: no pose lines (expected a URL line, then {RE10K_NUM_COLUMNS} numbers per frame)")
    intr = torch.tensor([v[1:5] for _, v in rows], dtype=torch.float64)
    if image_size is None:
        height = NOMINAL_RE10K_HEIGHT
        width = max(1, round(height * float(intr[0, 1] / intr[0, 0])))
    else:
        height, width = image_size
    per_frame_fov = bool((intr - intr[:1]).abs().max() > 1e-12)
    w2c = torch.eye(4, dtype=torch.float64).repeat(len(rows), 1, 1)
    w2c[:, :3, :4] = torch.tensor([v[7:] for _, v in rows], dtype=torch.float64).reshape(-1, 3, 4)
    c2w = invert_se3(w2c)  # valid for any orthogonal R; checked below
    reflected = accept_reflected and bool((torch.linalg.det(w2c[:, :3, :3]) < 0).all())
    if reflected:
        # Reference behaviour: the reference's demo pose files store improper (det −1) rotations throughout; the
        # reflection cancels in poses relative to the first camera, which is all the model sees (spec §8.4).
        c2w = invert_se3(c2w[0]) @ c2w
        log.warning(
            "%s: every rotation is improper (det −1); poses re-expressed relative to the first camera, where the "
            "reflection cancels",
            source,
        )
    keyframes = []
    for (number, values), row_intr, pose in zip(rows, intr, c2w):
        what = "pose relative to the first line's" if reflected else "w2c"
        try:
            validate_c2w(pose, name=f"{source}: line {number}: {what}")
        except InputError as error:
            hint = "" if reflected else " (the reference's demo files are reflected throughout: see accept_reflected)"
            raise InputError(f"{error}{hint}") from error
        fov = math.degrees(2 * math.atan(0.5 / float(row_intr[1]))) if per_frame_fov else None
        keyframes.append((pose, fov, values[0] * 1e-6))
    times = [t for _, _, t in keyframes]
    increasing = all(b > a for a, b in zip(times, times[1:]))
    if not increasing and len(times) > 1:
        log.info("%s: timestamps do not increase; frames are spaced uniformly", source)
    fx, fy, cx, cy = intr[0].tolist()
    K = torch.tensor(
        [[fx * width, 0.0, cx * width], [0.0, fy * height, cy * height], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    return Trajectory(
        tuple(Keyframe(c2w, fov, t if increasing else None) for c2w, fov, t in keyframes),
        InterpolationSettings(timing="keys"),
        Intrinsics(K, width, height),
    )


# ------------------------------------------------------------------------------------------------------------ public


def _as_trajectory(trajectory: Trajectory | SampledTrajectory) -> Trajectory:
    if isinstance(trajectory, Trajectory):
        return trajectory
    if isinstance(trajectory, SampledTrajectory):
        fov = trajectory.fov_deg
        keys = tuple(
            Keyframe(trajectory.c2w[i], None if fov is None else float(fov[i])) for i in range(trajectory.num_frames)
        )
        return Trajectory(keys, InterpolationSettings(timing="keys"), trajectory.intrinsics)
    raise ValueError(f"trajectory: expected a Trajectory or SampledTrajectory, got {type(trajectory).__name__}")


def load_trajectory(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    accept_reflected: bool = False,
) -> Trajectory:
    """Read a trajectory file (format from `format` or the extension, see `detect_format`).

    `image_size` (height, width) states the pixel size of an RE10K file's normalised intrinsics (otherwise a nominal
    `NOMINAL_RE10K_HEIGHT`-pixel-tall image). `accept_reflected=True` reads RE10K files whose rotations are all
    improper (det −1, as in the reference app's demo pose files) by re-expressing every pose relative to the first
    camera, where the reflection cancels; a warning is logged. Otherwise improper rotations raise. Raises
    `InputError` naming the file, line/field and problem.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such trajectory file")
    fmt = detect_format(path, format)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a UTF-8 text file ({error})") from error
    if fmt == "re10k":
        return _re10k_from_text(text, str(path), image_size, accept_reflected)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from error
    if fmt == "nerfstudio":
        return _nerfstudio_from_json(data, str(path))
    return trajectory_from_json(data, str(path))


def save_trajectory(
    trajectory: Trajectory | SampledTrajectory,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    num_frames: int | None = DEFAULT_NUM_FRAMES,
    fps: float = 8.0,
) -> Path:
    """Write a trajectory atomically (format from `format` or the extension: .txt re10k, .json realcam).

    Per-frame formats get `num_frames` sampled frames (None: the keyframes themselves); the realcam schema keeps
    the keyframes and adds `num_frames` sampled frames. `fps` sets nerfstudio's fps and RE10K timestamps when the
    frames have no times. Returns the path written.
    """
    path = Path(path)
    fmt = output_format(path, format)
    if fmt == "re10k":
        text = _re10k_to_text(trajectory, num_frames, fps)
    elif fmt == "nerfstudio":
        text = json.dumps(_nerfstudio_to_json(trajectory, num_frames, fps), indent=1) + "\n"
    else:
        text = json.dumps(trajectory_to_json(trajectory, num_frames), indent=1) + "\n"
    write_text_atomic(path, text)
    return path
