"""`realcam generate`: image + metric camera trajectory -> video, preview video and a sidecar JSON."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from realcam.cli.preview import add_outlier_statistic_argument

MODELS = ("256", "512", "tiny-256", "tiny-512")
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

MODES_HELP = (
    "i2v (default); interp: --end-image conditions the last frame; loop: the start image also conditions the last "
    "frame and the path is made to return to its start; continue: chain --segments clips along one trajectory "
    "through one point cloud, each starting with --overlap frames of the previous. The released weights were "
    "trained for i2v only: interp/loop use a conditioning layout they never saw (expect weak or no effect) and "
    "continue relies on sampler-side pasting alone. See docs/modes.md."
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a camera-controlled video from one image (metric trajectory)",
        description="Generate a video from IMAGE (or the built-in --demo room) along a camera trajectory in metres. "
        "Writes OUT (mp4), OUT.preview.mp4 (the rendered point-cloud preview), OUT.preview_mask.mp4 (the noise-"
        "shaping mask: white = latent cells the preview constrains) and OUT.json (settings, seed, trajectory, "
        "versions, timings). Weights come from the cache (`realcam weights download`) or --checkpoint. The depth "
        "model's file is needed only when the depth is estimated (an IMAGE without --depth).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("image", nargs="?", help="input image (any PIL-readable file)")
    source.add_argument("--demo", action="store_true", help="use the built-in demo room (exact depth, no depth net)")
    path = parser.add_mutually_exclusive_group(required=True)
    path.add_argument("--trajectory", help="trajectory file: realcam JSON, nerfstudio JSON or RealEstate10K txt")
    path.add_argument("--preset", help="a metric preset name (see `realcam trajectory presets`)")
    parser.add_argument("--distance", type=float, help="preset travel distance in metres")
    parser.add_argument("--angle", type=float, help="preset angle in degrees")
    parser.add_argument("--radius", type=float, help="preset orbit radius in metres")
    parser.add_argument("--prompt", default="", help="text prompt")
    parser.add_argument("--negative-prompt", default=None, help="negative prompt (default: the app's)")
    parser.add_argument("--model", choices=MODELS, default="256", help="model variant (tiny-*: test sizes)")
    parser.add_argument(
        "--depth",
        help="metric depth of IMAGE (.npy in metres or 16-bit PNG in millimetres, as `realcam preview`): skips the "
        "depth model and its weights",
    )
    parser.add_argument(
        "--depth-model", choices=("indoor", "outdoor"), default="indoor", help="metric depth model (default indoor)"
    )
    parser.add_argument("--checkpoint", type=Path, help="a full RealCam-I2V state dict (.safetensors) to use instead")
    parser.add_argument(
        "--camera-plugin",
        type=Path,
        default=None,
        help="a RealCam-I2V camera-plugin file to use instead of the released one, e.g. the camera_plugin.safetensors "
        "that `realcam train` writes (a full RealCam-I2V file works too and then needs no base)",
    )
    parser.add_argument(
        "--base", type=Path, default=None, help="a local DynamiCrafter model.ckpt of --model's size (default: cache)"
    )
    add_outlier_statistic_argument(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25)")
    parser.add_argument("--guidance", type=float, default=7.5, help="text+image CFG scale (1 = off)")
    parser.add_argument("--camera-cfg", type=float, default=None, help="camera CFG scale (default off)")
    parser.add_argument("--frame-stride", type=int, default=None, help="fs condition (default: the model's)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the metric translations (default 1.0)")
    parser.add_argument("--no-noise-shaping", action="store_true", help="do not constrain the noise by the preview")
    parser.add_argument("--shaping-t0", type=int, default=900, help="shape noise at steps with t >= this (900)")
    parser.add_argument("--point-size", type=int, default=2, help="preview point size in pixels (2)")
    parser.add_argument("--mode", choices=("i2v", "interp", "loop", "continue"), default="i2v", help=MODES_HELP)
    parser.add_argument("--end-image", help="end image for --mode interp")
    parser.add_argument("--segments", type=int, default=2, help="clips to chain in --mode continue (2)")
    parser.add_argument("--overlap", type=int, default=4, help="frames shared by chained clips (4)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default=None, help="default fp16 on GPU, fp32 on CPU")
    parser.add_argument("--max-batch", type=int, default=None, help="UNet batch limit (1 = CFG branches in turn)")
    parser.add_argument("--fps", type=float, default=8.0, help="output video frame rate (8)")
    parser.add_argument(
        "--lossless", action="store_true", help="store the exact RGB frames (x264 lossless; larger files)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .mp4")
    parser.set_defaults(func=run)


def _device_dtype(args: argparse.Namespace):
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = args.dtype or ("fp16" if device.startswith("cuda") else "fp32")
    return device, getattr(torch, DTYPES[name])


def build_pipeline(args: argparse.Namespace):
    """The pipeline for --model/--checkpoint/--device/--dtype (fails fast when released weights are missing)."""
    from realcam.checkpoints import hub
    from realcam.pipeline.i2v import RealCamPipeline

    device, dtype = _device_dtype(args)
    if args.checkpoint is not None and (args.camera_plugin is not None or args.base is not None):
        raise ValueError("--checkpoint is a whole model: give it alone, or --camera-plugin (and --base) instead")
    if args.model.startswith("tiny-"):
        if args.checkpoint is None:
            raise ValueError("--model tiny-* needs --checkpoint (tiny models have no released weights)")
        from realcam.checkpoints.load import load_state_dict_strict, read_state_dict
        from realcam.models.realcam_i2v import RealCamI2V
        from realcam.pipeline.tiny import tiny_config, tiny_tokenizer

        network = RealCamI2V(tiny_config(args.model.removeprefix("tiny-")))
        load_state_dict_strict(network, read_state_dict(args.checkpoint), what=str(args.checkpoint))
        return RealCamPipeline(network, tiny_tokenizer(), device=device, dtype=dtype)
    if args.checkpoint is not None:
        from realcam.checkpoints.load import load_state_dict_strict, read_state_dict
        from realcam.models.encoders.tokenizer import CLIPTokenizer
        from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig

        tokenizer_files = [hub.WEIGHT_FILES["clip-vocab"], hub.WEIGHT_FILES["clip-merges"]]
        found = hub.require(tokenizer_files, model=args.model, depth=args.depth_model)
        network = RealCamI2V(RealCamI2VConfig.preset(args.model, depth=args.depth_model))
        load_state_dict_strict(network, read_state_dict(args.checkpoint), what=str(args.checkpoint))
        tokenizer = CLIPTokenizer.from_files(found["clip-vocab"], found["clip-merges"])
        return RealCamPipeline(network, tokenizer, device=device, dtype=dtype)
    # Given depth (the demo's exact depth or --depth FILE): no depth network, so no depth file is needed.
    depth_model = None if _depth_given(args) else args.depth_model
    paths = hub.local_paths(args.model, base=args.base, camera_plugin=args.camera_plugin)
    return RealCamPipeline.from_pretrained(args.model, depth_model, device=device, dtype=dtype, paths=paths)


def _depth_given(args: argparse.Namespace) -> bool:
    return bool(args.demo or args.depth)


def _legacy_depth_model(args: argparse.Namespace) -> None:
    """`--depth indoor|outdoor` once chose the depth model; keep such command lines working (with a warning)."""
    import logging

    if args.depth in ("indoor", "outdoor") and not Path(args.depth).exists():
        logging.getLogger("realcam.generate").warning(
            "--depth %s: read as --depth-model %s (--depth now takes a depth FILE)", args.depth, args.depth
        )
        args.depth_model, args.depth = args.depth, None


def settings_from_args(args: argparse.Namespace):
    from realcam.pipeline.i2v import DEFAULT_NEGATIVE_PROMPT, GenerationSettings, ShapingSettings

    return GenerationSettings(
        prompt=args.prompt,
        negative_prompt=DEFAULT_NEGATIVE_PROMPT if args.negative_prompt is None else args.negative_prompt,
        steps=args.steps,
        guidance_scale=args.guidance,
        camera_cfg=args.camera_cfg,
        seed=args.seed,
        frame_stride=args.frame_stride,
        translation_scale=args.scale,
        shaping=ShapingSettings(enabled=not args.no_noise_shaping, t0=args.shaping_t0, point_size=args.point_size),
        mode="i2v" if args.mode == "continue" else args.mode,
        max_batch=args.max_batch,
        outlier_statistic=args.outlier_statistic,
    )


def _trajectory(args: argparse.Namespace):
    if args.trajectory is not None:
        if any(v is not None for v in (args.distance, args.angle, args.radius)):
            raise ValueError("--distance/--angle/--radius apply to --preset only")
        return args.trajectory
    from realcam.trajectory import make_preset

    return make_preset(args.preset, distance=args.distance, angle=args.angle, radius=args.radius)


def run(args: argparse.Namespace) -> int:
    import logging

    from realcam.io.sidecar import write_sidecar
    from realcam.io.video import write_mask_video, write_video

    log = logging.getLogger("realcam.generate")
    _legacy_depth_model(args)
    if args.demo and args.depth:
        raise ValueError("--demo has exact depth; --depth FILE is for an IMAGE")
    if args.mode == "interp" and not args.end_image:
        raise ValueError("--mode interp needs --end-image")
    if args.end_image and args.mode != "interp":
        raise ValueError("--end-image is only used with --mode interp")
    if args.output.suffix.lower() != ".mp4":
        raise ValueError(f"--output must end in .mp4, got {args.output}")
    start = time.perf_counter()
    trajectory = _trajectory(args)
    settings = settings_from_args(args)
    pipe = build_pipeline(args)
    load_s = time.perf_counter() - start
    image, K, depth = _inputs(args, pipe)
    # The pipeline shows the progress bar (one over all clips in --mode continue).
    if args.mode == "continue":
        from realcam.pipeline.modes import generate_long

        long = generate_long(
            pipe, image, trajectory, settings, segments=args.segments, overlap=args.overlap, K=K, depth=depth
        )
        frames, preview, metadata = long.frames, long.segments[0].preview, long.metadata
    else:
        end_image = args.end_image if args.mode == "interp" else None
        result = pipe(image, trajectory, settings, end_image=end_image, K=K, depth=depth)
        frames, preview, metadata = result.frames, result.preview, result.metadata
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_video(args.output, frames, fps=args.fps, lossless=args.lossless)
    preview_path = args.output.with_name(args.output.stem + ".preview.mp4")
    write_video(preview_path, preview.rgb, fps=10)
    mask_path = args.output.with_name(args.output.stem + ".preview_mask.mp4")
    write_mask_video(mask_path, preview.mask, pipe.model.config.vae.downsample_factor, fps=10)
    record = {
        "command": "generate",
        "input": "demo" if args.demo else str(args.image),
        "depth_file": args.depth,
        "end_image": args.end_image,
        "mode": args.mode,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "camera_plugin": str(args.camera_plugin) if args.camera_plugin else None,
        "base": str(args.base) if args.base else None,
        "preview": preview_path.name,
        "preview_mask": mask_path.name,
        "video_fps": args.fps,
        "lossless": args.lossless,
        **metadata,
        "load_s": round(load_s, 3),
        "total_s": round(time.perf_counter() - start, 3),
    }
    sidecar = write_sidecar(args.output, record)
    coverage = metadata.get("coverage_per_frame", [])
    log.info(
        "wrote %s (%d frames), %s, %s and %s; noise-shaping coverage per frame %s",
        args.output,
        frames.shape[0],
        preview_path.name,
        mask_path.name,
        sidecar.name,
        " ".join(f"{c:.2f}" for c in coverage),
    )
    return 0


def _inputs(args: argparse.Namespace, pipe):
    """(image, K, depth) for the pipeline call: the demo room (exact depth and K), or the image file with the depth
    of --depth FILE (same size as the image; resized and cropped like it) or None (estimated)."""
    if not args.demo:
        return args.image, None, _depth_for_model(args, pipe) if args.depth else None
    from realcam.scene.demo import demo_scene

    H, W = pipe.model.config.pixel_hw
    scene = demo_scene(H, W)
    return scene.image, scene.K, scene.depth


def _depth_for_model(args: argparse.Namespace, pipe):
    """--depth FILE (h w metres, the image's size) -> (H W) metres at model size, resized to cover and centre-cropped
    exactly like the image (nearest neighbour: no depths mixed across edges)."""
    import torch

    from realcam.errors import InputError
    from realcam.geometry.intrinsics import resize_cover_crop
    from realcam.io.images import image_size
    from realcam.scene.depth_io import load_depth

    depth = load_depth(args.depth)
    image_hw = image_size(args.image)
    if tuple(depth.shape) != image_hw:
        raise InputError(f"{args.depth}: depth is {tuple(depth.shape)} but the image is {image_hw}; they must match")
    cropped, _ = resize_cover_crop(
        depth[None].float(), torch.eye(3, dtype=torch.float64), pipe.model.config.pixel_hw, mode="nearest-exact"
    )
    return cropped[0].contiguous()
