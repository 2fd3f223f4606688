"""Metric scale of RealEstate10K clips: per-frame metres per clip unit (paper §3.2, §4.1; eval-data spec §6).

Per clip (`align_clip`):
1. Frames at the working resolution: the clip's full frame (no crop) resized so its short side is
   `AlignOptions.working_short_side` (256 px by default: the training resolution, SIFT at ~0.2 s per frame on CPU).
   K in pixels of that size comes straight from RE10K's normalised intrinsics.
2. Plain SIFT (pycolmap; `AlignOptions.sfm`: no affine shape, no domain-size pooling, unlike the evaluation's SfM
   defaults) and sequential matching with guided matching; one shared PINHOLE camera (fx, fy, cx, cy from the clip,
   so fy is not dropped). Why plain: the evaluation registers frames of unknown pose, where the affine-invariant
   descriptors help with strong viewpoint changes; here every pose is given and only points between nearby frames
   are triangulated, so the slower descriptors buy little while making extraction several times slower on CPU.
   `AlignOptions(sfm=SfmOptions())` restores the evaluation's settings.
3. Point triangulation with every image fixed at its RE10K pose and the intrinsics fixed (`pycolmap.triangulate_points`,
   the CLI's `point_triangulator`; COLMAP's defaults: min angle 1.5°, 4 px reprojection error).
4. Metric depth of every frame (an injected depth source: the Depth-Anything-V2 metric model, or true depth).
5. Per observation of point k in frame f at keypoint (u, v): r_fk = D_f(u, v) / z_fk, z_fk = the point's camera z in
   clip units. D is read at the keypoint scaled to the depth map's size and truncated to the containing pixel (as the
   reference evaluation does). Observations with z <= 0 or depth outside (0, `max_depth_m`) are ignored.
6. Per frame: s_f = median_k r_fk when the frame has at least `min_points` usable observations and their relative
   spread (median absolute deviation / median) is at most `max_frame_spread`; otherwise the frame is "unmeasured".

Policy for unmeasured frames (reported per clip in `ClipScale.frame_status`): their scale is interpolated linearly in
the frame index between the nearest measured frames (held constant before the first / after the last), status
"interpolated". The clip fails (no scale at all, status "failed" with a reason) when fewer than `min_measured_fraction`
of its frames are measured, or when the measured frame scales disagree by more than `max_scale_ratio` (max/min): one
clip has one true scale, so a large disagreement means the poses do not fit the frames (shuffled or wrong frames).

Clip filtering (`filter_by_quantiles`, paper §4.1): over all aligned clips, M_c = max_f s_f and m_c = min_f s_f; a clip
is dropped when M_c or m_c lies below its 2nd or above its 98th percentile (np.quantile, linear). Both thresholds are
computed on the same original set (not sequentially), over whatever set is passed (we filter each split on its own).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from realcam.errors import InputError
from realcam.eval.sfm import SfmOptions, extract_and_match, write_frames
from realcam.io.atomic import write_text_atomic

__all__ = [
    "AlignOptions",
    "ClipScale",
    "ClipTask",
    "DepthSource",
    "FileDepth",
    "ModelDepth",
    "Observations",
    "align_clip",
    "filter_by_quantiles",
    "frame_scales",
    "read_clip_result",
    "read_results",
    "run_alignment",
    "scale_from_observations",
    "triangulate_known_poses",
    "working_size",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignOptions:
    """Knobs of the scale alignment (see the module docstring for what each does)."""

    working_short_side: int = 256
    min_points: int = 10
    max_frame_spread: float = 0.5
    min_measured_fraction: float = 0.5
    max_scale_ratio: float = 3.0
    max_depth_m: float = 20.0
    # Plain SIFT (no affine shape, no domain-size pooling): 4x faster than the evaluation's settings on CPU and as
    # accurate here, since the poses are given and only points are triangulated.
    sfm: SfmOptions = field(default_factory=lambda: SfmOptions(estimate_affine_shape=False, domain_size_pooling=False))

    def __post_init__(self) -> None:
        if self.working_short_side < 32:
            raise ValueError(f"working_short_side: expected at least 32 px, got {self.working_short_side}")
        if self.min_points < 1:
            raise ValueError(f"min_points: expected at least 1, got {self.min_points}")
        if not 0 < self.min_measured_fraction <= 1:
            raise ValueError(f"min_measured_fraction: expected in (0, 1], got {self.min_measured_fraction}")
        if not self.max_scale_ratio >= 1:
            raise ValueError(f"max_scale_ratio: expected >= 1, got {self.max_scale_ratio}")


@dataclass(frozen=True)
class Observations:
    """Triangulated points seen in the frames. Shapes: frame (m,) int64 frame index; xy (m 2) COLMAP pixels of the
    working image (centre of pixel (0, 0) at (0.5, 0.5)); z (m,) float64 the point's camera z in clip units. num_points:
    3D points triangulated; image_hw: the working size."""

    frame: np.ndarray
    xy: np.ndarray
    z: np.ndarray
    num_points: int
    image_hw: tuple[int, int]


@dataclass(frozen=True)
class ClipScale:
    """Result of one clip. per_frame_scale (f,) metres per clip unit, or None when the clip failed; measured (f,) the
    frame's own median (NaN when unmeasured); points (f,) usable observations; spread (f,) relative MAD (NaN without
    points); frame_status per frame "measured" | "interpolated"; status "ok" | "failed"; reason (None when ok)."""

    clip_id: str
    status: str
    reason: str | None
    per_frame_scale: np.ndarray | None
    measured: np.ndarray
    points: np.ndarray
    spread: np.ndarray
    frame_status: tuple[str, ...]
    num_points: int
    image_hw: tuple[int, int]

    def to_json(self) -> dict:
        def floats(a: np.ndarray | None) -> list | None:
            return None if a is None else [None if not math.isfinite(x) else float(x) for x in a]

        return {
            "clip_id": self.clip_id,
            "status": self.status,
            "reason": self.reason,
            "per_frame_scale": floats(self.per_frame_scale),
            "measured": floats(self.measured),
            "points": [int(x) for x in self.points],
            "spread": floats(self.spread),
            "frame_status": list(self.frame_status),
            "num_points": self.num_points,
            "image_hw": list(self.image_hw),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> ClipScale:
        def array(value: list | None) -> np.ndarray | None:
            return None if value is None else np.array([math.nan if x is None else x for x in value], dtype=np.float64)

        return cls(
            clip_id=data["clip_id"],
            status=data["status"],
            reason=data["reason"],
            per_frame_scale=array(data["per_frame_scale"]),
            measured=array(data["measured"]),
            points=np.asarray(data["points"], dtype=np.int64),
            spread=array(data["spread"]),
            frame_status=tuple(data["frame_status"]),
            num_points=int(data["num_points"]),
            image_hw=(int(data["image_hw"][0]), int(data["image_hw"][1])),
        )


def working_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) with the short side `short_side` and the aspect kept (long side rounded to the nearest pixel)."""
    scale = short_side / min(height, width)
    return (
        (short_side, max(1, round(width * scale))) if height <= width else (max(1, round(height * scale)), short_side)
    )


# ------------------------------------------------------------------------------------------------- triangulation


def _reconstruction_at_poses(database: Path, names: list[str], w2c: np.ndarray):
    """A pycolmap Reconstruction holding the DB's camera and every image at its given w2c (no points yet)."""
    import pycolmap

    with pycolmap.Database.open(database) as db:
        cameras = db.read_all_cameras()
        images = {image.name: image for image in db.read_all_images()}
    reconstruction = pycolmap.Reconstruction()
    for camera in cameras:
        reconstruction.add_camera_with_trivial_rig(camera)
    for name, pose in zip(names, w2c):
        stored = images[name]
        image = pycolmap.Image(name=name, camera_id=stored.camera_id, image_id=stored.image_id)
        rigid = pycolmap.Rigid3d(pycolmap.Rotation3d(pose[:3, :3]), pose[:3, 3])
        reconstruction.add_image_with_trivial_frame(image, rigid)
    return reconstruction


def _observations(reconstruction, names: list[str], image_hw: tuple[int, int]) -> Observations:
    frame, xy, z = [], [], []
    for index, name in enumerate(names):
        image = reconstruction.find_image_with_name(name)
        if image is None:
            continue
        cam_from_world = image.cam_from_world()
        for point2D in image.points2D:
            if not point2D.has_point3D():
                continue
            frame.append(index)
            xy.append(np.asarray(point2D.xy, dtype=np.float64))
            z.append(float((cam_from_world * reconstruction.points3D[point2D.point3D_id].xyz)[2]))
    return Observations(
        frame=np.asarray(frame, dtype=np.int64),
        xy=np.stack(xy) if xy else np.zeros((0, 2)),
        z=np.asarray(z, dtype=np.float64),
        num_points=int(reconstruction.num_points3D()),
        image_hw=image_hw,
    )


def triangulate_known_poses(
    frames: np.ndarray,
    c2w: np.ndarray,
    K: np.ndarray,
    *,
    options: SfmOptions = SfmOptions(),
    seed: int = 0,
    workdir: str | Path | None = None,
) -> Observations:
    """SIFT + sequential matching + point triangulation with the cameras fixed at the given poses and intrinsics.

    Shapes: frames (f h w 3) uint8; c2w (f 4 4) OpenCV camera-to-world (any consistent unit); K (3 3) pixels of these
    frames. Returns every observation of a triangulated point (frame, keypoint, camera z in the units of c2w).
    """
    import pycolmap

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise ValueError(f"frames: expected uint8 (f h w 3) with f >= 2, got {frames.dtype} {frames.shape}")
    if c2w.shape != (len(frames), 4, 4):
        raise ValueError(f"c2w: expected ({len(frames)}, 4, 4), got {c2w.shape}")
    if K.shape != (3, 3):
        raise ValueError(f"K: expected (3 3) pixels, got {K.shape}")
    pycolmap.set_random_seed(seed)
    pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 2)  # COLMAP's INFO/WARNING flood
    w2c = np.linalg.inv(c2w)
    with tempfile.TemporaryDirectory(prefix="realcam-align-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        image_dir = root / "images"
        names = write_frames(frames, image_dir)
        database = root / "database.db"
        if database.exists():
            database.unlink()
        # One shared PINHOLE camera: fx and fy both kept (unlike the evaluation's SIMPLE_PINHOLE).
        extract_and_match(
            image_dir,
            names,
            database,
            camera_model="PINHOLE",
            camera_params=(K[0, 0], K[1, 1], K[0, 2], K[1, 2]),
            options=options,
            seed=seed,
        )
        reconstruction = _reconstruction_at_poses(database, names, w2c)
        pipeline = pycolmap.IncrementalPipelineOptions()
        pipeline.num_threads = options.num_threads
        output = root / "triangulated"
        output.mkdir(exist_ok=True)
        reconstruction = pycolmap.triangulate_points(
            reconstruction, database, image_dir, output, clear_points=True, options=pipeline, refine_intrinsics=False
        )
        return _observations(reconstruction, names, (int(frames.shape[1]), int(frames.shape[2])))


# ------------------------------------------------------------------------------------------------------ scales


def frame_scales(
    observations: Observations, depth: np.ndarray, num_frames: int, *, max_depth_m: float = 20.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame median of D/z over the frame's observations (step 5-6 of the module docstring).

    Shapes: depth (f H W) metres at any resolution (keypoints are scaled to it and truncated). Returns (median (f,)
    NaN without usable points, usable count (f,) int64, relative MAD (f,) NaN without points).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 3 or depth.shape[0] != num_frames:
        raise ValueError(f"depth: expected ({num_frames}, H, W) metres, got {depth.shape}")
    _, H, W = depth.shape
    h, w = observations.image_hw
    col = np.floor(observations.xy[:, 0] * (W / w)).astype(np.int64)
    row = np.floor(observations.xy[:, 1] * (H / h)).astype(np.int64)
    ok = (col >= 0) & (col < W) & (row >= 0) & (row < H) & (observations.z > 0) & np.isfinite(observations.z)
    d = np.zeros_like(observations.z)
    d[ok] = depth[observations.frame[ok], row[ok], col[ok]]
    ok &= (d > 0) & (d < max_depth_m)
    median = np.full(num_frames, math.nan)
    spread = np.full(num_frames, math.nan)
    count = np.zeros(num_frames, dtype=np.int64)
    for f in range(num_frames):
        sel = ok & (observations.frame == f)
        if not sel.any():
            continue
        ratio = d[sel] / observations.z[sel]
        median[f] = np.median(ratio)
        spread[f] = np.median(np.abs(ratio - median[f])) / median[f]
        count[f] = int(sel.sum())
    return median, count, spread


def _decide(
    clip_id: str, median: np.ndarray, count: np.ndarray, spread: np.ndarray, obs: Observations, options: AlignOptions
) -> ClipScale:
    f = len(median)
    measured_mask = np.isfinite(median) & (count >= options.min_points) & (spread <= options.max_frame_spread)
    measured = np.where(measured_mask, median, math.nan)
    status_per_frame = tuple("measured" if m else "interpolated" for m in measured_mask)

    def result(status: str, reason: str | None, scale: np.ndarray | None) -> ClipScale:
        return ClipScale(clip_id, status, reason, scale, measured, count, spread, status_per_frame, obs.num_points,
                         obs.image_hw)  # fmt: skip

    n = int(measured_mask.sum())
    if n == 0:
        if obs.num_points == 0:
            return result("failed", "no 3D points triangulated", None)
        why = f"no frame has >= {options.min_points} consistent points ({obs.num_points} points triangulated)"
        return result("failed", why, None)
    if n < options.min_measured_fraction * f:
        return result("failed", f"only {n}/{f} frames measured (< {options.min_measured_fraction:.0%})", None)
    values = measured[measured_mask]
    ratio = float(values.max() / values.min())
    if ratio > options.max_scale_ratio:
        return result("failed", f"frame scales disagree: max/min = {ratio:.3g} > {options.max_scale_ratio:g}", None)
    index = np.arange(f)
    return result("ok", None, np.interp(index, index[measured_mask], values))


def align_clip(
    clip_id: str,
    frames: np.ndarray,
    c2w: np.ndarray,
    K: np.ndarray,
    depth: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    options: AlignOptions = AlignOptions(),
    seed: int = 0,
) -> ClipScale:
    """Per-frame metric scale of one clip (module docstring, steps 2-6 and the policy).

    Shapes: frames (f h w 3) uint8 at the working resolution; c2w (f 4 4) OpenCV camera-to-world in clip units;
    K (3 3) pixels of these frames; depth (f H W) metres, or a callable frames -> (f H W) metres (called only after
    triangulation found points). Returns a `ClipScale`; a clip that cannot be aligned is a "failed" result, not an
    exception.
    """
    obs = triangulate_known_poses(frames, c2w, K, options=options.sfm, seed=seed)
    return scale_from_observations(
        clip_id, obs, len(frames), lambda: depth(frames) if callable(depth) else depth, options
    )


def scale_from_observations(
    clip_id: str,
    obs: Observations,
    num_frames: int,
    depth: Callable[[], np.ndarray],
    options: AlignOptions = AlignOptions(),
) -> ClipScale:
    """Steps 5-6 and the policy for triangulated observations; `depth()` gives (f H W) metres and is called only when
    there are points."""
    f = num_frames
    if obs.num_points == 0:
        nan = np.full(f, math.nan)
        return _decide(clip_id, nan, np.zeros(f, dtype=np.int64), nan, obs, options)
    median, count, spread = frame_scales(obs, np.asarray(depth()), f, max_depth_m=options.max_depth_m)
    result = _decide(clip_id, median, count, spread, obs, options)
    logger.debug("%s: %s %s points=%d", clip_id, result.status, result.reason or "", obs.num_points)
    return result


def options_json(options: AlignOptions) -> dict:
    """The options as plain JSON data (for sidecars)."""
    return asdict(options)


# ----------------------------------------------------------------------------------------------------- filtering


def filter_by_quantiles(
    scales: Mapping[str, np.ndarray], quantile: float = 0.02
) -> tuple[list[str], dict[str, str], dict[str, float]]:
    """Drop clips whose max or min frame scale is outside the [q, 1 − q] quantiles over all clips (paper §4.1).

    Shapes: scales clip id -> (f,) metres per clip unit. Returns (kept ids sorted, dropped: id -> reason, thresholds
    {"max_low", "max_high", "min_low", "min_high"}). Both quantile pairs come from the same original set.
    """
    if not 0 <= quantile < 0.5:
        raise ValueError(f"quantile: expected in [0, 0.5), got {quantile}")
    ids = sorted(scales)
    if not ids:
        return [], {}, {}
    top = np.array([float(np.max(scales[i])) for i in ids])
    bottom = np.array([float(np.min(scales[i])) for i in ids])
    thresholds = {
        "max_low": float(np.quantile(top, quantile)),
        "max_high": float(np.quantile(top, 1 - quantile)),
        "min_low": float(np.quantile(bottom, quantile)),
        "min_high": float(np.quantile(bottom, 1 - quantile)),
    }
    kept, dropped = [], {}
    for clip_id, M, m in zip(ids, top, bottom):
        why = []
        if M < thresholds["max_low"]:
            why.append(f"max frame scale {M:.4g} < {quantile:.0%} quantile {thresholds['max_low']:.4g}")
        if M > thresholds["max_high"]:
            why.append(f"max frame scale {M:.4g} > {1 - quantile:.0%} quantile {thresholds['max_high']:.4g}")
        if m < thresholds["min_low"]:
            why.append(f"min frame scale {m:.4g} < {quantile:.0%} quantile {thresholds['min_low']:.4g}")
        if m > thresholds["min_high"]:
            why.append(f"min frame scale {m:.4g} > {1 - quantile:.0%} quantile {thresholds['min_high']:.4g}")
        if why:
            dropped[clip_id] = "; ".join(why)
        else:
            kept.append(clip_id)
    return kept, dropped, thresholds


# ------------------------------------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class ClipTask:
    """One clip to align. Shapes: c2w (f 4 4) OpenCV camera-to-world, clip units; intrinsics_norm (f 4)."""

    clip_id: str
    video: str
    c2w: np.ndarray
    intrinsics_norm: np.ndarray


class DepthSource(Protocol):
    """Metric depth for a clip's working frames: (clip_id, frames (f h w 3) uint8 or None) -> (f H W) metres.
    `needs_frames` False means the source ignores the frames (e.g. depth read from files)."""

    needs_frames: bool

    def __call__(self, clip_id: str, frames: np.ndarray | None) -> np.ndarray: ...


@dataclass(frozen=True)
class FileDepth:
    """Depth from `<folder>/<clip_id>.npy`: float (f H W) metres, one map per frame, any resolution (0 = missing)."""

    folder: str
    needs_frames: bool = False

    def __call__(self, clip_id: str, frames: np.ndarray | None) -> np.ndarray:
        path = Path(self.folder) / f"{clip_id}.npy"
        if not path.is_file():
            raise InputError(f"{path}: no depth file for clip {clip_id}")
        return np.load(path, allow_pickle=False)


class ModelDepth:
    """Depth from a metric depth model, `batch_size` frames at a time on the model's device. `estimator` is a
    `MetricDepthEstimator` (its batched `estimate`) or any realcam `DepthEstimator` (called per frame)."""

    needs_frames = True

    def __init__(self, estimator: Callable, batch_size: int = 16) -> None:
        self.estimator = estimator
        self.batch_size = batch_size

    def __call__(self, clip_id: str, frames: np.ndarray | None) -> np.ndarray:
        import torch

        assert frames is not None
        estimate = getattr(self.estimator, "estimate", None)
        out = []
        with torch.no_grad():
            for start in range(0, len(frames), self.batch_size):
                chunk = frames[start : start + self.batch_size]
                if estimate is None:
                    out.extend(np.asarray(torch.as_tensor(self.estimator(frame)).float().cpu()) for frame in chunk)
                    continue
                device = next(self.estimator.parameters()).device
                x = torch.from_numpy(np.ascontiguousarray(chunk)).to(device).permute(0, 3, 1, 2).float() / 255.0
                out.extend(estimate(x).float().cpu().numpy())
        return np.stack(out)


def clip_result_path(out_dir: str | Path, clip_id: str) -> Path:
    return Path(out_dir) / f"{clip_id}.json"


def read_clip_result(path: str | Path) -> ClipScale:
    """Read one per-clip result written by `run_alignment`."""
    path = Path(path)
    try:
        return ClipScale.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InputError(f"{path}: not a scale-alignment result ({error})") from None


def read_results(out_dir: str | Path) -> dict[str, ClipScale]:
    """Every per-clip result of an output folder (all shards), by clip id."""
    results = {}
    for path in sorted(Path(out_dir).glob("*.json")):
        if path.name.startswith("align-scale"):
            continue  # run summaries
        result = read_clip_result(path)
        results[result.clip_id] = result
    return results


def _failed(clip_id: str, reason: str, num_frames: int, image_hw: tuple[int, int] = (0, 0)) -> ClipScale:
    nan = np.full(num_frames, math.nan)
    return ClipScale(clip_id, "failed", reason, None, nan, np.zeros(num_frames, dtype=np.int64), nan,
                     ("interpolated",) * num_frames, 0, image_hw)  # fmt: skip


def _triangulate_task(task: ClipTask, options: AlignOptions, seed: int, keep_frames: bool) -> dict:
    """Worker stage: decode at the working size, check the clip, triangulate. Picklable in and out."""
    from realcam.data.transforms import decode_resized
    from realcam.io.video import video_info

    f = len(task.c2w)
    try:
        info = video_info(task.video)
        hw = working_size(info.height, info.width, options.working_short_side)
        frames, _ = decode_resized(task.video, hw)
        if len(frames) != f:
            return {"result": _failed(task.clip_id, f"video has {len(frames)} frames but {f} pose rows", f, hw)}
        intr = task.intrinsics_norm
        if np.abs(intr / intr[:1] - 1).max() > 5e-3:
            return {"result": _failed(task.clip_id, "intrinsics vary across frames (> 0.5%)", f, hw)}
        fx, fy, cx, cy = intr[0]
        K = np.array([[fx * hw[1], 0, cx * hw[1]], [0, fy * hw[0], cy * hw[0]], [0, 0, 1.0]])
        obs = triangulate_known_poses(frames, task.c2w, K, options=options.sfm, seed=seed)
    except (InputError, ValueError, RuntimeError) as error:
        return {"result": _failed(task.clip_id, f"error: {error}", f)}
    return {"observations": obs, "frames": frames if keep_frames and obs.num_points else None}


def _finish(task: ClipTask, stage: dict, depth: DepthSource, options: AlignOptions) -> ClipScale:
    if "result" in stage:
        return stage["result"]
    f = len(task.c2w)
    try:
        return scale_from_observations(
            task.clip_id, stage["observations"], f, lambda: depth(task.clip_id, stage["frames"]), options
        )
    except (InputError, ValueError) as error:
        return _failed(task.clip_id, f"error: {error}", f, stage["observations"].image_hw)


def run_alignment(
    tasks: list[ClipTask],
    out_dir: str | Path,
    depth: DepthSource,
    *,
    options: AlignOptions = AlignOptions(),
    seed: int = 0,
    workers: int = 1,
    retry_failed: bool = False,
    on_clip_done: Callable[[ClipScale | None], None] | None = None,
) -> dict[str, ClipScale]:
    """Align clips and write `<out_dir>/<clip_id>.json` atomically per clip (a crash loses nothing already written).

    Resumable: clips with a result are skipped (failed ones too, unless `retry_failed`); `on_clip_done(None)` is called
    for each skipped clip. `workers` > 1 runs decoding + SfM in that many processes; depth runs in this process, so a
    GPU depth model is loaded once and fed in batches. Returns the results of this call's clips (skipped ones read).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, ClipScale] = {}
    todo = []
    for task in tasks:
        path = clip_result_path(out_dir, task.clip_id)
        if path.is_file():
            previous = read_clip_result(path)
            if previous.status == "ok" or not retry_failed:
                results[task.clip_id] = previous
                if on_clip_done is not None:
                    on_clip_done(None)
                continue
        todo.append(task)

    def done(task: ClipTask, stage: dict) -> None:
        result = _finish(task, stage, depth, options)
        write_text_atomic(
            clip_result_path(out_dir, task.clip_id), json.dumps({**result.to_json(), "seed": seed}) + "\n"
        )
        results[task.clip_id] = result
        if on_clip_done is not None:
            on_clip_done(result)

    if workers <= 1:
        for task in todo:
            done(task, _triangulate_task(task, options, seed, depth.needs_frames))
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_triangulate_task, t, options, seed, depth.needs_frames): t for t in todo}
        for future in as_completed(futures):
            done(futures[future], future.result())
    return results
