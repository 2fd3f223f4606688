"""Time the pure-PyTorch preview renderer: 16 frames from a full-resolution cloud of the demo room.

The cloud is the demo room lifted at 320x512 (one point per pixel, 163,840 points), rendered along the orbit-left preset
at 256x256 and 320x512 with point size 2 (the reference's preview settings). CUDA runs when a device is available
(timed with synchronisation). Each row is the median and minimum of several runs after one warm-up.

A second table times what a first `realcam preview --demo` pays before that: generating the demo room at 320x512
without the disk cache, loading it from the cache, and the first (cold) render call against a warm one.

Usage:
    python benchmarks/bench_renderer.py                 # cpu, and cuda when available
    python benchmarks/bench_renderer.py --threads 2 --repeats 15
Prints markdown rows for the "## Preview renderer" section of docs/benchmarks.md (paste them there; no file is written).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realcam.scene import demo  # noqa: E402
from realcam.scene.demo import demo_scene  # noqa: E402
from realcam.scene.lift import depth_to_pointcloud, resize_lift_K  # noqa: E402
from realcam.scene.render import render_points  # noqa: E402
from realcam.trajectory.presets import make_preset  # noqa: E402

SIZES = ((256, 256), (320, 512))


def time_render(cloud, c2w, K, height, width, device: torch.device, repeats: int, point_size: int) -> list[float]:
    """Wall-clock seconds of `repeats` renders (after one warm-up), synchronising CUDA around each."""

    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        render_points(cloud, c2w, K, height, width, point_size=point_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    once()
    return [once() for _ in range(repeats)]


def time_first_run(c2w: torch.Tensor, device: torch.device) -> list[tuple[str, float]]:
    """Seconds of: demo generation (no caches), a load from the disk cache (in a temporary folder), and the first and
    second render calls of this process (call before any other render)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.environ["REALCAM_CACHE"] = folder
        demo._render_cached.cache_clear()
        start = time.perf_counter()
        scene = demo_scene(320, 512)  # generates and writes the cache file
        generated = time.perf_counter() - start
        demo._render_cached.cache_clear()
        start = time.perf_counter()
        demo_scene(320, 512)
        loaded = time.perf_counter() - start
    cloud = depth_to_pointcloud(scene.image, scene.depth, scene.K, remove_outliers=False).to(device)
    renders = []
    for _ in range(2):
        start = time.perf_counter()
        render_points(cloud, c2w, scene.K, 320, 512)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        renders.append(time.perf_counter() - start)
    return [
        ("demo_scene 320x512, generated", generated),
        ("demo_scene 320x512, from the disk cache", loaded),
        ("render 16 frames 320x512, first call", renders[0]),
        ("render 16 frames 320x512, second call", renders[1]),
    ]


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"load avg {load:.1f} at start"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", nargs="+", default=None, help="devices (default: cpu, plus cuda if available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--point-size", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])

    c2w = make_preset("orbit-left").sample(args.frames).c2w
    first_device = torch.device(devices[0])
    print("| step | seconds | machine | date |")
    print("|---|---|---|---|")
    for step, seconds in time_first_run(c2w, first_device):
        print(f"| {step} | {seconds:.3f} | {machine(first_device)} | {datetime.date.today().isoformat()} |", flush=True)
    print()

    scene = demo_scene(320, 512)
    cloud_cpu = depth_to_pointcloud(scene.image, scene.depth, scene.K, remove_outliers=False)
    date = datetime.date.today().isoformat()
    print("| device | output h x w | frames | points | point size | median s | min s | frames/s | machine | date |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in devices:
        device = torch.device(name)
        cloud = cloud_cpu.to(device)
        for height, width in SIZES:
            s = max(height / 320, width / 512)
            K = resize_lift_K(scene.K.double(), s, s, left=(512 * s - width) / 2, top=(320 * s - height) / 2)
            times = time_render(cloud, c2w, K, height, width, device, args.repeats, args.point_size)
            median = statistics.median(times)
            print(
                f"| {name} | {height}x{width} | {args.frames} | {len(cloud)} | {args.point_size} | {median:.4f} | "
                f"{min(times):.4f} | {args.frames / median:.0f} | {machine(device)} | {date} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
