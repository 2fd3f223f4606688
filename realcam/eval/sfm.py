"""Camera poses of a short video by global SfM with pycolmap (COLMAP 4.x with GLOMAP as its global mapper).

Replaces the reference's COLMAP 3.11 + GLOMAP 1.0 command-line pipeline (spec §2) with pycolmap calls (spec §7):
- one shared SIMPLE_PINHOLE camera, `f = fx, cx, cy` from the ground truth (the reference ignores fy), fixed;
- SIFT with affine shape estimation and domain-size pooling (otherwise COLMAP defaults, 8192 features);
- sequential matching with guided matching and up to 65536 matches (overlap 10, quadratic overlap, no loops);
- global mapping with focal length, principal point and extra parameters held constant.

Differences to the reference, on purpose:
- Seeded: every random choice (two-view RANSAC, rotation averaging, global positioning) uses `seed`; with the
  default single thread the same seed gives bit-identical poses, so trials are reproducible (seeds 0 and 1 differ
  by ~1e-2 on a 16-frame clip).
- The reference reads only model `0/`; here the component that registers frame 0 and the most frames is chosen
  (ties: more 3D points) — `choose_component`.
- GLOMAP-1.0's `RelPoseEstimation.max_epipolar_error 4` has no pycolmap equivalent; relative poses come from the
  two-view geometries verified at matching time with a 4 px RANSAC threshold (`SfmOptions.max_error_px`).

Outputs are plain dataclasses of numpy arrays in OpenCV camera-to-world (`c2w`); pycolmap stores world-to-camera.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SfmOptions:
    """Knobs of the pose estimation. Defaults reproduce the reference's settings (spec §2)."""

    estimate_affine_shape: bool = True
    domain_size_pooling: bool = True
    max_num_features: int = 8192
    guided_matching: bool = True
    max_num_matches: int = 65536
    overlap: int = 10
    quadratic_overlap: bool = True
    max_error_px: float = 4.0
    # One thread makes a seed bit-reproducible; multi-threaded SfM (-1: all cores) varies at the ~1e-6 level.
    # The harness gets its parallelism from worker processes instead.
    num_threads: int = 1


@dataclass(frozen=True)
class SfmResult:
    """Poses of one video estimated by SfM.

    c2w: (f 4 4) float64 OpenCV camera-to-world in SfM units (arbitrary scale); rows of unregistered frames are NaN.
    registered: (f,) bool. frame0_xy (n 2) COLMAP pixels (pixel (0, 0) centre at (0.5, 0.5)) and frame0_z (n,) SfM
    units: the 3D points observed in frame 0, their keypoint and their depth in camera 0 (for the metric factor).
    component_sizes: registered frames per reconstructed component; chosen: index into it (-1: none chosen).
    """

    c2w: np.ndarray
    registered: np.ndarray
    frame0_xy: np.ndarray
    frame0_z: np.ndarray
    num_points: int
    component_sizes: tuple[int, ...]
    chosen: int
    image_hw: tuple[int, int]

    @property
    def num_frames(self) -> int:
        return len(self.registered)

    @property
    def all_registered(self) -> bool:
        return bool(self.registered.all())

    def failure_reason(self) -> str | None:
        """None when every frame is registered, otherwise a one-line reason."""
        if not self.component_sizes:
            return "no reconstruction"
        if self.chosen < 0:
            return "frame 0 not registered in any component"
        if not self.all_registered:
            return f"registered {int(self.registered.sum())}/{self.num_frames} frames"
        if len(self.frame0_z) == 0:
            return "no 3D point observed in frame 0"
        return None


@dataclass(frozen=True)
class ComponentInfo:
    """What `choose_component` needs to know about one reconstructed component."""

    has_frame0: bool
    num_registered: int
    num_points: int


def choose_component(components: Sequence[ComponentInfo]) -> int:
    """Index of the component that registers frame 0 and the most frames (ties: most points); -1 if none has frame 0."""
    best, best_key = -1, None
    for index, info in enumerate(components):
        if not info.has_frame0:
            continue
        key = (info.num_registered, info.num_points)
        if best_key is None or key > best_key:
            best, best_key = index, key
    return best


def frame_names(num_frames: int) -> list[str]:
    """Image names in the database: `000.png`, `001.png`, ... (sorted order = frame order)."""
    return [f"{i:03d}.png" for i in range(num_frames)]


def _check_inputs(frames: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 (f h w 3), got {frames.dtype} {tuple(frames.shape)}")
    if frames.shape[0] < 2:
        raise ValueError(f"frames: need at least 2 frames, got {frames.shape[0]}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)):
        raise ValueError(f"K: expected a finite (3 3) matrix in pixels, got {K.shape}")
    if K[0, 0] <= 10 or K[1, 1] <= 10:
        raise ValueError(f"K: focal lengths must be in pixels (> 10), got fx={K[0, 0]}, fy={K[1, 1]}")
    return frames, K


def write_frames(frames: np.ndarray, image_dir: Path) -> list[str]:
    """Save frames (f h w 3) uint8 as PNGs named by `frame_names` into `image_dir` (created); returns the names."""
    from PIL import Image

    image_dir.mkdir(parents=True, exist_ok=True)
    names = frame_names(len(frames))
    for name, frame in zip(names, frames):
        Image.fromarray(frame).save(image_dir / name)
    return names


def extract_and_match(
    image_dir: Path,
    names: Sequence[str],
    database: Path,
    *,
    camera_model: str,
    camera_params: Sequence[float],
    options: SfmOptions,
    seed: int,
) -> None:
    """SIFT extraction with one shared camera and sequential matching + two-view verification into `database`.

    `camera_model` is a COLMAP model name ("SIMPLE_PINHOLE", "PINHOLE", ...) and `camera_params` its parameters in
    pixels of the images (COLMAP order, e.g. f, cx, cy or fx, fy, cx, cy). Everything else comes from `options`
    (spec §2.2); the RANSAC of the two-view verification is seeded with `seed`. CPU only.
    """
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera_model
    reader.camera_params = ",".join(repr(float(v)) for v in camera_params)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = options.num_threads
    extraction.sift.max_num_features = options.max_num_features
    extraction.sift.estimate_affine_shape = options.estimate_affine_shape
    extraction.sift.domain_size_pooling = options.domain_size_pooling
    pycolmap.extract_features(
        database,
        image_dir,
        image_names=list(names),
        camera_mode=pycolmap.CameraMode.SINGLE,
        reader_options=reader,
        extraction_options=extraction,
        device=pycolmap.Device.cpu,
    )
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = options.num_threads
    matching.guided_matching = options.guided_matching
    matching.max_num_matches = options.max_num_matches
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = options.overlap
    pairing.quadratic_overlap = options.quadratic_overlap
    verification = pycolmap.TwoViewGeometryOptions()
    verification.ransac.max_error = options.max_error_px
    verification.ransac.random_seed = seed
    pycolmap.match_sequential(
        database,
        matching_options=matching,
        pairing_options=pairing,
        verification_options=verification,
        device=pycolmap.Device.cpu,
    )


def _pipeline_options(options: SfmOptions, seed: int):
    import pycolmap

    mapping = pycolmap.GlobalPipelineOptions()
    mapping.random_seed = seed
    mapping.num_threads = options.num_threads
    mapper = mapping.mapper
    mapper.random_seed = seed
    mapper.num_threads = options.num_threads
    mapper.rotation_averaging.random_seed = seed
    mapper.global_positioning.random_seed = seed
    mapper.global_positioning.use_gpu = False
    # Fixed intrinsics (= GLOMAP `BundleAdjustment.optimize_intrinsics 0`).
    mapper.bundle_adjustment.refine_focal_length = False
    mapper.bundle_adjustment.refine_principal_point = False
    mapper.bundle_adjustment.refine_extra_params = False
    mapper.bundle_adjustment.ceres.use_gpu = False
    return mapping


def _run_colmap(image_dir: Path, names: list[str], K: np.ndarray, workdir: Path, options: SfmOptions, seed: int):
    import pycolmap

    pycolmap.set_random_seed(seed)
    pycolmap.logging.minloglevel = max(int(pycolmap.logging.minloglevel), 1)  # COLMAP's INFO flood -> warnings+
    database = workdir / "database.db"
    # Reference behaviour: SIMPLE_PINHOLE with f = fx; fy is ignored (spec §2.2).
    extract_and_match(
        image_dir,
        names,
        database,
        camera_model="SIMPLE_PINHOLE",
        camera_params=(K[0, 0], K[0, 2], K[1, 2]),
        options=options,
        seed=seed,
    )
    output = workdir / "sparse"
    output.mkdir(exist_ok=True)
    return pycolmap.global_mapping(database, image_dir, output, options=_pipeline_options(options, seed))


def _frame0_observations(reconstruction, image) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (n 2) in frame 0 of the 3D points it observes and their depth (n,) in camera 0 (spec §1.5.3)."""
    cam_from_world = image.cam_from_world()
    xy, z = [], []
    for point2D in image.points2D:
        if not point2D.has_point3D():
            continue
        xyz = reconstruction.points3D[point2D.point3D_id].xyz
        xy.append(np.asarray(point2D.xy, dtype=np.float64))
        z.append(float((cam_from_world * xyz)[2]))
    if not xy:
        return np.zeros((0, 2)), np.zeros((0,))
    return np.stack(xy), np.asarray(z)


def _result_from_components(reconstructions: dict, names: list[str], image_hw: tuple[int, int]) -> SfmResult:
    keys = sorted(reconstructions)
    infos, frame0_images = [], []
    for key in keys:
        rec = reconstructions[key]
        image0 = rec.find_image_with_name(names[0])
        registered = image0 is not None and rec.exists_image(image0.image_id) and image0.has_pose
        infos.append(ComponentInfo(bool(registered), int(rec.num_reg_images()), int(rec.num_points3D())))
        frame0_images.append(image0)
    chosen = choose_component(infos)
    f = len(names)
    c2w = np.full((f, 4, 4), np.nan)
    registered = np.zeros(f, dtype=bool)
    xy, z, num_points = np.zeros((0, 2)), np.zeros((0,)), 0
    if chosen >= 0:
        rec = reconstructions[keys[chosen]]
        num_points = int(rec.num_points3D())
        for i, name in enumerate(names):
            image = rec.find_image_with_name(name)
            if image is None or not image.has_pose:
                continue
            w2c = np.eye(4)
            w2c[:3] = image.cam_from_world().matrix()
            c2w[i] = np.linalg.inv(w2c)
            registered[i] = True
        xy, z = _frame0_observations(rec, frame0_images[chosen])
    return SfmResult(
        c2w=c2w,
        registered=registered,
        frame0_xy=xy,
        frame0_z=z,
        num_points=num_points,
        component_sizes=tuple(info.num_registered for info in infos),
        chosen=chosen,
        image_hw=image_hw,
    )


def estimate_poses(
    frames: np.ndarray,
    K: np.ndarray,
    *,
    seed: int,
    options: SfmOptions = SfmOptions(),
    workdir: str | Path | None = None,
) -> SfmResult:
    """Estimate the camera poses of a video by global SfM with fixed, known intrinsics.

    Shapes: frames uint8 (f h w 3); K (3 3) pixels of these frames (f = K[0,0], principal point K[0:2, 2]).
    `seed` seeds every random choice; the same seed gives identical poses. A video that cannot be reconstructed is
    not an error: the result then has unregistered frames and `failure_reason()` says why. `workdir` keeps the
    database, frames and model there (default: a temporary folder that is removed).
    """
    frames, K = _check_inputs(frames, K)
    image_hw = (int(frames.shape[1]), int(frames.shape[2]))
    with tempfile.TemporaryDirectory(prefix="realcam-sfm-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        names = write_frames(frames, root / "images")
        reconstructions = _run_colmap(root / "images", names, K, root, options, seed)
        result = _result_from_components(reconstructions, names, image_hw)
    logger.debug(
        "sfm seed=%d components=%s chosen=%d registered=%d/%d points=%d",
        seed,
        result.component_sizes,
        result.chosen,
        int(result.registered.sum()),
        len(names),
        result.num_points,
    )
    return result
