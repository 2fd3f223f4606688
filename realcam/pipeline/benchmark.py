"""Size hardware before downloading: run the whole pipeline with random weights and report per-stage time and memory.

The model is built at its real size (or the tiny test size) with random weights, the demo room is the input (the
depth network still runs on it, so its cost is measured), and the (meaningless) video is written. Stages are the
pipeline's named steps; on CUDA each stage's peak allocated memory is reset and read separately, on CPU the value is
the process's peak resident memory so far (monotone).
"""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from realcam.pipeline.i2v import GenerationResult, GenerationSettings, RealCamPipeline


@dataclass(frozen=True)
class BenchSettings:
    """variant '256'/'512'; size 'full' (released sizes) or 'tiny'; steps; device; dtype; seed; trajectory preset;
    max_batch (UNet batch limit); warmup: run once with 1 step first, so one-time costs (kernel selection, caches)
    stay out of the timings."""

    variant: str = "256"
    size: str = "tiny"
    steps: int = 25
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    seed: int = 0
    preset: str = "orbit-left"
    max_batch: int | None = None
    warmup: bool = True

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
        "memory_kind": "cuda max_memory_allocated per stage"
        if torch.device(settings.device).type == "cuda"
        else "process peak RSS so far",
    }
    return report, result


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
    return "\n".join(lines)
