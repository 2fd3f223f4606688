"""`RealCamPipeline`: image + metric camera trajectory -> video (RealCam-I2V inference, spec §3-§6).

The call is a list of named steps, each a method that can be run and tested alone:
    prepare_image -> estimate_depth -> build_scene -> render_preview -> encode_conditions
    -> build_camera_condition -> denoise -> decode
Metric scale: the depth is metric (Depth-Anything-V2 metric), so the point cloud and the trajectory are in metres
and the model is conditioned on metric translations (× `translation_scale`, default 1.0, stored in the metadata).
Randomness: one `torch.Generator(seed)` on the CPU feeds, in order, the stochastic VAE encodes, the epipolar
zero-translation perturbation, x_T and every DDIM draw; the same seed and inputs give the same video on a device.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from realcam.diffusion.ddim import DDIMStep
from realcam.diffusion.guidance import GuidanceConfig
from realcam.models.camera.condition import CameraCondition
from realcam.models.encoders.tokenizer import CLIPTokenizer
from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig
from realcam.pipeline import conditioning as cond
from realcam.pipeline.noise_shaping import NoiseShaping
from realcam.pipeline.sampling import Continuation, SamplerSettings, sample_latents
from realcam.scene.pointcloud import PointCloud
from realcam.trajectory.keyframes import SampledTrajectory, Trajectory

log = logging.getLogger(__name__)

# The app's default negative prompt (spec §8.1).
DEFAULT_NEGATIVE_PROMPT = (
    "Fast movement, jittery motion, abrupt transitions, distorted body, missing limbs, unnatural posture, blurry, "
    "cropped, extra limbs, bad anatomy, deformed, glitchy motion, artifacts."
)
Mode = Literal["i2v", "interp", "loop"]
TrajectoryLike = Trajectory | SampledTrajectory | str | os.PathLike


@dataclass(frozen=True)
class ShapingSettings:
    """Scene-constrained noise shaping (spec §4, paper §3.3).

    Fields: enabled; t0 (shape at every step with τ ≥ t0; 900 in the app); kernel (erosion size, 5); threshold (latent
    mask binarisation, 0.9); point_size (preview splat size in pixels, 2 as the reference's Open3D renderer);
    visibility: "rendered" = pixels where a point landed, or "reference" = non-black pixels (the reference's rule,
    which also counts black scene points as holes).
    """

    enabled: bool = True
    t0: int = 900
    kernel: int = 5
    threshold: float = 0.9
    point_size: int = 2
    visibility: Literal["rendered", "reference"] = "rendered"

    def __post_init__(self) -> None:
        if not 0 <= self.t0 <= 999:
            raise ValueError(f"t0 must be in [0, 999], got {self.t0}")
        if self.visibility not in ("rendered", "reference"):
            raise ValueError(f"visibility must be 'rendered' or 'reference', got {self.visibility!r}")


@dataclass(frozen=True)
class GenerationSettings:
    """The knobs of one generation. Defaults follow the reference configs (CFG 7.5, rescale 0.7, 25 trailing DDIM
    steps, η = 1) and the app (negative prompt; noise shaping from τ ≥ 900).

    Fields: prompt / negative_prompt; steps; guidance_scale (text+image CFG, 1 = off); guidance_rescale; camera_cfg
    (None = off; else a third, camera-free branch); eta; seed; frame_stride / fps (the fs condition, spec §3.6; None =
    the model's default); translation_scale (× metric translations); shaping; mode ("i2v", "interp": an end image
    conditions the last frame, "loop": end image = start image on a path that returns to the start; the released
    weights were not trained for these two, see docs/modes.md); max_batch (UNet batch limit, None = batch the
    CFG branches); decode_chunk (frames per VAE decode call); remove_outliers (statistical filter of the point
    cloud) and outlier_statistic (its statistic: "metric" as the reference, or "relative"; see
    `depth_to_pointcloud`).
    """

    prompt: str = ""
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    steps: int = 25
    guidance_scale: float = 7.5
    guidance_rescale: float = 0.7
    camera_cfg: float | None = None
    eta: float = 1.0
    seed: int = 0
    frame_stride: int | None = None
    fps: int | None = None
    translation_scale: float = 1.0
    shaping: ShapingSettings = field(default_factory=ShapingSettings)
    mode: Mode = "i2v"
    max_batch: int | None = None
    decode_chunk: int | None = 4
    remove_outliers: bool = True
    outlier_statistic: str = "metric"

    def __post_init__(self) -> None:
        if self.mode not in ("i2v", "interp", "loop"):
            raise ValueError(f"mode must be 'i2v', 'interp' or 'loop', got {self.mode!r}")
        if not self.translation_scale > 0:
            raise ValueError(f"translation_scale must be positive, got {self.translation_scale}")
        from realcam.scene.lift import OUTLIER_STATISTICS

        if self.outlier_statistic not in OUTLIER_STATISTICS:
            raise ValueError(f"outlier_statistic must be one of {OUTLIER_STATISTICS}, got {self.outlier_statistic!r}")

    def sampler(self) -> SamplerSettings:
        guidance = GuidanceConfig(
            text_image_scale=self.guidance_scale, camera_scale=self.camera_cfg, guidance_rescale=self.guidance_rescale
        )
        return SamplerSettings(steps=self.steps, eta=self.eta, guidance=guidance, max_batch=self.max_batch)


@dataclass(frozen=True)
class PreparedImage:
    """The condition image at model size. Shapes: rgb (H W 3) uint8; pixels (1 3 H W) in [-1, 1]; K (3 3) float32."""

    rgb: np.ndarray
    pixels: Tensor
    K: Tensor


@dataclass(frozen=True)
class Preview:
    """Rendered scene preview and the noise-shaping mask.

    Shapes: rgb (f H W 3) uint8; visible (f H W) bool; mask (f h w) bool latent cells; coverage (f,) fraction of
    constrained latent cells per frame.
    """

    rgb: Tensor
    visible: Tensor
    mask: Tensor
    coverage: Tensor


@dataclass(frozen=True)
class Conditions:
    """Encoded conditions. Shapes: z_cond (1 4 h w); z_end (1 4 h w) or None; z_preview (1 4 f h w) or None;
    context / uncond_context (1 77+f*n d); fs (1,)."""

    z_cond: Tensor
    z_end: Tensor | None
    z_preview: Tensor | None
    context: Tensor
    uncond_context: Tensor
    fs: Tensor


@dataclass(frozen=True)
class GenerationResult:
    """Output of one call.

    Shapes: frames (f H W 3) uint8; latents (1 4 f h w) float32; preview: Preview; c2w (f 4 4) float32 relative
    metric cameras the model was conditioned on (frame 0 = identity, translations × translation_scale); K (f 3 3)
    pixels; metadata: settings, fs, coverage, timings (s), peak memory (bytes) — JSON-ready.
    """

    frames: Tensor
    latents: Tensor
    preview: Preview
    c2w: Tensor
    K: Tensor
    metadata: dict[str, Any]


class StageTimer:
    """Per-stage wall time (CUDA-synchronised) and per-stage peak memory (`memory_kind` says which memory)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}

    @property
    def memory_kind(self) -> str:
        if self.device.type == "cuda":
            return "cuda max_memory_allocated within each stage (reset at the stage start)"
        return (
            f"process RSS, highest value sampled every {RSS_SAMPLE_S * 1000:g} ms within each stage (includes memory "
            "still held from earlier stages; spikes shorter than the interval can be missed)"
        )

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        sampler = None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            sampler = RssSampler().start()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
                peak = int(torch.cuda.max_memory_allocated(self.device))
            else:
                peak = sampler.stop()
            self.peak_bytes[name] = max(peak, self.peak_bytes.get(name, 0))
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


RSS_SAMPLE_S = 0.005


def current_rss() -> int:
    """Resident memory of this process now, bytes (Linux /proc; elsewhere the peak so far, which only goes up)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class RssSampler:
    """Highest process RSS between `start()` and `stop()`, sampled by a daemon thread every `interval` seconds."""

    def __init__(self, interval: float = RSS_SAMPLE_S) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="realcam-rss")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self.peak = current_rss()
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, current_rss())


class RealCamPipeline:
    """RealCam-I2V inference over a `RealCamI2V` (module docstring). Device and dtype: the model is moved once at
    construction (fp16/bf16 on GPU, fp32 on CPU); geometry, masks and the Plücker map stay float32."""

    def __init__(
        self,
        model: RealCamI2V,
        tokenizer: CLIPTokenizer,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        release_depth: bool = True,
    ) -> None:
        self.device = torch.device(device)
        if self.device.type == "cpu" and dtype != torch.float32:
            raise ValueError(f"dtype on CPU must be float32, got {dtype}")
        self.dtype = dtype
        self.model = model.eval().to(device=self.device, dtype=dtype)
        self.tokenizer = tokenizer
        self.release_depth = release_depth
        self._progress_bar_config: dict[str, Any] = {}
        self._active_bar: Any = None

    # ----- progress -----------------------------------------------------------------------------------------------
    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options of the denoising progress bar, passed to `tqdm` (as in diffusers), e.g. `disable=True`,
        `leave=False`, `file=...`, `desc=...`."""
        self._progress_bar_config = dict(kwargs)

    @contextmanager
    def progress_bar(self, total: int, desc: str = "denoise") -> Iterator[Any]:
        """A tqdm bar over `total` DDIM steps. Nested use (e.g. `generate_long` around its clips) reuses the outer bar,
        so a chained generation shows one bar over all segments' steps."""
        if self._active_bar is not None:
            yield self._active_bar
            return
        from tqdm.auto import tqdm

        options = {"desc": desc, "unit": "step", **self._progress_bar_config}
        bar = tqdm(total=total, **options)
        self._active_bar = bar
        try:
            yield bar
        finally:
            self._active_bar = None
            bar.close()

    # ----- construction -----------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        model: str = "256",
        depth: str | None = "indoor",
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        cache: Path | None = None,
        paths: dict[str, str | os.PathLike] | None = None,
    ) -> RealCamPipeline:
        """Build from the weights cache (`realcam weights download`) or explicit local `paths` keyed like the hub's
        files ("base-256", "realcam-256", "depth-indoor", "clip-vocab", "clip-merges"). Missing files raise the one
        WeightsMissingError naming them and the download command.

        `depth=None` builds the model without its depth network and needs no depth file: every call must then pass
        `depth=` (e.g. the demo room's exact depth or a depth file)."""
        from realcam.checkpoints import hub

        given = {key: Path(value) for key, value in (paths or {}).items()}
        missing = [str(p) for p in given.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"weight files not found: {', '.join(missing)}")
        depth_key = None if depth is None else f"depth-{depth}"
        wanted = [f for f in hub.files_for(model, depth or "indoor") if not f.key.startswith("depth-") or depth_key]
        if f"realcam-{model}" in given and _is_full_realcam_file(given[f"realcam-{model}"]):
            wanted = [f for f in wanted if f.key != f"base-{model}"]  # a full RealCam file needs no base
        needed = [f for f in wanted if f.key not in given]
        files = {**(hub.require(needed, model=model, depth=depth or "indoor", cache=cache) if needed else {}), **given}
        config = RealCamI2VConfig.preset(model, depth=depth)
        # No depth file in `files` when depth is None: the depth-free config expects none.
        network = load_realcam_weights(config, files, model=model, depth=depth or "indoor")
        tokenizer = CLIPTokenizer.from_files(files["clip-vocab"], files["clip-merges"])
        return cls(network, tokenizer, device=device, dtype=dtype)

    # ----- the steps --------------------------------------------------------------------------------------------
    def prepare_image(self, image: np.ndarray | str | os.PathLike, K: Tensor | None = None) -> PreparedImage:
        """Resize to cover the model size and centre-crop (spec §5.3). K (3 3) of the input image, or None for the
        reference default (fx = fy = half the long side of the resized image, principal point at the centre)."""
        from realcam.geometry.intrinsics import reference_default_K, resize_cover_crop

        rgb = load_image(image)
        H, W = self.model.config.pixel_hw
        h, w = rgb.shape[:2]
        upscale = max(H / h, W / w)
        if upscale > 2.0:
            log.warning(
                "the %dx%d input is upscaled %.1fx to cover the model's %dx%d: expect a blurry video; use a larger "
                "photo",
                h,
                w,
                upscale,
                H,
                W,
            )
        if K is None:
            out, _ = resize_cover_crop(rgb, torch.eye(3, dtype=torch.float64), (H, W))
            K_out = reference_default_K(h, w, H, W)
        else:
            out, K_out = resize_cover_crop(rgb, K.to(torch.float64), (H, W))
        pixels = torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        return PreparedImage(rgb=out, pixels=pixels, K=K_out.float())

    def estimate_depth(self, image: PreparedImage) -> Tensor:
        """Metric depth of the condition image with the model's Depth-Anything-V2 (spec §5.1). -> (H W) metres.
        With `release_depth` the depth network is moved off the GPU afterwards (and back for the next call)."""
        from realcam.models.depth.depth_anything import MetricDepthEstimator

        if self.model.config.depth is None:
            raise ValueError("this model has no depth network; pass depth= (H W metres) to the pipeline call")
        self.model.depth_predictor.to(self.device)  # back from the CPU if an earlier call released it
        estimator = MetricDepthEstimator(
            self.model.depth_predictor,
            self.model.depth_predictor_normalizer_mean,
            self.model.depth_predictor_normalizer_std,
        )
        with torch.no_grad():
            depth = estimator.estimate(((image.pixels + 1) / 2).to(self.device))[0].float()
        if self.release_depth and self.device.type == "cuda":
            self.model.depth_predictor.to("cpu")
            torch.cuda.empty_cache()
        return depth.cpu()

    def build_scene(
        self, image: PreparedImage, depth: Tensor, *, remove_outliers: bool = True, outlier_statistic: str = "metric"
    ) -> PointCloud:
        """Lift the metric depth to a coloured point cloud in the condition camera's OpenCV frame (spec §5.2)."""
        from realcam.scene.lift import depth_to_pointcloud

        return depth_to_pointcloud(
            image.rgb,
            depth.float().cpu(),
            image.K,
            remove_outliers=remove_outliers,
            outlier_statistic=outlier_statistic,
        )

    def render_preview(self, cloud: PointCloud, c2w: Tensor, K: Tensor, shaping: ShapingSettings) -> Preview:
        """Render the cloud along the cameras and derive the latent noise-shaping mask (spec §4.2, §6).
        Shapes: c2w (f 4 4) relative metric, K (f 3 3) -> Preview."""
        from realcam.scene.masks import latent_mask
        from realcam.scene.render import render_points

        H, W = self.model.config.pixel_hw
        render = render_points(cloud, c2w.cpu(), K.cpu(), H, W, point_size=shaping.point_size)
        visible = render.visible if shaping.visibility == "rendered" else render.compat_visible()
        factor = self.model.config.vae.downsample_factor
        mask = latent_mask(visible, kernel=shaping.kernel, threshold=shaping.threshold, downsample=factor)
        return Preview(rgb=render.rgb, visible=visible, mask=mask.mask, coverage=mask.coverage)

    def encode_conditions(
        self,
        image: PreparedImage,
        preview: Preview | None,
        settings: GenerationSettings,
        generator: torch.Generator,
        end_image: PreparedImage | None = None,
    ) -> Conditions:
        """VAE latents (stochastic posterior draws, reference behaviour), text and image contexts, fs (spec §1.6-1.8,
        §3.6, §4.1). z_preview has frame 0 replaced by the condition latent."""
        model, vae = self.model, self.model.first_stage_model
        with torch.no_grad():
            z_cond = self._encode(image.pixels, generator)
            z_end = self._encode(end_image.pixels, generator) if end_image is not None else None
            z_preview = None
            if preview is not None:
                frames = preview.rgb.permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0  # 1 3 f H W
                posterior = vae.encode(frames.to(self.device, self.dtype), chunk_frames=4)
                eps = _draw(posterior.mean.shape, generator, self.device, posterior.mean.dtype, folded=True)
                z_preview = (vae.config.scale_factor * posterior.sample(noise=eps)).float()
                z_preview[:, :, 0] = z_cond
            text = cond.encode_text(model, self.tokenizer, [settings.prompt, settings.negative_prompt])
            pixels = image.pixels.to(self.device, self.dtype)
            image_tokens = cond.encode_image_tokens(model, pixels)
            uncond_tokens = cond.unconditional_image_tokens(model, pixels)
        fs = cond.fs_tensor(model.config, settings.frame_stride, settings.fps, device=self.device)
        return Conditions(
            z_cond=z_cond,
            z_end=z_end,
            z_preview=z_preview,
            context=cond.unet_context(text[:1], image_tokens),
            uncond_context=cond.unet_context(text[1:], uncond_tokens),
            fs=fs,
        )

    def _encode(self, pixels: Tensor, generator: torch.Generator) -> Tensor:
        """Scaled posterior draw of one image. Shapes: (1 3 H W) -> (1 4 h w) float32."""
        posterior = self.model.first_stage_model.encode(pixels.to(self.device, self.dtype))
        eps = _draw(posterior.mean.shape, generator, self.device, posterior.mean.dtype)
        return (self.model.first_stage_model.config.scale_factor * posterior.sample(noise=eps)).float()

    def build_camera_condition(self, c2w: Tensor, K: Tensor, generator: torch.Generator) -> CameraCondition:
        """Pose-encoder features and epipolar masks of the relative metric cameras. Shapes: c2w (f 4 4), K (f 3 3)."""
        with torch.no_grad():
            return cond.camera_condition(self.model, c2w[None], K[None], generator=generator)

    def denoise(
        self,
        conditions: Conditions,
        camera: CameraCondition,
        preview: Preview | None,
        settings: GenerationSettings,
        generator: torch.Generator,
        *,
        continuation: Continuation | None = None,
        on_step_end: Callable[[DDIMStep], None] | None = None,
    ) -> Tensor:
        """Guided DDIM from fresh noise with noise shaping (if enabled) -> latents (1 4 f h w) float32. Shows the
        progress bar (`set_progress_bar_config`); `on_step_end` is called after every step."""
        config = self.model.config
        frames, (h, w) = config.frames, config.latent_hw
        if conditions.z_end is not None:
            concat = cond.concat_latent_interp(conditions.z_cond, conditions.z_end, frames)
        else:
            concat = cond.concat_latent(conditions.z_cond, frames)
        c = cond.UNetCondition(concat, conditions.context, conditions.fs, camera)
        u = cond.UNetCondition(concat, conditions.uncond_context, conditions.fs, camera)
        shaping = None
        if settings.shaping.enabled and conditions.z_preview is not None and preview is not None:
            shaping = NoiseShaping(conditions.z_preview, preview.mask.to(self.device), t0=settings.shaping.t0)
        x_T = _draw((1, 4, frames, h, w), generator, self.device, torch.float32)
        sampler = settings.sampler()
        with self.progress_bar(settings.steps) as bar:

            def step_end(step: DDIMStep) -> None:
                bar.update(1)
                if on_step_end is not None:
                    on_step_end(step)

            return sample_latents(
                self.model,
                x_T,
                c,
                u if sampler.guidance.uses_uncond else None,
                sampler,
                generator=generator,
                shaping=shaping,
                continuation=continuation,
                on_step_end=step_end,
            )

    def decode(self, latents: Tensor, chunk: int | None = 4) -> Tensor:
        """VAE decode in chunks of frames; clamp to [-1, 1], map by (x+1)/2·255 with a truncating uint8 cast
        (reference behaviour, spec §8.1). Shapes: (1 4 f h w) -> (f H W 3) uint8."""
        with torch.no_grad():
            video = self.model.first_stage_model.decode_latent(latents.to(self.dtype), chunk_frames=chunk)
        video = video.float().clamp(-1, 1)[0]
        return ((video + 1) / 2 * 255).to(torch.uint8).permute(1, 2, 3, 0).cpu().contiguous()

    # ----- the call ---------------------------------------------------------------------------------------------
    def __call__(
        self,
        image: np.ndarray | str | os.PathLike,
        trajectory: TrajectoryLike,
        settings: GenerationSettings | None = None,
        *,
        end_image: np.ndarray | str | os.PathLike | None = None,
        K: Tensor | None = None,
        depth: Tensor | None = None,
        on_step_end: Callable[[DDIMStep], None] | None = None,
    ) -> GenerationResult:
        """Generate a clip. `depth` (H W metres, for the image at model size) skips the depth network; `K` (3 3) are
        the input image's intrinsics (default: the reference's); `end_image` is required for mode "interp"."""
        settings = settings or GenerationSettings()
        timer = StageTimer(self.device)
        generator = torch.Generator().manual_seed(settings.seed)
        with timer.stage("prepare"):
            prepared = self.prepare_image(image, K)
            end = self._end_image(prepared, end_image, settings)
            sampled = self.resolve_trajectory(trajectory, settings.mode)
            c2w, K_frames = self.cameras(sampled, prepared.K, settings.translation_scale)
        with timer.stage("depth"):
            depth_map = self._depth(prepared, depth)
        with timer.stage("scene"):
            cloud = self.build_scene(
                prepared,
                depth_map,
                remove_outliers=settings.remove_outliers,
                outlier_statistic=settings.outlier_statistic,
            )
        with timer.stage("preview"):
            preview = self.render_preview(cloud, c2w, K_frames, settings.shaping)
        with timer.stage("encode"):
            conditions = self.encode_conditions(prepared, preview, settings, generator, end)
        with timer.stage("camera"):
            camera = self.build_camera_condition(c2w, K_frames, generator)
        step_times: list[float] = []
        with timer.stage("denoise"):
            latents = self.denoise(
                conditions, camera, preview, settings, generator, on_step_end=_timed(step_times, on_step_end)
            )
        with timer.stage("decode"):
            frames = self.decode(latents, settings.decode_chunk)
        metadata = self._metadata(settings, sampled, c2w, K_frames, preview, conditions, depth, timer, step_times)
        return GenerationResult(frames, latents.cpu(), preview, c2w, K_frames, metadata)

    def _end_image(self, prepared: PreparedImage, end_image: Any, settings: GenerationSettings) -> PreparedImage | None:
        if settings.mode == "interp":
            if end_image is None:
                raise ValueError("mode 'interp' needs an end image")
            return self.prepare_image(end_image)
        if end_image is not None:
            raise ValueError(f"an end image is only used in mode 'interp', not {settings.mode!r}")
        return prepared if settings.mode == "loop" else None

    def _depth(self, prepared: PreparedImage, depth: Tensor | None) -> Tensor:
        if depth is None:
            return self.estimate_depth(prepared)
        from realcam.scene.depth_io import validate_depth

        depth = validate_depth(torch.as_tensor(depth, dtype=torch.float32))
        if tuple(depth.shape) != tuple(self.model.config.pixel_hw):
            raise ValueError(f"depth must be (H W) = {self.model.config.pixel_hw}, got {tuple(depth.shape)}")
        return depth

    def resolve_trajectory(self, trajectory: TrajectoryLike, mode: Mode = "i2v") -> SampledTrajectory:
        """A Trajectory, SampledTrajectory, preset name or trajectory file -> `frames` sampled cameras (loop mode:
        see `loop_trajectory`)."""
        from realcam.pipeline.modes import loop_trajectory

        sampled = resolve_trajectory(trajectory, self.model.config.frames)
        return loop_trajectory(sampled) if mode == "loop" else sampled

    def cameras(self, sampled: SampledTrajectory, K_image: Tensor, scale: float) -> tuple[Tensor, Tensor]:
        """Relative metric c2w (f 4 4, frame 0 = identity, translations × scale) and K (f 3 3): the image's K for
        every frame, or the trajectory's per-frame FOV (zooms) when it has one."""
        H, W = self.model.config.pixel_hw
        c2w = cond.scaled_relative_c2w(sampled.c2w[None], 0, scale)[0]
        if sampled.fov_deg is not None:
            K = sampled.K_for(H, W).float()
        else:
            K = K_image.float().expand(sampled.num_frames, 3, 3).clone()
        return c2w, K

    def _metadata(
        self,
        settings: GenerationSettings,
        sampled: SampledTrajectory,
        c2w: Tensor,
        K: Tensor,
        preview: Preview,
        conditions: Conditions,
        depth: Tensor | None,
        timer: StageTimer,
        step_times: list[float],
    ) -> dict[str, Any]:
        from realcam.trajectory.io import trajectory_to_json

        return {
            "model": self.model.config.name,
            "settings": dataclasses.asdict(settings),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "fs": int(conditions.fs[0]),
            "depth_source": "given" if depth is not None else "model",
            "metric_scale": {"translation_scale": settings.translation_scale, "units": "metres"},
            "trajectory": trajectory_to_json(sampled, None),
            "cameras": {"c2w": c2w.tolist(), "K": K.tolist()},
            "coverage_per_frame": [round(float(x), 4) for x in preview.coverage],
            "timings_s": {k: round(v, 4) for k, v in timer.seconds.items()},
            "step_times_s": [round(t, 4) for t in step_times],
            "peak_memory_bytes": timer.peak_bytes,
            "peak_memory_kind": timer.memory_kind,
        }


def _timed(sink: list[float], inner: Callable[[DDIMStep], None] | None) -> Callable[[DDIMStep], None]:
    """on_step_end that records the wall time of each step (CUDA-synchronised by the .item-free clock)."""
    last = [time.perf_counter()]

    def hook(step: DDIMStep) -> None:
        if step.x_prev.is_cuda:
            torch.cuda.synchronize(step.x_prev.device)
        now = time.perf_counter()
        sink.append(now - last[0])
        last[0] = now
        if inner is not None:
            inner(step)

    return hook


def _draw(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype, folded: bool = False
) -> Tensor:
    """N(0, 1) drawn on the (CPU) generator then moved, so a seed gives the same numbers on every device.
    `folded`: draw a (b c f h w) tensor in the reference's ((b f) c h w) order."""
    if folded:
        b, c, f, h, w = shape
        eps = torch.randn((b * f, c, h, w), generator=generator).reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
    else:
        eps = torch.randn(shape, generator=generator)
    return eps.to(device=device, dtype=dtype).contiguous()


def load_image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """An RGB uint8 (h w 3) array from an array or an image file (EXIF orientation applied; see realcam.io.images)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be an (h w 3) uint8 RGB array, got {image.shape} {image.dtype}")
        from realcam.io.images import check_image_size

        check_image_size(image.shape[0], image.shape[1])
        return image
    from realcam.io.images import read_image

    return read_image(image)


def resolve_trajectory(trajectory: TrajectoryLike, frames: int) -> SampledTrajectory:
    """Trajectory object, preset name or file -> SampledTrajectory of `frames` cameras."""
    from realcam.trajectory import load_trajectory, make_preset
    from realcam.trajectory.presets import preset_names

    if isinstance(trajectory, SampledTrajectory):
        if trajectory.num_frames != frames:
            raise ValueError(f"trajectory has {trajectory.num_frames} frames, the model makes {frames}")
        return trajectory
    if isinstance(trajectory, Trajectory):
        return trajectory.sample(frames)
    if isinstance(trajectory, str) and trajectory in preset_names():
        return make_preset(trajectory).sample(frames)
    path = Path(trajectory)
    if not path.is_file():
        raise ValueError(f"trajectory {str(trajectory)!r} is neither a preset name nor a file")
    return load_trajectory(path).sample(frames)


# Moved to realcam.checkpoints (issue 6); kept importable from here for callers.
from realcam.checkpoints.realcam_files import load_realcam_weights  # noqa: E402


def _is_full_realcam_file(path: Path) -> bool:
    """Whether a RealCam-I2V file holds the whole model (no base needed), from its key names only."""
    from realcam.checkpoints.assemble import realcam_file_kind
    from realcam.checkpoints.coverage import read_key_shapes

    return realcam_file_kind(read_key_shapes(path)) == "full"
