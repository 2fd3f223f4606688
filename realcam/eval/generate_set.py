"""`realcam eval generate`: the evaluation set of a model, in the reference layout that `realcam eval camera` reads.

Protocol (spec §1.1, §1.7, §4.4), per test clip of a `realcam data manifest` JSONL or the reference's test-metadata
`.pth`, in source order, the first `max_samples` of them:
- 16 frames at frame stride 8; a clip too short for stride 8 uses the largest stride that fits, and a clip of fewer
  than 16 frames is skipped (the training dataset's rules: `realcam.data.transforms.sample_frame_indices`).
- The start index is FIXED per clip: a uniform draw over the valid starts from a generator seeded by
  SHA-256("<seed>:window:<clip id>") (`window_generator`). It depends on nothing else (not the GPU count, the shard,
  the order or the other clips), unlike the reference, whose random start depends on seed + rank (spec §8.7).
- Condition frame = frame 0. Frames are resized to cover the model size and centre-cropped, the intrinsics updated
  exactly (`realcam.data.transforms.resize_crop_clip`).
- Cameras: relative to frame 0 (identity), translations × the condition frame's metric scale (the manifest's
  `metric_scale` / the metadata's `per_frame_scale`); a clip without a scale is skipped with that reason.
- Prompt = the clip's caption. fs = the stride (256 model) or floor(video fps / stride) (512 model), as in training.
- Noise shaping (paper Tab. 1 MSA+SNS row, `paste900` config) on by default with t0 = 900, from the metric depth of
  the pipeline's depth network; disabled, no depth network is loaded and no preview is rendered.
- The generation seed of a clip is SHA-256("<seed>:sample:<clip id>") (`sample_seed`), so a sample is the same
  whichever shard or run makes it.

Outputs under RUN_DIR, named by clip id (stable, unlike the reference's rank-dependent names):
  samples/<clip_id>.mp4       the generated video (16 frames, H.264 crf 10, 10 fps as the reference)
  samples/<clip_id>.json      sidecar: seeds, settings, start index, stride, frame indices, scale, the cameras, timings
  gt_video/<clip_id>.mp4      the conditioning clip after resize + crop (16 frames)
  camera_data/<clip_id>.txt   16 rows x 18 numbers: fx fy cx cy (pixels of the cropped video), 0 0, w2c 3x4 row-major,
                              relative to frame 0 and in METRES (the camera the model was conditioned on)
  generate.json               the run report (generate.shard-<i>-of-<n>.json for a shard): counts, skipped clips and
                              why, settings; `"camera_data_units": "metres"` tells `realcam eval camera` the ground
                              truth is metric.
A sample is complete when its sidecar exists (written last; every file is written atomically); a rerun skips complete
samples and refuses to mix samples made with other generation settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from realcam.errors import InputError

logger = logging.getLogger(__name__)

FRAMES = 16
FRAME_STRIDE = 8
VIDEO_FPS = 10  # reference: samples and gt_video are saved at fps 10, crf 10 (spec §1.1)
VIDEO_CRF = 10
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class EvalClip:
    """One test clip, from either source.

    Shapes: c2w (f 4 4) float64 OpenCV camera-to-world in the clip's own units; intrinsics_norm (f 4) float64
    (fx/W, fy/H, cx/W, cy/H) or None when `K_pixels` (3 3) float64 pixels of the source video is given instead
    (a test-metadata file storing a matrix); metric_scale (f,) float64 metres per clip unit, or None.
    """

    clip_id: str
    video: Path
    caption: str
    c2w: np.ndarray
    intrinsics_norm: np.ndarray | None = None
    K_pixels: np.ndarray | None = None
    metric_scale: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.c2w.shape[0])

    def K(self, height: int, width: int) -> np.ndarray:
        """Pixel intrinsics of every frame for source frames of height×width. Shapes: -> (f 3 3) float64."""
        if self.intrinsics_norm is None:
            return np.tile(self.K_pixels, (self.num_frames, 1, 1))
        fx, fy, cx, cy = self.intrinsics_norm.T
        K = np.zeros((self.num_frames, 3, 3))
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = fx * width, fy * height, cx * width, cy * height, 1
        return K


def clips_from_manifest(path: str | os.PathLike) -> list[EvalClip]:
    """The clips of a `realcam data manifest` JSONL, in file order (videos resolved against the manifest's folder)."""
    from realcam.data.manifest import read_manifest, resolve_video

    _, records = read_manifest(path)
    return [
        EvalClip(
            clip_id=r.clip_id,
            video=resolve_video(path, r),
            caption=r.caption,
            c2w=r.c2w,
            intrinsics_norm=r.intrinsics_norm,
            metric_scale=r.metric_scale,
        )
        for r in records
    ]


def clips_from_test_metadata(path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> list[EvalClip]:
    """The clips of the reference's test metadata `.pth` (spec §4.4), in file order.

    `video_path` is relative to `data_root` (the RealEstate10K root; default: the file's folder); the clip id is its
    file stem, with "-2", "-3", ... appended to repeats. The per-clip intrinsics are used for every frame; a
    `per_frame_scale` whose length differs from the pose count is dropped (the clip is then skipped as unscaled, with
    a warning).
    """
    from realcam.data.realestate10k import read_test_metadata

    path = Path(path)
    root = Path(data_root) if data_root is not None else path.parent
    clips, seen = [], {}
    for item in read_test_metadata(path):
        c2w = item["c2w"]
        stem = Path(item["video_path"]).stem
        seen[stem] = seen.get(stem, 0) + 1
        clip_id = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
        scale = item.get("per_frame_scale")
        if scale is not None and scale.shape != (len(c2w),):
            logger.warning("%s: per_frame_scale has %d values for %d poses; ignored", clip_id, len(scale), len(c2w))
            scale = None
        intr = item.get("intrinsics_norm")
        clips.append(
            EvalClip(
                clip_id=clip_id,
                video=root / item["video_path"],
                caption=item["caption"],
                c2w=c2w,
                intrinsics_norm=None if intr is None else np.tile(intr, (len(c2w), 1)),
                K_pixels=item.get("K"),
                metric_scale=scale,
            )
        )
    return clips


def read_clips(path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> list[EvalClip]:
    """Test clips of a manifest (`.jsonl`) or the reference's test metadata (`.pth`), in source order."""
    path = Path(path)
    if path.suffix == ".jsonl":
        if data_root is not None:
            raise InputError("--data-root applies to a test-metadata .pth; a manifest holds its own video paths")
        return clips_from_manifest(path)
    if path.suffix in (".pth", ".pt"):
        return clips_from_test_metadata(path, data_root)
    raise InputError(f"{path}: expected a realcam manifest (.jsonl) or the reference's test metadata (.pth)")


# ----- the fixed protocol -------------------------------------------------------------------------------------------
def _derived_seed(seed: int, purpose: str, clip_id: str) -> int:
    digest = hashlib.sha256(f"{seed}:{purpose}:{clip_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def window_generator(clip_id: str, seed: int) -> torch.Generator:
    """The generator that draws a clip's start index: seeded by SHA-256("<seed>:window:<clip id>")."""
    return torch.Generator().manual_seed(_derived_seed(seed, "window", clip_id))


def sample_seed(clip_id: str, seed: int) -> int:
    """The generation seed of a clip: SHA-256("<seed>:sample:<clip id>"), 63 bits."""
    return _derived_seed(seed, "sample", clip_id)


class SkipClip(Exception):
    """A clip that cannot be evaluated; the message is the reason recorded in the report."""


@dataclass(frozen=True)
class EvalInput:
    """One prepared test sample.

    Shapes: frames (f H W 3) uint8 (the crop at model size, frame 0 conditions); K (f 3 3) float64 pixels of H×W;
    rel_c2w (f 4 4) float64 OpenCV camera-to-world relative to frame 0, translations in metres (× cond_scale);
    frame_indices (f,) int64 source frames, start + k·frame_stride.
    """

    clip_id: str
    caption: str
    frames: np.ndarray
    K: np.ndarray
    rel_c2w: np.ndarray
    frame_indices: np.ndarray
    frame_stride: int
    cond_scale: float
    video_fps: float

    @property
    def start(self) -> int:
        return int(self.frame_indices[0])


def select_window(clip: EvalClip, seed: int, frames: int = FRAMES, frame_stride: int = FRAME_STRIDE) -> np.ndarray:
    """The fixed source frame indices of a clip (module docstring). Shapes: -> (frames,) int64.
    Raises SkipClip when the clip has fewer than `frames` poses."""
    from realcam.data.transforms import sample_frame_indices

    if clip.num_frames < frames:
        raise SkipClip(f"{clip.num_frames} frames < {frames}")
    indices, _ = sample_frame_indices(
        clip.num_frames, frames, (frame_stride, frame_stride), window_generator(clip.clip_id, seed)
    )
    return indices


def prepare_input(
    clip: EvalClip, pixel_hw: tuple[int, int], *, seed: int, frames: int = FRAMES, frame_stride: int = FRAME_STRIDE
) -> EvalInput:
    """Window, decode, resize + crop and metric relative cameras of one clip. Raises SkipClip with the reason when the
    clip has no metric scale, is too short, or its video is missing or too short."""
    from realcam.data.transforms import decode_frames, metric_relative_c2w, resize_crop_clip

    if clip.metric_scale is None:
        raise SkipClip(
            "no metric scale (run `realcam data align-scale` and rebuild the manifest with --scales, or use a test "
            "metadata file with per_frame_scale)"
        )
    indices = select_window(clip, seed, frames, frame_stride)
    try:
        decoded, fps = decode_frames(clip.video, indices)
    except InputError as error:
        raise SkipClip(str(error)) from None
    K_source = torch.from_numpy(clip.K(*decoded.shape[1:3])[indices])
    video, K = resize_crop_clip(decoded, K_source, pixel_hw)
    cond_scale = float(clip.metric_scale[indices[0]])
    if not (np.isfinite(cond_scale) and cond_scale > 0):
        raise SkipClip(f"the metric scale of the condition frame {indices[0]} is {cond_scale}, not a positive number")
    rel_c2w = metric_relative_c2w(torch.from_numpy(clip.c2w[indices]), 0, cond_scale)
    stride = int(indices[1] - indices[0]) if frames > 1 else frame_stride
    return EvalInput(
        clip_id=clip.clip_id,
        caption=clip.caption,
        frames=video.permute(1, 2, 3, 0).numpy(),
        K=K.numpy(),
        rel_c2w=rel_c2w.numpy(),
        frame_indices=indices,
        frame_stride=stride,
        cond_scale=cond_scale,
        video_fps=fps,
    )


def camera_data_text(K: np.ndarray, c2w: np.ndarray) -> str:
    """The reference's `camera_data/<name>.txt` (spec §1.1): one row per frame, `fx fy cx cy 0 0 w2c[12]`.
    Shapes: K (f 3 3) pixels, c2w (f 4 4) OpenCV camera-to-world. Numbers are written to round-trip exactly."""
    w2c = np.linalg.inv(c2w)
    rows = []
    for k in range(len(c2w)):
        values = [K[k, 0, 0], K[k, 1, 1], K[k, 0, 2], K[k, 1, 2], 0.0, 0.0, *w2c[k, :3, :4].reshape(-1)]
        rows.append(" ".join(repr(float(v)) for v in values))
    return "\n".join(rows) + "\n"


# ----- generation -----------------------------------------------------------------------------------------------------
def generation_settings(pipe: Any, sample: EvalInput, base: Any) -> Any:
    """`base` (GenerationSettings) with the sample's prompt, seed and fs condition (stride for 'fs' models, floor(video
    fps / stride) for 'fps' models, as the training dataset)."""
    config = pipe.model.config
    fps = None
    if config.fps_condition_type == "fps" and sample.video_fps > 0:
        fps = int(sample.video_fps // sample.frame_stride)
    return dataclasses.replace(
        base,
        prompt=sample.caption,
        seed=sample_seed(sample.clip_id, base.seed),
        frame_stride=sample.frame_stride,
        fps=fps,
    )


def generate_sample(pipe: Any, sample: EvalInput, settings: Any) -> tuple[Tensor, dict[str, Any]]:
    """Run the pipeline's steps on a prepared sample: the condition image and cameras come from the clip, not from an
    image file and a trajectory. With shaping enabled the steps and the generator's draws are those of
    `RealCamPipeline.__call__` (depth -> scene -> preview -> encode -> camera -> denoise -> decode); disabled, no
    depth, scene or preview. Returns (frames (f H W 3) uint8, {"fs", "coverage_per_frame", "timings_s"})."""
    from realcam.pipeline.i2v import PreparedImage, StageTimer

    timer = StageTimer(pipe.device)

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        with timer.stage(name):
            return fn()

    frame0 = np.ascontiguousarray(sample.frames[0])
    pixels = torch.from_numpy(frame0).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    image = PreparedImage(rgb=frame0, pixels=pixels, K=torch.from_numpy(sample.K[0]).float())
    c2w, K = torch.from_numpy(sample.rel_c2w).float(), torch.from_numpy(sample.K).float()
    generator = torch.Generator().manual_seed(settings.seed)
    preview = None
    if settings.shaping.enabled:
        depth = timed("depth", lambda: pipe.estimate_depth(image))
        cloud = timed(
            "scene",
            lambda: pipe.build_scene(
                image, depth, remove_outliers=settings.remove_outliers, outlier_statistic=settings.outlier_statistic
            ),
        )
        preview = timed("preview", lambda: pipe.render_preview(cloud, c2w, K, settings.shaping))
    conditions = timed("encode", lambda: pipe.encode_conditions(image, preview, settings, generator))
    camera = timed("camera", lambda: pipe.build_camera_condition(c2w, K, generator))
    latents = timed("denoise", lambda: pipe.denoise(conditions, camera, preview, settings, generator))
    frames = timed("decode", lambda: pipe.decode(latents, settings.decode_chunk))
    coverage = None if preview is None else [round(float(x), 4) for x in preview.coverage]
    timings = {name: round(seconds, 4) for name, seconds in timer.seconds.items()}
    return frames, {"fs": int(conditions.fs[0]), "coverage_per_frame": coverage, "timings_s": timings}


@dataclass(frozen=True)
class SamplePaths:
    """Where one sample's files go (module docstring)."""

    video: Path
    sidecar: Path
    gt_video: Path
    camera_data: Path

    @classmethod
    def of(cls, out: Path, name: str) -> SamplePaths:
        return cls(
            out / "samples" / f"{name}.mp4",
            out / "samples" / f"{name}.json",
            out / "gt_video" / f"{name}.mp4",
            out / "camera_data" / f"{name}.txt",
        )

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.sidecar, self.video, self.gt_video, self.camera_data))


def _check_same_run(sidecar: Path, run: dict[str, Any]) -> None:
    """Refuse to resume into samples made with other generation settings."""
    try:
        recorded = json.loads(sidecar.read_text()).get("run")
    except (json.JSONDecodeError, OSError) as error:
        raise InputError(f"{sidecar}: unreadable sidecar ({error}); delete the sample to regenerate it") from None
    if recorded != run:
        old, new = _flatten(recorded if isinstance(recorded, dict) else {}), _flatten(run)
        keys = [
            f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
        ]
        raise InputError(
            f"{sidecar.parent.parent}: holds samples made with other settings (e.g. {sidecar.name}: "
            f"{'; '.join(keys)}); use another --out, or delete those samples"
        )


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _write_sample(paths: SamplePaths, sample: EvalInput, frames: Tensor, record: dict[str, Any]) -> None:
    from realcam.io.atomic import write_text_atomic
    from realcam.io.sidecar import write_sidecar
    from realcam.io.video import write_video

    write_video(paths.gt_video, sample.frames, fps=VIDEO_FPS, crf=VIDEO_CRF)
    write_text_atomic(paths.camera_data, camera_data_text(sample.K, sample.rel_c2w))
    write_video(paths.video, frames, fps=VIDEO_FPS, crf=VIDEO_CRF)
    write_sidecar(paths.video, record, paths.sidecar)  # last: its presence marks the sample complete


def select_clips(clips: Sequence[EvalClip], max_samples: int | None, shard: tuple[int, int] | None) -> list[EvalClip]:
    """The first `max_samples` clips in source order (the reference evaluates the first 1000), then shard i of n:
    every n-th of them starting at i."""
    chosen = list(clips[:max_samples] if max_samples is not None else clips)
    if shard is not None:
        index, count = shard
        chosen = [c for k, c in enumerate(chosen) if k % count == index]
    return chosen


@dataclass(frozen=True)
class GenerateSetConfig:
    """Protocol and run settings. `settings` is the GenerationSettings shared by all samples (prompt, seed and fs are
    set per sample; its seed is the base seed of the window and sample seeds)."""

    settings: Any
    frames: int = FRAMES
    frame_stride: int = FRAME_STRIDE
    max_samples: int | None = 1000
    shard: tuple[int, int] | None = None

    def run_record(self, model: str) -> dict[str, Any]:
        """What must match for samples to belong to one run (compared on resume)."""
        settings = {k: v for k, v in dataclasses.asdict(self.settings).items() if k not in ("prompt", "frame_stride")}
        settings.pop("fps", None)
        return {"model": model, "frames": self.frames, "frame_stride": self.frame_stride, "settings": settings}


def report_path(out: Path, shard: tuple[int, int] | None) -> Path:
    return out / ("generate.json" if shard is None else f"generate.shard-{shard[0]}-of-{shard[1]}.json")


def generate_set(
    pipe: Any,
    clips: Sequence[EvalClip],
    out: str | os.PathLike,
    config: GenerateSetConfig,
    *,
    source: dict[str, Any] | None = None,
    on_sample_done: Callable[[str, str], None] | None = None,
) -> dict[str, Any]:
    """Generate the evaluation set of `clips` into `out` (module docstring) and write the report; returns it.

    `on_sample_done(clip_id, status)` is called per clip with status "generated", "resumed" or "skipped"."""
    from realcam.io.atomic import write_text_atomic
    from realcam.io.sidecar import environment_versions

    out = Path(out)
    for clip in clips:
        if not _NAME.match(clip.clip_id):
            raise InputError(f"clip id {clip.clip_id!r} cannot be a file name (letters, digits, '.', '_', '-' only)")
    chosen = select_clips(clips, config.max_samples, config.shard)
    model = pipe.model.config.name
    run = config.run_record(model)
    H, W = pipe.model.config.pixel_hw
    counts = {"generated": 0, "resumed": 0, "skipped": 0}
    skipped: dict[str, str] = {}
    start_time = time.perf_counter()
    for clip in chosen:
        paths = SamplePaths.of(out, clip.clip_id)
        if paths.complete():
            _check_same_run(paths.sidecar, run)
            status = "resumed"
        else:
            try:
                sample = prepare_input(
                    clip, (H, W), seed=config.settings.seed, frames=config.frames, frame_stride=config.frame_stride
                )
            except SkipClip as reason:
                skipped[clip.clip_id] = str(reason)
                logger.warning("skipping %s: %s", clip.clip_id, reason)
                status = "skipped"
            else:
                settings = generation_settings(pipe, sample, config.settings)
                frames, info = generate_sample(pipe, sample, settings)
                _write_sample(paths, sample, frames, _sample_record(clip, sample, settings, info, run, model))
                status = "generated"
        counts[status] += 1
        if on_sample_done is not None:
            on_sample_done(clip.clip_id, status)
    report = {
        "command": "eval generate",
        **(source or {}),
        "model": model,
        "run": run,
        "protocol": {
            "frames": config.frames,
            "frame_stride": config.frame_stride,
            "condition_frame": 0,
            "start_index": "fixed per clip: uniform over the valid starts, generator seeded by "
            "SHA-256('<seed>:window:<clip id>')",
            "sample_seed": "SHA-256('<seed>:sample:<clip id>')",
            "pixel_hw": [H, W],
        },
        "camera_data_units": "metres",
        "clips_in_source": len(clips),
        "max_samples": config.max_samples,
        "shard": None if config.shard is None else f"{config.shard[0]}/{config.shard[1]}",
        "clips_selected": len(chosen),
        **counts,
        "skipped_clips": skipped,
        "seconds": round(time.perf_counter() - start_time, 3),
        "versions": environment_versions(),
    }
    write_text_atomic(report_path(out, config.shard), json.dumps(report, indent=2) + "\n")
    return report


def _sample_record(
    clip: EvalClip, sample: EvalInput, settings: Any, info: dict[str, Any], run: dict[str, Any], model: str
) -> dict[str, Any]:
    return {
        "command": "eval generate",
        "clip_id": clip.clip_id,
        "source_video": str(clip.video),
        "caption": clip.caption,
        "run": run,
        "model": model,
        "seed": settings.seed,
        "base_seed": run["settings"]["seed"],
        "start_index": sample.start,
        "frame_stride": sample.frame_stride,
        "frame_indices": sample.frame_indices.tolist(),
        "metric_scale": {"cond_scale": sample.cond_scale, "units": "metres", "applied_to": "translations"},
        "source_fps": sample.video_fps,
        "settings": dataclasses.asdict(settings),
        "frames": len(sample.frames),
        "video_fps": VIDEO_FPS,
        "cameras": {"c2w": sample.rel_c2w.tolist(), "K": sample.K.tolist()},
        **info,
    }


def is_metric_run(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds an `eval generate` run (a generate*.json report) whose camera_data are in metres."""
    for report in sorted(Path(folder).glob("generate*.json")):
        try:
            if json.loads(report.read_text()).get("camera_data_units") == "metres":
                return True
        except (json.JSONDecodeError, OSError, AttributeError):
            continue
    return False


__all__ = [
    "EvalClip",
    "EvalInput",
    "GenerateSetConfig",
    "SamplePaths",
    "SkipClip",
    "camera_data_text",
    "clips_from_manifest",
    "clips_from_test_metadata",
    "generate_sample",
    "generate_set",
    "is_metric_run",
    "prepare_input",
    "read_clips",
    "report_path",
    "sample_seed",
    "select_clips",
    "select_window",
    "window_generator",
]
