"""`realcam preview`: render the fast point-cloud preview of a camera path (seconds, no diffusion).

Writes the preview video, a video of the noise-shaping mask (white = latent cells the preview constrains, shown at
pixel size) and a JSON sidecar with per-frame coverage, the intrinsics and the camera path used.

Coverage is the fraction of latent cells the preview constrains per frame (`realcam.scene.masks.latent_mask`). Frame 0
(the input camera) covers 100% only if every pixel keeps its point: with outlier removal on (the default for depth
files) the removed points leave holes, so frame 0 can be below 100%. The sidecar's `points` block counts them
(`outliers_removed`, `depth_edges_removed`).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

log = logging.getLogger(__name__)


# realcam.scene.lift.OUTLIER_STATISTICS, spelled out so that parsing arguments does not import torch.
OUTLIER_STATISTIC_CHOICES = ("metric", "relative")


def add_outlier_statistic_argument(parser: argparse.ArgumentParser) -> None:
    """`--outlier-statistic` (see `depth_to_pointcloud`), shared by `realcam preview` and `realcam generate`."""
    parser.add_argument(
        "--outlier-statistic",
        choices=OUTLIER_STATISTIC_CHOICES,
        default="metric",
        help="how outlier removal measures spacing: metric (metres, the reference; a small far region such as a window "
        "can vanish whole) or relative (metres / depth: far surfaces judged like near ones)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preview",
        help="render the point-cloud preview of a camera path (no weights needed)",
        description=(
            "Lift an image with a metric depth map (or the built-in demo room) to a point cloud and render it along a "
            "camera path: the fast preview of what the camera will do, and the source of the noise-shaping mask."
        ),
        epilog="example: realcam preview --demo --preset orbit-left -o preview.mp4",
    )
    parser.add_argument("image", nargs="?", help="input image (PNG/JPEG); needs --depth")
    parser.add_argument("--depth", help="metric depth of the image: .npy in metres or 16-bit PNG in millimetres")
    parser.add_argument("--demo", action="store_true", help="use the built-in demo room instead of an image")
    path = parser.add_mutually_exclusive_group(required=True)
    path.add_argument(
        "--trajectory", metavar="FILE", help="camera path file (realcam JSON, nerfstudio JSON, RE10K txt)"
    )
    path.add_argument("--preset", metavar="NAME", help="a named metric preset, e.g. orbit-left, dolly-forward")
    parser.add_argument("--distance", type=float, help="preset distance in metres")
    parser.add_argument("--angle", type=float, help="preset angle in degrees")
    parser.add_argument("--radius", type=float, help="preset orbit radius in metres")
    parser.add_argument("--zoom", type=float, help="preset focal-length factor (zoom presets)")
    parser.add_argument(
        "--fov",
        type=float,
        metavar="DEG",
        help="vertical field of view of the input image (default: the trajectory's intrinsics, else the reference's "
        "fx = fy = 0.5*max(h, w))",
    )
    parser.add_argument(
        "--size", metavar="HxW", help="output size, e.g. 320x512 (default: the input's size; the demo is 320x512)"
    )
    parser.add_argument("--frames", type=int, default=16, help="number of frames (default 16)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of the videos (default 8)")
    parser.add_argument("--point-size", type=int, default=2, help="splat size in pixels (default 2, as the reference)")
    parser.add_argument(
        "--translation-scale", type=float, default=1.0, help="multiply the path's translations (default 1: metres)"
    )
    parser.add_argument(
        "--outlier-removal",
        choices=("on", "off"),
        help="statistical outlier removal of the lifted cloud (default: on for depth files, off for the exact demo). "
        "Removed points leave holes, so frame 0's coverage can fall below 100%%; the sidecar's "
        "points.outliers_removed counts them",
    )
    add_outlier_statistic_argument(parser)
    parser.add_argument("--edge-threshold", type=float, help="drop depth-edge pixels (relative jump, e.g. 0.05)")
    parser.add_argument("--mask-kernel", type=int, default=5, help="erosion window of the mask (default 5)")
    parser.add_argument(
        "--compat-visibility",
        action="store_true",
        help="reference rule: black pixels are holes (default: the renderer's explicit visibility)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:i] (default auto)")
    parser.add_argument("-o", "--output", required=True, help="output video, e.g. preview.mp4")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from realcam.io.sidecar import write_sidecar
    from realcam.io.video import write_video
    from realcam.scene.lift import depth_to_pointcloud
    from realcam.scene.render import render_points

    started = time.perf_counter()
    requested_size = _parse_size(args.size) if args.size else None
    sampled = _load_path(args)  # path errors first: they are cheap to find, the scene is not
    image, depth, K_source, scene_name = _load_scene(args)
    height, width = depth.shape
    out_h, out_w = requested_size or (height, width)
    K_source = _source_K(args, sampled, height, width, K_source)
    c2w, K_frames = _cameras(args, sampled, K_source, (height, width), (out_h, out_w))
    device = _device(args.device)
    remove_outliers = (args.outlier_removal or ("off" if args.demo else "on")) == "on"
    cloud = depth_to_pointcloud(
        image,
        depth,
        K_source.float(),
        remove_outliers=remove_outliers,
        outlier_statistic=args.outlier_statistic,
        edge_threshold=args.edge_threshold,
    ).to(device)
    lifted = time.perf_counter()
    points = _point_counts(depth, args.edge_threshold, len(cloud))
    if points["outliers_removed"]:
        log.info(
            "outlier removal dropped %d of %d points: they leave holes, even in frame 0 (--outlier-removal off keeps "
            "them)",
            points["outliers_removed"],
            points["pixels_with_depth"] - points["depth_edges_removed"],
        )
    result = render_points(cloud, c2w, K_frames, out_h, out_w, point_size=args.point_size)
    rendered = time.perf_counter()
    visible = result.compat_visible() if args.compat_visibility else result.visible
    output = Path(args.output)
    mask_path = output.with_name(f"{output.stem}_mask{output.suffix or '.mp4'}")
    record = {
        "command": "preview",
        "scene": scene_name,
        "image": args.image,
        "depth": args.depth,
        "trajectory": args.trajectory,
        "preset": args.preset,
        "size": [out_h, out_w],
        "num_points": len(cloud),
        "points": points,
        "settings": {
            "point_size": args.point_size,
            "fps": args.fps,
            "translation_scale": args.translation_scale,
            "outlier_removal": remove_outliers,
            "outlier_statistic": args.outlier_statistic,
            "edge_threshold": args.edge_threshold,
            "mask_kernel": args.mask_kernel,
            "visibility": "compat-non-black" if args.compat_visibility else "explicit",
            "device": str(device),
        },
        "K_source": K_source.tolist(),
        "K": K_frames.tolist(),
        "c2w": c2w.tolist(),
    }
    write_video(output, result.rgb, args.fps)
    record.update(_write_mask(visible, mask_path, args))
    record["pixel_visible_fraction"] = [round(float(v), 6) for v in visible.float().mean(dim=(1, 2)).cpu()]
    record["timings_s"] = {
        "load_and_lift": round(lifted - started, 3),
        "render": round(rendered - lifted, 3),
        "total": round(time.perf_counter() - started, 3),
    }
    sidecar = write_sidecar(output, record)
    log.info(
        "preview: %d frames %dx%d from %d points in %.2f s -> %s",
        c2w.shape[0],
        out_h,
        out_w,
        len(cloud),
        rendered - lifted,
        output,
    )
    if record["coverage"] is not None:
        percent = " ".join(f"{100 * c:.0f}" for c in record["coverage"])
        log.info("mask: %s; coverage per frame %% (latent cells constrained): %s", mask_path, percent)
    log.info("sidecar: %s", sidecar)
    return 0


def _point_counts(depth, edge_threshold: float | None, kept: int) -> dict:
    """Where the pixels went: with a depth, dropped as depth edges, dropped by outlier removal, kept as points.

    Shapes: depth (h w) metres, 0 = missing. Every dropped point is a pixel of the input that frame 0 cannot show.
    """
    from realcam.scene.lift import depth_edges

    valid = depth > 0
    with_depth = int(valid.sum())
    edges = int((depth_edges(depth, edge_threshold) & valid).sum()) if edge_threshold is not None else 0
    return {
        "pixels_with_depth": with_depth,
        "depth_edges_removed": edges,
        "outliers_removed": with_depth - edges - kept,
        "kept": kept,
    }


def _write_mask(visible, mask_path: Path, args: argparse.Namespace) -> dict:
    """Latent noise-shaping mask of the preview -> lossless mask video (cells shown at pixel size) + sidecar fields.

    Shapes: visible (f H W) bool. Sizes not divisible by 8 have no latent grid: nothing is written then.
    """
    from realcam.io.video import write_mask_video
    from realcam.scene.masks import latent_mask

    height, width = visible.shape[1:]
    if height % 8 or width % 8:
        log.warning("size %dx%d is not divisible by 8: no latent mask or coverage written", height, width)
        return {"mask_video": None, "coverage": None, "mean_coverage": None}
    mask = latent_mask(visible.cpu(), kernel=args.mask_kernel)
    coverage = [round(float(c), 6) for c in mask.coverage]
    write_mask_video(mask_path, mask.mask, 8, args.fps)
    return {"mask_video": mask_path.name, "coverage": coverage, "mean_coverage": sum(coverage) / len(coverage)}


def _load_scene(args: argparse.Namespace):
    """-> (image uint8 (h w 3), depth (h w) metres, K (3 3) or None, scene name)."""

    from realcam.scene.depth_io import load_depth

    if args.demo:
        if args.image or args.depth:
            raise ValueError("--demo takes no IMAGE or --depth")
        from realcam.scene.demo import demo_scene

        # The demo is generated at the output size directly (sharper than resampling a cloud lifted at 320x512).
        scene = demo_scene(*_parse_size(args.size)) if args.size else demo_scene()
        return scene.image, scene.depth, scene.K.double(), scene.name
    if not args.image or not args.depth:
        raise ValueError("give IMAGE and --depth FILE, or --demo for the built-in scene")
    from realcam.errors import InputError
    from realcam.io.images import read_image

    image = read_image(args.image)
    depth = load_depth(args.depth)
    if tuple(depth.shape) != image.shape[:2]:
        raise InputError(
            f"{args.depth}: depth is {tuple(depth.shape)} but the image is {image.shape[:2]}; they must match"
        )
    return image, depth, None, Path(args.image).name


def _load_path(args: argparse.Namespace):
    if args.frames < 1:
        raise ValueError(f"--frames: expected a positive integer, got {args.frames}")
    if args.trajectory:
        from realcam.trajectory.io import load_trajectory

        given = {k: getattr(args, k) for k in ("distance", "angle", "radius", "zoom") if getattr(args, k) is not None}
        if given:
            raise ValueError(f"--{', --'.join(given)} only apply to --preset")
        return load_trajectory(args.trajectory).sample(args.frames)
    from realcam.trajectory.presets import make_preset

    params = {k: getattr(args, k) for k in ("distance", "angle", "radius", "zoom") if getattr(args, k) is not None}
    return make_preset(args.preset, **params).sample(args.frames)


def _source_K(args, sampled, height: int, width: int, K_scene):
    """Intrinsics of the input image (float64 (3 3)): --fov, else the demo's, the trajectory's, the reference's."""
    from realcam.geometry.intrinsics import K_from_fov, reference_default_K

    if args.fov is not None:
        return K_from_fov(height, width, args.fov)
    if K_scene is not None:
        return K_scene
    if sampled.intrinsics is not None:
        return sampled.intrinsics.K_for(height, width)
    return reference_default_K(height, width, height, width)


def _cameras(args, sampled, K_source, source_hw, out_hw):
    """Relative c2w (f 4 4) float64 (frame 0 = the input camera) and per-frame K (f 3 3) for the output size.

    The output view covers the input view (aspect kept, centre crop): frame 0 shows the input image as if resized
    (pixel edges to pixel edges) and centre-cropped. Both K are in the lift/renderer convention (pixel i's centre at
    coordinate i, spec §5.2), not the i + 0.5 of `realcam.geometry.intrinsics`. A per-frame FOV from the path (zoom
    presets) is applied relative to its first frame, so frame 0 always shows the input image at its own focal length.
    """
    import torch

    from realcam.geometry.se3 import relative_c2w
    from realcam.scene.lift import resize_lift_K

    (h, w), (out_h, out_w) = source_hw, out_hw
    s = max(out_h / h, out_w / w)
    # K_source is in the lift's integer-pixel-centre convention, and so must K_out be for the renderer.
    K_out = resize_lift_K(K_source, s, s, left=(w * s - out_w) / 2, top=(h * s - out_h) / 2)
    f = sampled.num_frames
    K_frames = K_out.expand(f, 3, 3).clone()
    if sampled.fov_deg is not None:
        half = torch.tan(torch.deg2rad(sampled.fov_deg) / 2)
        factor = half[0] / half
        K_frames[:, 0, 0] *= factor
        K_frames[:, 1, 1] *= factor
    c2w = relative_c2w(sampled.c2w[None], 0)[0].clone()
    if not math.isfinite(args.translation_scale):
        raise ValueError(f"--translation-scale: expected a finite number, got {args.translation_scale}")
    c2w[:, :3, 3] *= args.translation_scale
    return c2w, K_frames


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size: expected HxW such as 320x512, got {text!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"--size: expected positive sizes, got {text!r}")
    return h, w


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return device
