"""Size hardware before downloading: run the whole pipeline with random weights and report per-stage time and memory.

The model is built at its real size (or the tiny test size) with random weights, the demo room is the input (the
depth network still runs on it, so its cost is measured), and the (meaningless) video is written. Stages are the
pipeline's named steps; on CUDA each stage's peak allocated memory is reset and read separately, on CPU the value is
the highest process RSS sampled during the stage (it includes what earlier stages still hold).

FLOPs: one UNet forward is counted with `torch.utils.flop_counter.FlopCounterMode` on a copy of the UNet built on
the `meta` device (no memory, no arithmetic), at the model's latent size with the epipolar masks of its strides.
Convolutions, linear layers and attention (SDPA, counted as its matmuls QK^T and AV; a boolean mask does not reduce
the count, so masked epipolar attention counts as dense, as a dense kernel computes it) are included; norms,
activations and softmax are not (a few percent). Per step = per forward x the CFG branches; per video = per step x
steps. Achieved TFLOP/s = UNet FLOPs of the run / the denoise stage's seconds (which also holds the small sampler and
noise-shaping work).
"""

from __future__ import annotations

import dataclasses
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from realcam.models.realcam_i2v import RealCamI2VConfig
from realcam.pipeline.i2v import GenerationResult, GenerationSettings, RealCamPipeline

# Dense bf16/fp16 tensor-core peak (TFLOP/s, no sparsity) of data-centre GPUs, from the vendors' data sheets, matched
# against torch.cuda.get_device_name in order. Other devices or float32: pass --peak-tflops.
PEAK_TFLOPS_16BIT = {
    r"\bH200\b": 989.0,
    r"\bH100\b.*PCIe": 756.0,
    r"\bH100\b": 989.0,
    r"\bA100\b": 312.0,
    r"\bL40S\b": 362.0,
}


@dataclass(frozen=True)
class BenchSettings:
    """variant '256'/'512'; size 'full' (released sizes) or 'tiny'; steps; device; dtype; seed; trajectory preset;
    max_batch (UNet batch limit); warmup: run once with 1 step first, so one-time costs (kernel selection, caches)
    stay out of the timings; peak_tflops: the device's peak for the utilisation figure (None: `peak_tflops_for`)."""

    variant: str = "256"
    size: str = "tiny"
    steps: int = 25
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    seed: int = 0
    preset: str = "orbit-left"
    max_batch: int | None = None
    warmup: bool = True
    peak_tflops: float | None = None

    def __post_init__(self) -> None:
        if self.variant not in ("256", "512"):
            raise ValueError(f"variant must be '256' or '512', got {self.variant!r}")
        if self.size not in ("full", "tiny"):
            raise ValueError(f"size must be 'full' or 'tiny', got {self.size!r}")


def random_pipeline(settings: BenchSettings) -> tuple[RealCamPipeline, float]:
    """A pipeline over a randomly initialised model (no download), and the build time in seconds.

    Full size: the modules' default initialisation, built directly on the device (timings do not depend on values).
    Tiny: `tiny_model` (every parameter drawn). The byte-level `tiny_tokenizer` serves both (its ids are valid in the
    full vocabulary)."""
    from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig
    from realcam.pipeline.tiny import tiny_model, tiny_tokenizer

    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    if settings.size == "tiny":
        model = tiny_model(settings.variant, seed=settings.seed)
    else:
        with torch.device(settings.device):
            model = RealCamI2V(RealCamI2VConfig.preset(settings.variant))
    pipe = RealCamPipeline(model, tiny_tokenizer(), device=settings.device, dtype=settings.dtype)
    if torch.device(settings.device).type == "cuda":
        torch.cuda.synchronize()
    return pipe, time.perf_counter() - start


def run_benchmark(settings: BenchSettings, output: Path | None = None) -> tuple[dict[str, Any], GenerationResult]:
    """Build, generate once on the demo room, optionally write the video; return the report and the result."""
    from realcam.scene.demo import demo_scene

    pipe, build_s = random_pipeline(settings)
    H, W = pipe.model.config.pixel_hw
    scene = demo_scene(H, W)
    generation = GenerationSettings(
        prompt="a room", steps=settings.steps, seed=settings.seed, max_batch=settings.max_batch
    )
    if settings.warmup:
        pipe(scene.image, settings.preset, dataclasses.replace(generation, steps=1), K=scene.K)
    start = time.perf_counter()
    result = pipe(scene.image, settings.preset, generation, K=scene.K)
    total_s = time.perf_counter() - start
    if output is not None:
        from realcam.io.video import write_video

        write_video(output, result.frames, fps=8)
    params = sum(p.numel() for p in pipe.model.parameters())
    peak = settings.peak_tflops
    if peak is None and torch.device(settings.device).type == "cuda":
        peak = peak_tflops_for(_device_name(settings.device), settings.dtype)
    flops = flop_report(pipe.model.config, generation, result.metadata["timings_s"]["denoise"], peak_tflops=peak)
    report = {
        "variant": settings.variant,
        "size": settings.size,
        "pixel_hw": list(pipe.model.config.pixel_hw),
        "frames": pipe.model.config.frames,
        "parameters": params,
        "steps": settings.steps,
        "device": settings.device,
        "device_name": _device_name(settings.device),
        "dtype": str(settings.dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "build_s": round(build_s, 3),
        "total_s": round(total_s, 3),
        "stages_s": result.metadata["timings_s"],
        "step_s": result.metadata["step_times_s"],
        "peak_memory_bytes": result.metadata["peak_memory_bytes"],
        "memory_kind": result.metadata["peak_memory_kind"],
        "flops": flops,
    }
    return report, result


def unet_flops(
    config: RealCamI2VConfig,
    *,
    frames: int | None = None,
    latent_hw: tuple[int, int] | None = None,
    batch: int = 1,
    camera: bool = True,
) -> int:
    """FLOPs of one UNet forward at the model's latent size (module docstring for what is counted).

    Runs the forward under `FlopCounterMode` on the `meta` device: nothing is allocated or computed, so the full-size
    models are counted on any machine (seconds to tens of seconds on a busy CPU: meta kernels run in Python). Meta
    also makes SDPA count on every host: it decomposes into matmuls, whereas the CPU's fused SDPA kernel
    (`_scaled_dot_product_flash_attention_for_cpu`) has no flop formula in torch and would be silently skipped.
    `frames` / `latent_hw` override the clip length and latent size (default: the model's); `camera` adds the pose
    features and the epipolar masks at `config.epipolar_strides`.
    Shapes fed: x (batch 8 f h w), context (batch 77+16f d), masks (batch n n) with n = f·(H/stride)·(W/stride).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from realcam.models.camera.condition import CameraCondition
    from realcam.models.unet import UNetModel

    f = frames or config.frames
    h, w = latent_hw or config.latent_hw
    factor = config.vae.downsample_factor
    H, W = h * factor, w * factor
    with torch.device("meta"):
        unet = UNetModel(config.unet).eval()
        x = torch.zeros(batch, config.unet.in_channels, f, h, w)
        t = torch.full((batch,), 500, dtype=torch.long)
        context = torch.zeros(batch, 77 + config.resampler.num_queries * f, config.unet.context_dim)
        fs = torch.full((batch,), config.default_fs, dtype=torch.long)
        cam = None
        if camera:
            widths = config.unet.level_widths
            features = tuple(torch.zeros(batch, c, f, h >> i, w >> i) for i, c in enumerate(widths))
            masks = {}
            for stride in config.epipolar_strides:
                n = f * (H // stride) * (W // stride)
                masks[stride] = torch.ones(batch, n, n, dtype=torch.bool)
            cam = CameraCondition(features=features, epipolar_masks=masks, origin_hw=(H, W))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(x, t, context, fs=fs, camera=cam)
    return int(counter.get_total_flops())


def cfg_branches(settings: GenerationSettings) -> int:
    """UNet forwards per DDIM step: 1 (no CFG), 2 (text+image CFG) or 3 (+ camera CFG)."""
    guidance = settings.sampler().guidance
    return 1 + int(guidance.uses_uncond) + int(guidance.uses_camera_free)


def peak_tflops_for(device_name: str, dtype: torch.dtype) -> float | None:
    """Dense 16-bit tensor-core peak of a known GPU (`PEAK_TFLOPS_16BIT`), or None (unknown device or float32)."""
    if dtype not in (torch.float16, torch.bfloat16):
        return None
    for pattern, peak in PEAK_TFLOPS_16BIT.items():
        if re.search(pattern, device_name):
            return peak
    return None


def flop_report(
    config: RealCamI2VConfig, settings: GenerationSettings, denoise_s: float, *, peak_tflops: float | None = None
) -> dict[str, Any]:
    """UNet FLOPs per forward / step / video, achieved TFLOP/s over `denoise_s`, and the fraction of `peak_tflops`."""
    per_forward = unet_flops(config)
    branches = cfg_branches(settings)
    per_video = per_forward * branches * settings.steps
    achieved = per_video / denoise_s / 1e12 if denoise_s > 0 else None
    return {
        "unet_tflop_per_forward": _significant(per_forward / 1e12),
        "unet_tflop_per_step": _significant(per_forward * branches / 1e12),
        "unet_tflop_per_video": _significant(per_video / 1e12),
        "cfg_branches": branches,
        "achieved_tflops": _significant(achieved) if achieved is not None else None,
        "peak_tflops": peak_tflops,
        "fraction_of_peak": _significant(achieved / peak_tflops) if achieved is not None and peak_tflops else None,
    }


def _significant(value: float, digits: int = 5) -> float:
    return float(f"{value:.{digits}g}")


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of one report."""
    gib = 1024**3
    lines = [
        f"model {report['variant']} ({report['size']}, {report['pixel_hw'][0]}x{report['pixel_hw'][1]}x"
        f"{report['frames']}, {report['parameters'] / 1e6:.1f} M params) on {report['device']} "
        f"({report['device_name']}, {report['dtype']}), {report['steps']} steps",
        f"{'stage':<10} {'time s':>9} {'peak GiB':>9}",
    ]
    for stage, seconds in report["stages_s"].items():
        lines.append(f"{stage:<10} {seconds:>9.3f} {report['peak_memory_bytes'].get(stage, 0) / gib:>9.2f}")
    steps = report["step_s"]
    if steps:
        lines.append(f"{'per step':<10} {sum(steps) / len(steps):>9.3f}   (mean of {len(steps)})")
    lines.append(f"{'total':<10} {report['total_s']:>9.3f}   (+ build {report['build_s']:.1f} s)")
    flops = report.get("flops")
    if flops:
        line = (
            f"UNet FLOPs: {flops['unet_tflop_per_step']:.4g} TFLOP/step ({flops['cfg_branches']} forwards), "
            f"{flops['unet_tflop_per_video']:.4g} TFLOP/video; achieved {flops['achieved_tflops']:.4g} TFLOP/s"
        )
        if flops["fraction_of_peak"] is not None:
            line += f" = {100 * flops['fraction_of_peak']:.1f} % of the {flops['peak_tflops']:g} TFLOP/s peak"
        lines.append(line)
    lines.append(f"peak memory: {report['memory_kind']}")
    return "\n".join(lines)
