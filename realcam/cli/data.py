"""`realcam data`: metric-scale alignment of RealEstate10K clips and the training manifest.

    realcam data align-scale --metadata RE10K/valid_metadata/train --videos RE10K/video_clips/train \\
        --depth-weights depth_anything_v2_metric_hypersim_vitl.pth --out scales/train --workers 8 --shard 0/4
    realcam data manifest --metadata RE10K/valid_metadata/train --videos RE10K/video_clips/train \\
        --captions RE10K/train_captions.json --scales scales/train --out train.jsonl
"""

from __future__ import annotations

import argparse
import logging
import os

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare RealEstate10K training data (metric scale, manifest)")
    commands = parser.add_subparsers(dest="data_command", metavar="STEP", required=True)

    meta = commands.add_parser(
        "metadata",
        help="write the valid_metadata/<split> layout from raw pose files, extracted clips and captions",
        description="Writes OUT/<clip_id>.txt (URL, video stem, caption, pose rows) for every clip with enough pose "
        "rows, a video and a caption, the valid list, and OUT.json listing skipped clips and why.",
    )
    meta.add_argument("--pose-files", required=True, help="RealEstate10K pose_files/<split> folder")
    meta.add_argument("--videos", required=True, help="video_clips/<split> folder (<youtube_id>/<clip_id>.mp4)")
    meta.add_argument("--captions", default=None, help="CameraCtrl <split>_captions.json (required captions)")
    meta.add_argument("--out", required=True, help="valid_metadata/<split> folder to write")
    meta.add_argument("--list-out", default=None, help="also write the clip ids here (<split>_valid_list.txt)")
    meta.add_argument("--min-frames", type=int, default=16, help="drop clips with fewer pose rows (default 16)")
    meta.set_defaults(func=run_metadata)

    align = commands.add_parser(
        "align-scale",
        help="per-frame metric scale of each clip (SIFT + triangulation at the clip's poses + metric depth)",
        description="Writes OUT/<clip_id>.json per clip (atomically; finished clips are skipped on a rerun) and a "
        "run summary OUT/align-scale[.shard-i-of-n].json. See docs/training.md.",
    )
    _add_source_args(align)
    align.add_argument("--out", required=True, help="output folder of per-clip results")
    depth = align.add_mutually_exclusive_group()
    depth.add_argument(
        "--depth-weights",
        help="Depth-Anything-V2 metric ViT-L Hypersim .pth (the paper's model; default: the cached file from "
        "`realcam weights download --depth indoor`)",
    )
    depth.add_argument("--true-depth", help="folder of <clip_id>.npy (f H W) metre depth maps, e.g. synthetic data")
    align.add_argument("--device", default="auto", help="depth model device: auto (cuda if present), cpu, cuda:N")
    align.add_argument("--batch-size", type=int, default=16, help="frames per depth-model batch (default 16)")
    align.add_argument("--workers", type=int, default=1, help="processes for decoding + SfM (default 1)")
    align.add_argument("--threads-per-worker", type=int, default=0, help="COLMAP threads per worker (0: cores/workers)")
    align.add_argument("--shard", default=None, help="process only shard i of n (0-based), e.g. 0/4")
    align.add_argument("--working-short-side", type=int, default=256, help="SIFT/depth resolution (default 256)")
    align.add_argument("--min-points", type=int, default=10, help="usable points a frame needs (default 10)")
    align.add_argument(
        "--max-frame-spread", type=float, default=0.5, help="max relative MAD of a frame's ratios (default 0.5)"
    )
    align.add_argument(
        "--max-scale-ratio", type=float, default=3.0, help="fail a clip whose frame scales differ more (default 3)"
    )
    align.add_argument("--min-measured", type=float, default=0.5, help="fraction of frames to measure (default 0.5)")
    align.add_argument("--seed", type=int, default=0, help="seed of COLMAP's random choices (default 0)")
    align.add_argument("--retry-failed", action="store_true", help="re-run clips whose result is 'failed'")
    align.set_defaults(func=run_align)

    manifest = commands.add_parser(
        "manifest",
        help="write the training manifest (JSON lines), optionally with metric scales and the quantile filter",
        description="Writes OUT (JSON lines) and a report OUT-stem.json listing every dropped clip and why.",
    )
    _add_source_args(manifest)
    manifest.add_argument("--out", required=True, help="manifest file (.jsonl)")
    manifest.add_argument("--captions", default=None, help="CameraCtrl <split>_captions.json (overrides metadata)")
    manifest.add_argument(
        "--scales",
        default=None,
        help="align-scale output folder (or the reference's per-frame scale .npz): keep aligned clips, add scales",
    )
    manifest.add_argument("--quantile", type=float, default=0.02, help="scale filter quantile (default 0.02; 0: off)")
    manifest.add_argument("--min-frames", type=int, default=16, help="drop clips with fewer pose rows (default 16)")
    manifest.add_argument("--no-check-videos", action="store_true", help="skip counting each video's frames")
    manifest.set_defaults(func=run_manifest)


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metadata", required=True, help="valid_metadata/<split> folder (one <clip_id>.txt per clip)")
    parser.add_argument("--videos", required=True, help="video_clips/<split> folder (<youtube_id>/<clip_id>.mp4)")
    parser.add_argument("--list", default=None, help="<split>_valid_list.txt (default: every metadata file)")


def _clip_ids(args: argparse.Namespace) -> list[str] | None:
    from realcam.data.realestate10k import read_valid_list

    return read_valid_list(args.list) if args.list else None


def _depth_source(args: argparse.Namespace):
    from realcam.data.scale_alignment import FileDepth, ModelDepth

    if args.true_depth:
        return FileDepth(args.true_depth)
    import torch

    from realcam.eval.harness import DepthAnythingFactory

    weights = args.depth_weights
    if weights is None:
        weights = _cached_depth_weights()
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    logger.info("depth model on %s, batches of %d frames", device, args.batch_size)
    return ModelDepth(DepthAnythingFactory(str(weights), device)(), batch_size=args.batch_size)


def _cached_depth_weights():
    """The cached Depth-Anything-V2 indoor (Hypersim) weights, or a WeightsMissingError naming the command that
    fetches only that file (`realcam weights download --depth indoor --only depth`)."""
    from realcam.checkpoints.hub import WEIGHT_FILES, cache_dir, download_command, locate
    from realcam.errors import WeightsMissingError

    file = WEIGHT_FILES["depth-indoor"]
    cache = cache_dir()
    path = locate(file, cache=cache)
    if path is not None:
        return path
    raise WeightsMissingError(
        f"the metric depth model {file.repo_id}/{file.filename} (~{file.approx_size_gb:g} GB) is not in {cache}.\n"
        f"Fetch only it: `{download_command('256', 'indoor', ['depth'])}`, or pass a local copy with "
        "--depth-weights PATH."
    )


def run_metadata(args: argparse.Namespace) -> int:
    from pathlib import Path

    from realcam.data.realestate10k import build_metadata, read_captions
    from realcam.io.atomic import write_text_atomic
    from realcam.io.sidecar import write_sidecar

    captions = read_captions(args.captions) if args.captions else None
    written, skipped = build_metadata(args.pose_files, args.videos, args.out, captions, min_frames=args.min_frames)
    if args.list_out:
        write_text_atomic(args.list_out, "".join(f"{clip_id}\n" for clip_id in written))
    out = Path(args.out)
    report = {"command": "realcam data metadata", "pose_files": args.pose_files, "videos": args.videos}
    sidecar = write_sidecar(out, {**report, "clips": len(written), "skipped": skipped}, path=out.with_suffix(".json"))
    logger.info("wrote %d clips to %s; %d skipped (reasons in %s)", len(written), out, len(skipped), sidecar)
    return 0


def run_align(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from realcam.data.manifest import build_records
    from realcam.data.scale_alignment import AlignOptions, ClipTask, options_json, run_alignment
    from realcam.eval.layout import parse_shard
    from realcam.io.sidecar import write_sidecar

    if args.workers < 1 or args.batch_size < 1:
        raise ValueError(f"--workers and --batch-size must be >= 1, got {args.workers} and {args.batch_size}")
    shard = parse_shard(args.shard) if args.shard else (0, 1)
    records, dropped = build_records(args.metadata, args.videos, clip_ids=_clip_ids(args), min_frames=2,
                                     check_videos=False)  # fmt: skip
    records = [r for k, r in enumerate(records) if k % shard[1] == shard[0]]
    threads = args.threads_per_worker or max(1, (os.cpu_count() or 1) // args.workers)
    options = AlignOptions(
        working_short_side=args.working_short_side,
        min_points=args.min_points,
        max_frame_spread=args.max_frame_spread,
        min_measured_fraction=args.min_measured,
        max_scale_ratio=args.max_scale_ratio,
    )
    options = replace(options, sfm=replace(options.sfm, num_threads=threads))
    tasks = [ClipTask(r.clip_id, str(r.video), r.c2w, r.intrinsics_norm) for r in records]
    depth = _depth_source(args)
    with tqdm(total=len(tasks), desc="align-scale", unit="clip") as bar:
        results = run_alignment(
            tasks,
            args.out,
            depth,
            options=options,
            seed=args.seed,
            workers=args.workers,
            retry_failed=args.retry_failed,
            on_clip_done=lambda _: bar.update(),
        )
    failed = {k: r.reason for k, r in sorted(results.items()) if r.status != "ok"}
    partial = sorted(k for k, r in results.items() if r.status == "ok" and "interpolated" in r.frame_status)
    name = "align-scale.json" if shard[1] == 1 else f"align-scale.shard-{shard[0]}-of-{shard[1]}.json"
    summary = os.path.join(args.out, name)
    record = {
        "command": "realcam data align-scale",
        "metadata": args.metadata,
        "videos": args.videos,
        "shard": list(shard),
        "depth": args.true_depth or args.depth_weights or "depth-indoor from the weights cache",
        "seed": args.seed,
        "options": options_json(options),
        "clips": len(results),
        "ok": len(results) - len(failed),
        "failed": failed,
        "clips_with_interpolated_frames": partial,
        "unreadable_metadata": dropped,
    }
    write_sidecar(summary, record, path=summary)
    logger.info(
        "%d clips: %d ok, %d failed; summary %s", len(results), len(results) - len(failed), len(failed), summary
    )
    return 0


def run_manifest(args: argparse.Namespace) -> int:
    from realcam.data.manifest import build_records, with_scales, write_manifest
    from realcam.data.realestate10k import read_captions, read_per_frame_scale_npz
    from realcam.data.scale_alignment import filter_by_quantiles, read_results
    from realcam.io.sidecar import write_sidecar

    captions = read_captions(args.captions) if args.captions else None
    records, dropped = build_records(
        args.metadata,
        args.videos,
        clip_ids=_clip_ids(args),
        captions=captions,
        min_frames=args.min_frames,
        check_videos=not args.no_check_videos,
    )
    report: dict = {"command": "realcam data manifest", "metadata": args.metadata, "videos": args.videos}
    report["dropped_input"] = dropped
    if args.scales:
        if args.scales.endswith(".npz"):  # the reference's released per-frame scales
            scales, failed = read_per_frame_scale_npz(args.scales), {}
            missing = {r.clip_id: "not in the scale file" for r in records if r.clip_id not in scales}
        else:
            results = read_results(args.scales)
            scales = {k: r.per_frame_scale for k, r in results.items() if r.status == "ok"}
            missing = {r.clip_id: "not aligned yet" for r in records if r.clip_id not in results}
            failed = {r.clip_id: f"alignment failed: {results[r.clip_id].reason}" for r in records}
            failed = {k: v for k, v in failed.items() if k in results and k not in scales}
        mismatch = {
            r.clip_id: "scale length differs from pose rows"
            for r in records
            if r.clip_id in scales and len(scales[r.clip_id]) != r.num_frames
        }
        candidates = {
            r.clip_id: scales[r.clip_id] for r in records if r.clip_id in scales and r.clip_id not in mismatch
        }
        kept, filtered, thresholds = filter_by_quantiles(candidates, args.quantile)
        records = with_scales([r for r in records if r.clip_id in set(kept)], candidates)
        report.update(
            dropped_alignment={**missing, **failed, **mismatch},
            dropped_quantile=filtered,
            quantile=args.quantile,
            thresholds=thresholds,
        )
    path = write_manifest(args.out, records, source_metadata=str(args.metadata), scales=args.scales)
    report["clips"] = len(records)
    sidecar = write_sidecar(path, report)
    dropped_total = sum(len(v) for k, v in report.items() if k.startswith("dropped_"))
    logger.info("wrote %s: %d clips, %d dropped (reasons in %s)", path, len(records), dropped_total, sidecar)
    return 0
