"""`realcam eval generate DATA --out RUN_DIR` (the evaluation set of a model), `realcam eval camera DIR` (RotErr /
TransErr / CamMC with pycolmap) and `realcam eval fvd REAL FAKE` (FVD)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


CAMERA_DESCRIPTION = """\
Estimate the camera of every video with pycolmap (global SfM, one fixed SIMPLE_PINHOLE camera from the ground-truth K,
seeded trials: seed = trial index) and compare it with the ground-truth camera. DIR is either the reference layout
(samples/*.mp4, camera_data/*.txt, optional gt_video/*.mp4; metric when DIR is a `realcam eval generate` run) or
`realcam generate` outputs (NAME.mp4 + NAME.json, whose recorded "cameras" -- the metric camera the video was
conditioned on -- are the ground truth).

Metrics (both trajectories made relative to frame 0; per-clip sums over the frames, each also as NAME_mean per frame):
  rot_err           sum of geodesic angles between GT and estimated rotations, radians
  trans_err_rel     sum of |t_est - t_gt|, each trajectory divided by its own extent (farthest camera from camera 0)
  cammc_rel         sum of Frobenius norms |[R|t]_est - [R|t]_gt| with the same normalisation
  trans_err_abs     metric scale, the reference's definition: estimate x depth factor (median Depth-Anything depth
  cammc_abs           / SfM depth on frame 0) against the SfM of gt_video/ x its factor, both divided by its extent
  trans_err_abs_gt  metric scale against the metric ground-truth camera directly (realcam sidecars, --gt-metric)
  cammc_abs_gt
  trans_err_m_gt    sum of |t_est - t_gt| in metres, not normalised
A trial fails unless SfM registers every frame; failures are counted (trial and sample failure rates), never
dropped. Results: DIR/eval_camera/ (trials*.jsonl, per_sample.csv, summary.json, trajectories.png); a rerun resumes.
Full definitions, the outlier filter, the no-camera sanity check and FVD: docs/evaluation.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a model: generate the test set, camera accuracy (SfM) and FVD"
    )
    commands = parser.add_subparsers(dest="eval_command", metavar="WHAT")
    _register_generate(commands)
    _register_camera(commands)
    _register_fvd(commands)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


GENERATE_DESCRIPTION = """\
Generate the evaluation set of a model from test clips: DATA is a `realcam data manifest` JSONL (with metric scales)
or the reference's test metadata .pth (videos under --data-root). Per clip, in source order, the first --max-samples:
16 frames at stride 8 (the largest stride that fits a shorter clip), a start index fixed per clip (drawn from a
generator seeded by SHA-256 of --seed and the clip id), condition frame 0, resize-to-cover + centre crop to the model
size (intrinsics updated exactly), cameras relative to frame 0 with translations x the condition frame's metric scale,
the caption as prompt, noise shaping from t >= 900 with the depth network's metric depth (--no-noise-shaping: off).
Writes RUN_DIR/samples/<clip_id>.mp4 (+ .json sidecar), gt_video/<clip_id>.mp4, camera_data/<clip_id>.txt (metric)
and generate.json (counts, skipped clips and why). A rerun skips finished samples. Then:
  realcam eval camera RUN_DIR        (the camera_data are recognised as metric)
  realcam eval fvd RUN_DIR/gt_video RUN_DIR/samples --detector i3d_pretrained_400.pt
Weights come from the cache (`realcam weights download`) unless given. Details: docs/evaluation.md.
"""


def _register_generate(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="generate the evaluation set (samples/, gt_video/, camera_data/) of a model from test clips",
        description=GENERATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("data", type=Path, help="test clips: a realcam manifest (.jsonl) or test metadata (.pth)")
    generate.add_argument("-o", "--out", type=Path, required=True, help="run folder (RUN_DIR)")
    generate.add_argument(
        "--data-root", type=Path, default=None, help="RealEstate10K root of a .pth's video paths (default: its folder)"
    )
    generate.add_argument("--model", choices=("256", "512"), default="256", help="model variant (default 256)")
    generate.add_argument("--base", type=Path, default=None, help="DynamiCrafter base .ckpt (default: the cache)")
    generate.add_argument(
        "--camera-plugin",
        type=Path,
        default=None,
        help="RealCam-I2V add-on .safetensors, e.g. the camera_plugin.safetensors `realcam train` writes, or a full "
        "RealCam-I2V file (default: the released add-on in the cache)",
    )
    generate.add_argument(
        "--depth-weights", type=Path, default=None, help="Depth-Anything-V2 metric indoor .pth (default: the cache)"
    )
    generate.add_argument(
        "--tokenizer", type=Path, default=None, help="folder with the CLIP vocab.json and merges.txt (default: cache)"
    )
    generate.add_argument("--max-samples", type=int, default=1000, help="the first N clips of DATA (default 1000)")
    generate.add_argument("--seed", type=int, default=0, help="base seed of the start indices and samples (default 0)")
    generate.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    generate.add_argument("--shard", default=None, help="generate only shard i of n (0-based), e.g. 0/8")
    generate.add_argument(
        "--no-noise-shaping", action="store_true", help="no noise shaping (the MSA-only row): no depth model needed"
    )
    generate.add_argument("--shaping-t0", type=int, default=900, help="shape noise at steps with t >= this (900)")
    generate.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    generate.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default=None, help="default fp16 on GPU")
    generate.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from realcam.cli.generate import _device_dtype
    from realcam.errors import InputError
    from realcam.eval.generate_set import GenerateSetConfig, generate_set, read_clips, report_path
    from realcam.eval.layout import parse_shard
    from realcam.pipeline.i2v import GenerationSettings, RealCamPipeline, ShapingSettings

    if args.max_samples < 1:
        raise InputError(f"--max-samples: expected a positive number, got {args.max_samples}")
    if args.steps < 1:
        raise InputError(f"--steps: expected a positive number, got {args.steps}")
    shard = parse_shard(args.shard) if args.shard else None
    clips = read_clips(args.data, args.data_root)
    shaping = ShapingSettings(enabled=not args.no_noise_shaping, t0=args.shaping_t0)
    config = GenerateSetConfig(
        settings=GenerationSettings(steps=args.steps, seed=args.seed, shaping=shaping),
        max_samples=args.max_samples,
        shard=shard,
    )
    device, dtype = _device_dtype(args)
    depth = "indoor" if shaping.enabled else None
    weights = _weight_paths(args)
    pipe = RealCamPipeline.from_pretrained(args.model, depth, device=device, dtype=dtype, paths=weights)
    pipe.set_progress_bar_config(leave=False)
    source = {
        "source": str(args.data),
        "data_root": None if args.data_root is None else str(args.data_root),
        "weights": {k: str(v) for k, v in weights.items()},
    }
    total = min(len(clips), args.max_samples)
    total = total if shard is None else len(range(shard[0], total, shard[1]))
    with tqdm(total=total, desc="eval generate", unit="sample") as bar:

        def done(clip_id: str, status: str) -> None:
            bar.update()
            bar.set_postfix_str(f"last {status}")

        report = generate_set(pipe, clips, args.out, config, source=source, on_sample_done=done)
    print(
        f"{report['clips_selected']} clips: {report['generated']} generated, {report['resumed']} already done, "
        f"{report['skipped']} skipped; report {report_path(args.out, shard)}"
    )
    for clip_id, reason in report["skipped_clips"].items():
        print(f"  skipped {clip_id}: {reason}")
    return 0


def _weight_paths(args: argparse.Namespace) -> dict[str, Path]:
    """--base / --camera-plugin / --depth-weights / --tokenizer as `RealCamPipeline.from_pretrained(paths=...)` keys;
    what is not given comes from the cache."""
    from realcam.checkpoints.hub import local_paths

    return local_paths(
        args.model,
        base=args.base,
        camera_plugin=args.camera_plugin,
        depth=None if args.no_noise_shaping else args.depth_weights,
        tokenizer_dir=args.tokenizer,
    )


def _register_camera(commands: argparse._SubParsersAction) -> None:
    camera = commands.add_parser(
        "camera",
        help="camera-pose metrics of generated videos by SfM (pycolmap)",
        description=CAMERA_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    camera.add_argument("dir", type=Path, help="folder with the videos to evaluate")
    camera.add_argument("--trials", type=int, default=5, help="SfM trials per sample, seed = trial index (default 5)")
    camera.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    camera.add_argument("--shard", default=None, help="evaluate only shard i of n (0-based), e.g. 0/4")
    camera.add_argument("-o", "--out", type=Path, default=None, help="output folder (default DIR/eval_camera)")
    camera.add_argument(
        "--depth-weights",
        type=Path,
        default=None,
        help="Depth-Anything-V2 ViT-L metric (Hypersim) .pth for the metric-scale metrics (default: the copy in "
        "realcam's weights cache, if any)",
    )
    camera.add_argument("--no-depth", action="store_true", help="skip the depth model: relative-scale metrics only")
    camera.add_argument("--device", default="cpu", help="device of the depth model (default cpu)")
    camera.add_argument(
        "--gt-metric",
        action="store_true",
        help="the reference layout's camera_data translations are metric (enables the *_abs_gt variant)",
    )
    camera.add_argument(
        "--outlier-sigma",
        type=float,
        default=None,
        help="drop trials more than this many pooled standard deviations from the mean (the reference uses 10)",
    )
    camera.add_argument("--baseline", type=Path, default=None, help="no-camera baseline run (folder or per_sample.csv)")
    camera.add_argument(
        "--report-only", action="store_true", help="run nothing; rebuild the reports from the trial records in --out"
    )
    camera.set_defaults(func=run_camera)


def _register_fvd(commands: argparse._SubParsersAction) -> None:
    fvd = commands.add_parser(
        "fvd",
        help="Fréchet Video Distance between two folders of videos",
        description="FVD with an I3D detector from a file you provide: the VideoGPT state dict "
        "i3d_pretrained_400.pt (variant 'videogpt', 400-d logits) or the StyleGAN-V TorchScript "
        "i3d_torchscript.pt (variant 'stylegan', features). Where to get them: docs/evaluation.md.",
    )
    fvd.add_argument("real_dir", type=Path, help="folder of real videos (*.mp4)")
    fvd.add_argument("fake_dir", type=Path, help="folder of generated videos (*.mp4)")
    fvd.add_argument("--detector", type=Path, required=True, help="i3d_pretrained_400.pt or i3d_torchscript.pt")
    fvd.add_argument("--variant", choices=("auto", "videogpt", "stylegan"), default="auto")
    fvd.add_argument("--batch-size", type=int, default=16)
    fvd.add_argument("--device", default="cpu")
    fvd.add_argument("-o", "--out", type=Path, default=None, help="write the result as JSON here")
    fvd.set_defaults(func=run_fvd)


def run_camera(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from realcam.eval.generate_set import is_metric_run
    from realcam.eval.harness import (
        DepthAnythingFactory,
        HarnessConfig,
        load_records,
        read_baseline,
        run_trials,
        write_reports,
    )
    from realcam.eval.layout import discover_samples, parse_shard, select_shard

    shard = parse_shard(args.shard) if args.shard else None
    if not args.gt_metric and is_metric_run(args.dir):
        logger.info("%s: an `eval generate` run, whose camera_data are metric: --gt-metric implied", args.dir)
        args.gt_metric = True
    config = HarnessConfig(trials=args.trials, workers=args.workers, outlier_sigma=args.outlier_sigma)
    samples = discover_samples(args.dir, gt_metric=args.gt_metric)
    if shard is not None:
        samples = select_shard(samples, shard)
    out = args.out or args.dir / "eval_camera"
    baseline = read_baseline(args.baseline) if args.baseline else None
    if args.report_only:
        names = {s.name for s in samples}
        records = [r for r in load_records(out) if r.name in names and r.trial < config.trials]
    else:
        weights = None if args.no_depth else (args.depth_weights or _cached_depth_weights())
        factory = DepthAnythingFactory(str(weights), args.device) if weights else None
        if factory is None:
            logger.info("no depth model: the metric-scale metrics (*_abs, *_abs_gt) are skipped")
        else:
            logger.info("metric factor from %s", weights)
        with tqdm(total=len(samples), desc="samples", unit="video") as bar:
            records = run_trials(
                samples, out, config=config, depth_factory=factory, shard=shard, on_sample_done=lambda _: bar.update()
            )
    summary = write_reports(records, samples, out, config, shard=shard, baseline_rot_err=baseline)
    _print_camera_summary(summary, out)
    return 0


def _cached_depth_weights() -> Path | None:
    from realcam.checkpoints.hub import WEIGHT_FILES, locate

    return locate(WEIGHT_FILES["depth-indoor"])


def _print_camera_summary(summary: dict, out: Path) -> None:
    print(
        f"{summary['samples']} samples, {summary['trials']} trials: trial failure rate "
        f"{_pct(summary['trial_failure_rate'])}, sample failure rate {_pct(summary['sample_failure_rate'])}"
    )
    for name, entry in summary["metrics"].items():
        if name.endswith("_mean") or entry["mean"] is None:
            continue
        print(
            f"  {name:<18} {entry['mean']:.4f} (per frame {summary['metrics'][name + '_mean']['mean']:.4f})  "
            f"samples {entry['samples']}, failed {_pct(entry['sample_failure_rate'])} of samples, "
            f"{_pct(entry['trial_failure_rate'])} of trials"
        )
    check = summary.get("camera_condition_check")
    if check and check.get("checked"):
        verdict = "FLAGGED: no better than the no-camera baseline" if check["flagged"] else "ok"
        rot, base = check["rot_err"], check["baseline_rot_err"]
        print(f"  camera-condition check: RotErr {rot:.4f} vs no-camera baseline {base:.4f}: {verdict}")
    print(f"reports in {out}")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def run_fvd(args: argparse.Namespace) -> int:
    import dataclasses

    from tqdm import tqdm

    from realcam.eval.fvd import compute_fvd, list_videos, load_detector
    from realcam.io.atomic import write_text_atomic

    detector = load_detector(args.detector, None if args.variant == "auto" else args.variant, device=args.device)
    total = len(list_videos(args.real_dir)) + len(list_videos(args.fake_dir))
    with tqdm(total=total, desc=f"I3D ({detector.variant})", unit="video") as bar:
        result = compute_fvd(args.real_dir, args.fake_dir, detector, batch_size=args.batch_size, on_batch=bar.update)
    print(f"FVD ({result.variant}): {result.fvd:.4f}  ({result.real_videos} real, {result.fake_videos} generated)")
    if args.out:
        record = {**dataclasses.asdict(result), "detector": str(args.detector), "real": str(args.real_dir)}
        record["fake"] = str(args.fake_dir)
        write_text_atomic(args.out, json.dumps(record, indent=2) + "\n")
    return 0
