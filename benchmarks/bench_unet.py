"""Time one forward of the full-size RealCam-I2V UNet (random weights) and record it in docs/benchmarks.md.

CPU runs use a small latent (default 16x16, 4 frames) so that one call stays in seconds; on CUDA the released
sizes (32x32 or 40x64 latents, 16 frames) are practical. The camera condition is random pose features plus random
boolean epipolar masks (about 10 % True) at the strides the released model uses: timings depend on the mask shape,
not its content.

Usage:
    python benchmarks/bench_unet.py --device cpu --latent 16 16 --frames 4
    python benchmarks/bench_unet.py --device cuda --dtype float16 bfloat16 --latent 32 32 --frames 16
Results (the rows of this run) replace the "## UNet forward" section of docs/benchmarks.md unless --no-write.
FLOPs of the forward are counted with FlopCounterMode on the meta device (`realcam.pipeline.benchmark.unet_flops`:
convolutions, linear layers and attention matmuls; masked attention counts as dense) and give the achieved TFLOP/s.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realcam.io.atomic import write_text_atomic  # noqa: E402
from realcam.models.camera.condition import CameraCondition  # noqa: E402
from realcam.models.realcam_i2v import RealCamI2VConfig  # noqa: E402
from realcam.models.unet import UNetConfig, UNetModel  # noqa: E402
from realcam.pipeline.benchmark import unet_flops  # noqa: E402

SECTION = "## UNet forward"
MASK_STRIDES = {"256": (8, 16, 32, 64), "512": (16, 32, 64)}  # the 512 model has no mask at the finest level


def build_model(resolution: str, device: torch.device, dtype: torch.dtype, seed: int) -> UNetModel:
    """Full-size UNet with N(0, 0.02) weights (init cost matters here, not the values), in eval mode."""
    with torch.device("meta"):
        model = UNetModel(UNetConfig.preset(resolution))
    model = model.to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=g)
    return model.to(dtype).eval()


def build_inputs(model: UNetModel, b: int, f: int, h: int, w: int, resolution: str, camera: bool, seed: int):
    """x (b 8 f h w), t (b,), context (b 77+16f 1024), fs (b,), CameraCondition or None, on the model's device."""
    p = next(model.parameters())
    device, dtype = p.device, p.dtype
    g = torch.Generator(device=device).manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, device=device).to(dtype)

    x = randn(b, 8, f, h, w)
    t = torch.full((b,), 637, device=device)
    context = randn(b, 77 + 16 * f, model.config.context_dim)
    fs = torch.full((b,), model.config.default_fs, device=device)
    if not camera:
        return x, t, context, fs, None
    widths = model.config.level_widths
    features = tuple(randn(b, c, f, h >> i, w >> i) for i, c in enumerate(widths))
    masks = {}
    for stride in MASK_STRIDES[resolution]:
        n = f * (8 * h // stride) * (8 * w // stride)
        if n:
            masks[stride] = torch.rand(b, n, n, generator=g, device=device) < 0.1
    return x, t, context, fs, CameraCondition(features=features, epipolar_masks=masks, origin_hw=(8 * h, 8 * w))


def time_forward(model: UNetModel, inputs, repeats: int) -> tuple[float, float]:
    """Median and min seconds of `repeats` forwards after one warm-up call."""
    x, t, context, fs, camera = inputs
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            sync()
            start = time.perf_counter()
            model(x, t, context, fs, camera)
            sync()
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


HEADER = [
    "| model | device | dtype | b x f x h x w (latent) | camera | median s | min s | TFLOP | TFLOP/s (median) "
    "| peak GiB | build s | machine |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]
INTRO = (
    "Full-size UNet (1.50 B parameters incl. the camera plug-in), random weights, one forward (eps/v prediction) "
    "timed as median/min after one warm-up; `camera` = with the pose features and epipolar masks (about 10 % True). "
    "TFLOP = FLOPs of one forward (FlopCounterMode on the meta device: convolutions, linear layers, attention "
    "matmuls; a masked attention counts as dense); TFLOP/s = TFLOP / median. "
    "Produced by `benchmarks/bench_unet.py`; a run replaces the rows with the same first five columns."
)


def _row_key(row: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in row.strip("|").split("|")[:5])


def update_section(path: Path, rows: list[str]) -> None:
    """Merge `rows` into the table of the "## UNet forward" section of `path` (created if absent), replacing rows
    with the same model/device/dtype/shape/camera and leaving every other section untouched."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    end = start
    old_rows: list[str] = []
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        old_rows = [line for line in lines[start + 1 : end] if line.startswith("| ") and line not in HEADER]
    new_keys = {_row_key(r) for r in rows}
    merged = [r for r in old_rows if _row_key(r) not in new_keys] + rows
    section = [SECTION, "", INTRO, "", *HEADER, *merged, ""]
    if start is None:
        lines = [*lines, *([""] if lines and lines[-1] else []), *section]
    else:
        lines = [*lines[:start], *section, *lines[end:]]
    write_text_atomic(path, "\n".join(lines).rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", choices=["256", "512"], default="256")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", nargs="+", default=None, help="float32 / float16 / bfloat16 (default per device)")
    parser.add_argument("--latent", nargs=2, type=int, default=[16, 16], metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", default="", help="free text appended to the machine column (e.g. 'shared host')")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    dtypes = args.dtype or (["float16", "bfloat16"] if device.type == "cuda" else ["float32"])
    h, w = args.latent
    machine = (
        f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    if args.note:
        machine = f"{machine}; {args.note}"
    rows = []
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        start = time.perf_counter()
        model = build_model(args.resolution, device, dtype, args.seed)
        build_s = time.perf_counter() - start
        for camera in (False, True):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            inputs = build_inputs(model, args.batch, args.frames, h, w, args.resolution, camera, args.seed + 1)
            median, best = time_forward(model, inputs, args.repeats)
            peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f}" if device.type == "cuda" else "-"
            config = RealCamI2VConfig.preset(args.resolution, depth=None)
            flops = unet_flops(config, frames=args.frames, latent_hw=(h, w), batch=args.batch, camera=camera) / 1e12
            row = (
                f"| {args.resolution} | {device.type} | {dtype_name} | {args.batch}x{args.frames}x{h}x{w} | "
                f"{'yes' if camera else 'no'} | {median:.3f} | {best:.3f} | {flops:.4g} | {flops / median:.4g} | "
                f"{peak} | {build_s:.1f} | {machine} |"
            )
            print(row, flush=True)
            rows.append(row)
        del model

    if not args.no_write:
        update_section(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
