"""Time the whole RealCam-I2V pipeline per stage (random weights) and record it in docs/benchmarks.md.

Stages are the pipeline's named steps: prepare (image + trajectory), depth (the model's Depth-Anything-V2 on the
demo image), scene (lift + outlier filter), preview (render + latent mask), encode (VAE of image and preview, CLIP
text/image, resampler), camera (Plücker, pose encoder, epipolar masks), denoise (all DDIM steps, CFG branches batched;
the mean step is reported too), decode (VAE, 4 frames per call). Peak memory: CUDA max allocated per stage; on CPU
the highest process RSS sampled within a stage. UNet FLOPs per video (FlopCounterMode on the meta device) and the
achieved TFLOP/s of the denoise stage; on CUDA also the fraction of the peak (--peak-tflops, or the known table).

Usage:
    python benchmarks/bench_pipeline.py --size tiny --variant 256 512 --steps 25             (CPU, minutes)
    python benchmarks/bench_pipeline.py --size full --variant 256 512 --device cuda --dtype float16
Rows of this run replace rows with the same variant/size/device/dtype/steps in the "## Pipeline" section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realcam.io.atomic import write_text_atomic  # noqa: E402
from realcam.pipeline.benchmark import BenchSettings, format_report, run_benchmark  # noqa: E402

SECTION = "## Pipeline"
STAGES = ("prepare", "depth", "scene", "preview", "encode", "camera", "denoise", "decode")
INTRO = (
    "Whole pipeline on the demo room, random weights (`realcam bench` / `benchmarks/bench_pipeline.py`): seconds per "
    "stage, the mean DDIM step (CFG branches batched, noise shaping on), total, UNet TFLOP per video (counted with "
    "FlopCounterMode on the meta device; 2 CFG branches per step) and the achieved TFLOP/s of the denoise stage (% of "
    "the device peak on CUDA), and peak memory (CUDA: the largest per-stage max allocated; CPU: the largest process "
    "RSS sampled every 5 ms within a stage), after a 1-step warm-up run. `tiny` = the test-size model (64x64 / 64x128 "
    "pixels, 16 frames, 4.9 M parameters): it exercises every stage but says little about full-size cost; use "
    "`--size full` on the target machine for that (the UNet-only rows above give the full-size step cost on CPU). "
    "Not measured yet: full size on CPU (about 15 GB of RAM in fp32 and minutes per UNet call on the shared host) "
    "and anything on GPU (none was lent to this task); `realcam bench --size full --device cuda` produces both rows."
)
HEADER = [
    "| model | size | device | dtype | steps | "
    + " | ".join(STAGES)
    + " | step mean | total s | UNet TFLOP/video | TFLOP/s | peak GiB | machine |",
    "|" + "---|" * (len(STAGES) + 11),
]


def row(report: dict, note: str) -> str:
    stages = [f"{report['stages_s'].get(s, 0.0):.2f}" for s in STAGES]
    steps = report["step_s"]
    peak = max(report["peak_memory_bytes"].values()) / 1024**3
    machine = f"{report['device_name']}, {report['torch_threads']} threads, torch {torch.__version__}"
    if note:
        machine += f"; {note}"
    cells = [report["variant"], report["size"], report["device"], report["dtype"], str(report["steps"]), *stages]
    flops = report["flops"]
    achieved = f"{flops['achieved_tflops']:.3g}"
    if flops["fraction_of_peak"] is not None:
        achieved += f" ({100 * flops['fraction_of_peak']:.0f} % of {flops['peak_tflops']:g})"
    cells += [f"{sum(steps) / max(1, len(steps)):.3f}", f"{report['total_s']:.2f}"]
    cells += [f"{flops['unet_tflop_per_video']:.4g}", achieved, f"{peak:.2f}", machine]
    return "| " + " | ".join(cells) + " |"


def _key(line: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in line.strip("|").split("|")[:5])


def update_section(path: Path, rows: list[str]) -> None:
    """Merge rows into the "## Pipeline" section (appended if absent); other sections stay untouched."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    old: list[str] = []
    kept: list[str] = []
    end = start
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        # Subsections ("### ...", e.g. the full-size FLOP table) are kept as they are, after the table.
        sub = next((i for i in range(start + 1, end) if lines[i].startswith("### ")), end)
        kept = lines[sub:end]
        old = [line for line in lines[start + 1 : sub] if line.startswith("| ") and line not in HEADER]
    keys = {_key(r) for r in rows}
    section = [SECTION, "", INTRO, "", *HEADER, *[r for r in old if _key(r) not in keys], *rows, ""]
    if kept:
        section = [*section, *kept]
    if start is None:
        lines = [*lines, *([""] if lines and lines[-1] else []), *section]
    else:
        lines = [*lines[:start], *section, *lines[end:]]
    write_text_atomic(path, "\n".join(lines).rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", nargs="+", default=["256", "512"], choices=("256", "512"))
    parser.add_argument("--size", default="tiny", choices=("tiny", "full"))
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json-dir", type=Path, default=None, help="also save each report as JSON here")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--note", default="", help="free text for the machine column")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for the utilisation figure")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for variant in args.variant:
        settings = BenchSettings(
            variant=variant,
            size=args.size,
            steps=args.steps,
            device=args.device,
            dtype=getattr(torch, args.dtype),
            peak_tflops=args.peak_tflops,
        )
        report, _ = run_benchmark(settings)
        print(format_report(report), flush=True)
        rows.append(row(report, args.note))
        if args.json_dir:
            os.makedirs(args.json_dir, exist_ok=True)
            name = f"pipeline-{variant}-{args.size}-{args.device}-{args.dtype}.json"
            write_text_atomic(args.json_dir / name, json.dumps(report, indent=2) + "\n")
    print("\n".join([*HEADER, *rows]))
    if not args.no_write:
        update_section(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
