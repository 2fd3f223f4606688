"""Finding the samples to evaluate: the reference's experiment layout and realcam's own generate outputs.

Reference layout (spec §1.1), `DIR/`:
  samples/<name>.mp4      the generated video (16 frames)
  gt_video/<name>.mp4     the conditioning clip (optional here; needed for the reference's metric-scale metrics)
  camera_data/<name>.txt  16 rows x 18 numbers: fx fy cx cy (pixels of the video), 0 0, w2c 3x4 row-major
The annotation is RealEstate10K's arbitrary scale, so its translations are not metric unless the caller says so.

realcam layout, `DIR/<name>.mp4` + `DIR/<name>.json`. The ground truth is the camera the video was conditioned on:
- `realcam generate` sidecars (realcam/pipeline/i2v.py `_metadata`): `"cameras": {"c2w": (f 4 4), "K": (f 3 3)}`,
  c2w OpenCV camera-to-world relative to frame 0 (identity) with the translations already multiplied by
  `--scale` (`metric_scale.translation_scale`), i.e. the metres the model was conditioned on; K in pixels of the
  model size, which is the size of the written video. Used as is: the scale is never applied a second time.
- hand-written sidecars: `"camera": {"c2w": (f 4 4) OpenCV c2w in metres, "K": (3 3) or (f 3 3) pixels of the video}`.
A realcam trajectory is metric, so `gt_metric` is True. mp4 files whose sidecar has no camera (`*.preview.mp4`,
masks) are skipped. Two sidecars hold a camera the SfM evaluation cannot use; their samples are kept and every trial
fails with the reason (counted, never dropped): intrinsics that change over the clip (zoom presets; SfM uses one
fixed camera) and `--mode continue` outputs, whose sidecar holds the cameras of the first clip only (`"frames"`
counts the whole video).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realcam.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSample:
    """One video to evaluate against its ground-truth camera.

    gt_c2w (f 4 4) float64 OpenCV camera-to-world (metres when `gt_metric`, else arbitrary units); K (3 3) pixels of
    the video (SIMPLE_PINHOLE uses K[0,0], K[0,2], K[1,2]); gt_video: the real clip for the reference's metric
    reference (spec §1.4), or None. problem: set when the input cannot be evaluated (see the module docstring);
    the harness then records every trial as an input failure with this reason.
    """

    name: str
    video: Path
    gt_c2w: np.ndarray
    K: np.ndarray
    gt_video: Path | None = None
    gt_metric: bool = False
    problem: str | None = None  # why this sample cannot be evaluated; its trials fail with this reason


def read_camera_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a reference `camera_data/<name>.txt` (spec §1.1) into (c2w (f 4 4), K (3 3) from row 0).

    Reference behaviour: SfM uses a SIMPLE_PINHOLE camera with f = fx of row 0; fy is ignored, so K[1,1] = fx here
    (a differing fy is logged). Rows must have 18 numbers and focal lengths in pixels (> 10), as the reference asserts.
    """
    path = Path(path)
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError as error:
            raise InputError(f"{path}: line {line_number}: not a number ({error})") from None
        if len(values) != 18:
            raise InputError(
                f"{path}: line {line_number}: expected 18 numbers (fx fy cx cy 0 0 w2c[12]), got {len(values)}"
            )
        rows.append(values)
    if len(rows) < 2:
        raise InputError(f"{path}: expected one row per frame (16), got {len(rows)}")
    data = np.asarray(rows, dtype=np.float64)
    fx, fy, cx, cy = data[0, :4]
    if fx <= 10 or fy <= 10:
        raise InputError(f"{path}: fx, fy must be in pixels of the video (> 10), got fx={fx}, fy={fy}")
    if not np.isclose(fx, fy, rtol=1e-2):
        logger.warning("%s: fx=%g and fy=%g differ; SfM uses a single focal length f = fx (reference)", path, fx, fy)
    w2c = np.tile(np.eye(4), (len(rows), 1, 1))
    w2c[:, :3, :] = data[:, 6:].reshape(-1, 3, 4)
    if not np.all(np.isfinite(w2c)):
        raise InputError(f"{path}: w2c contains NaN or inf")
    K = np.array([[fx, 0.0, cx], [0.0, fx, cy], [0.0, 0.0, 1.0]])
    return np.linalg.inv(w2c), K


@dataclass(frozen=True)
class SidecarCamera:
    """The ground-truth camera of a realcam sidecar: c2w (f 4 4) OpenCV metres, K (3 3) pixels of the video (frame
    0's), and `problem` when the camera cannot serve as SfM ground truth (see the module docstring)."""

    c2w: np.ndarray
    K: np.ndarray
    problem: str | None = None


def read_sidecar_camera(path: str | Path) -> SidecarCamera | None:
    """The conditioning camera recorded in a realcam sidecar JSON, or None when it holds none (a preview, a mask).

    Reads `"cameras"` (written by `realcam generate`) or `"camera"` (hand-written); see the module docstring for
    both. Shapes: c2w (f 4 4) float64, K (3 3) float64. Malformed arrays raise InputError naming the file and field.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(record, dict):
        return None
    key = "cameras" if "cameras" in record else "camera"
    camera = record.get(key)
    if not isinstance(camera, dict) or "c2w" not in camera or "K" not in camera:
        return None
    c2w = np.asarray(camera["c2w"], dtype=np.float64)
    K = np.asarray(camera["K"], dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or len(c2w) < 2:
        raise InputError(f"{path}: {key}.c2w must be (f 4 4) with f >= 2, got {c2w.shape}")
    if not (np.all(np.isfinite(c2w)) and np.all(np.isfinite(K))):
        raise InputError(f"{path}: {key}.c2w or {key}.K contains NaN or inf")
    if K.shape not in ((3, 3), (len(c2w), 3, 3)):
        raise InputError(f"{path}: {key}.K must be (3 3) or ({len(c2w)} 3 3) pixels, got {K.shape}")
    problems = []
    if K.ndim == 3:
        if not np.allclose(K, K[0], rtol=1e-5, atol=1e-4):
            fx = K[:, 0, 0]
            problems.append(
                f"the intrinsics change over the clip (fx {fx.min():.4g}..{fx.max():.4g} px, e.g. a zoom preset); "
                "the SfM evaluation uses one fixed camera, so camera metrics are not defined for this video"
            )
        K = K[0]
    frames = record.get("frames")
    if isinstance(frames, int) and frames != len(c2w):
        problems.append(
            f"the video has {frames} frames but the sidecar holds {len(c2w)} cameras (a `--mode continue` output "
            f"records the cameras of its first clip only), so the ground truth of the whole video is unknown"
        )
    return SidecarCamera(c2w, K, "; ".join(problems) or None)


def _reference_samples(root: Path, gt_metric: bool) -> list[EvalSample]:
    samples = []
    for video in sorted((root / "samples").glob("*.mp4")):
        camera_file = root / "camera_data" / f"{video.stem}.txt"
        if not camera_file.exists():
            raise InputError(f"{video}: no camera file {camera_file}")
        c2w, K = read_camera_data(camera_file)
        gt_video = root / "gt_video" / f"{video.stem}.mp4"
        samples.append(EvalSample(video.stem, video, c2w, K, gt_video if gt_video.exists() else None, gt_metric))
    return samples


def _realcam_samples(root: Path) -> list[EvalSample]:
    samples = []
    for video in sorted(root.glob("*.mp4")):
        sidecar = video.with_suffix(".json")
        camera = read_sidecar_camera(sidecar) if sidecar.exists() else None
        if camera is None:
            logger.debug("skipping %s: no sidecar with a camera", video)
            continue
        if camera.problem is not None:
            logger.warning("%s: %s", video, camera.problem)
        samples.append(EvalSample(video.stem, video, camera.c2w, camera.K, None, True, camera.problem))
    return samples


def discover_samples(root: str | Path, *, gt_metric: bool = False) -> list[EvalSample]:
    """All samples under `root`, sorted by name: the reference layout when `root/samples/` exists, else realcam's.

    `gt_metric` declares the reference layout's `camera_data` translations metric (e.g. scale-aligned data);
    realcam sidecars are always metric.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    samples = _reference_samples(root, gt_metric) if (root / "samples").is_dir() else _realcam_samples(root)
    if not samples:
        raise InputError(
            f"{root}: no samples found (expected samples/*.mp4 + camera_data/*.txt, or *.mp4 with a sidecar .json "
            "holding the camera, as `realcam generate` writes)"
        )
    return samples


def select_shard(samples: list[EvalSample], shard: tuple[int, int]) -> list[EvalSample]:
    """Shard `i` of `n` (0-based): every n-th sample by name order, starting at i. Disjoint and covering."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard: expected i/n with 0 <= i < n, got {index}/{count}")
    return [s for k, s in enumerate(sorted(samples, key=lambda s: s.name)) if k % count == index]


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard: expected i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard: expected 0 <= i < n, got {text!r}")
    return index, count


def read_frames(path: str | Path) -> np.ndarray:
    """All frames of a video as uint8 (f h w 3), through realcam's video IO."""
    from realcam.io.video import read_video

    frames = np.asarray(read_video(path))
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{path}: expected (f h w 3) frames, got {frames.shape}")
    return frames
