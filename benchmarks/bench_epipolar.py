"""Time and memory of the epipolar attention masks at the released sizes (16 frames; 256x256 and 320x512 pixels).

Each configuration runs in a fresh process, so the peak-RSS growth it reports belongs to that one call: the masks
themselves (one bool per query/key pair) plus every intermediate. The reference builds the stride-8 mask of the 256
model from a float32 distance tensor of about 1 GiB; realcam builds it per frame pair (no n x n float intermediate).
CUDA rows (peak allocated) are added when a device is present.

Usage:
    python benchmarks/bench_epipolar.py                  # prints markdown rows for docs/benchmarks.md
Prints the rows of the "## Epipolar masks" section (paste them there; no file is written).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (("256", 256, 256, (8,)), ("256", 256, 256, (64, 32, 16, 8)), ("512", 320, 512, (64, 32, 16)))

CHILD = """
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
from realcam.models.camera.epipolar import epipolar_masks
height, width, strides, device = {height}, {width}, {strides}, {device!r}
g = torch.Generator(device=device).manual_seed(0)
rel = torch.eye(4, device=device).repeat(1, 16, 1, 1)
rel[0, :, :3, 3] = torch.randn(16, 3, generator=g, device=device) * 0.3
K = torch.tensor([[0.8 * width, 0, width / 2], [0, 0.8 * width, height / 2], [0, 0, 1.0]], device=device)
K = K.repeat(1, 16, 1, 1)
epipolar_masks(rel, K, height, width, [64], generator=g)  # warm-up (allocator, kernels) at the coarsest stride
if device == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
masks = epipolar_masks(rel, K, height, width, strides, generator=g)
if device == "cuda":
    torch.cuda.synchronize()
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out_mib = sum(m.numel() * m.element_size() for m in masks.values()) / 2**20
peak_mib = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else (after - before) / 1024
print(json.dumps({{"seconds": seconds, "out_mib": out_mib, "peak_mib": peak_mib}}))
"""


def run(model: str, height: int, width: int, strides: tuple[int, ...], device: str) -> dict:
    code = CHILD.format(root=str(ROOT), height=height, width=width, strides=list(strides), device=device)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per configuration (median)")
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    machine = f"{platform.machine()}, torch {torch.__version__}, {datetime.date.today().isoformat()}"
    print("| model | pixels | strides | device | masks MiB | peak MiB (growth) | extra over the masks MiB | median s |")
    print("|---|---|---|---|---|---|---|---|")
    for device in devices:
        for model, height, width, strides in CONFIGS:
            runs = sorted(
                (run(model, height, width, strides, device) for _ in range(args.repeats)), key=lambda r: r["seconds"]
            )
            mid = runs[len(runs) // 2]
            peak = sorted(r["peak_mib"] for r in runs)[len(runs) // 2]
            print(
                f"| {model} | {height}x{width} | {', '.join(map(str, strides))} | {device} | {mid['out_mib']:.0f} | "
                f"{peak:.0f} | {peak - mid['out_mib']:.0f} | {mid['seconds']:.3f} |"
            )
    print(f"\nmachine: {machine}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
