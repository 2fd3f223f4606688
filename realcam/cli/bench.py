"""`realcam bench`: run the whole pipeline with random weights; print and save per-stage time and peak memory."""

from __future__ import annotations

import argparse
from pathlib import Path

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the pipeline with random weights (size your hardware before downloading)",
        description="Build the model with random weights (no download), generate once on the demo room and report "
        "the time and peak memory of each stage (depth, scene, preview, encode, camera, denoise, decode), the UNet "
        "FLOPs per step and per video (counted on the meta device) and the achieved TFLOP/s, with the fraction of "
        "the device's peak on CUDA. The video it writes is meaningless. --size full needs the memory of the real "
        "model (about 15 GB in fp32).",
    )
    parser.add_argument("--model", choices=("256", "512"), default="256")
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default=None, help="default fp16 on GPU, fp32 on CPU")
    parser.add_argument("--max-batch", type=int, default=None, help="UNet batch limit (1 = CFG branches in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak TFLOP/s for the utilisation figure (default: known GPUs' dense fp16/bf16 peak, "
        "e.g. 989 for H100/H200)",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("realcam-bench"), help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from realcam.io.atomic import write_text_atomic
    from realcam.io.sidecar import environment_versions
    from realcam.pipeline.benchmark import BenchSettings, format_report, run_benchmark

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, DTYPES[args.dtype or ("fp16" if device.startswith("cuda") else "fp32")])
    settings = BenchSettings(
        variant=args.model,
        size=args.size,
        steps=args.steps,
        device=device,
        dtype=dtype,
        seed=args.seed,
        max_batch=args.max_batch,
        peak_tflops=args.peak_tflops,
    )
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{args.model}-{args.size}-{device.split(':')[0]}"
    report, _ = run_benchmark(settings, args.output / f"{stem}.mp4")
    report["versions"] = environment_versions()
    write_text_atomic(args.output / f"{stem}.json", json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    print(f"saved {args.output / (stem + '.json')} and {stem}.mp4")
    return 0
