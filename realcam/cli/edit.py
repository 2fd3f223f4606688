"""`realcam edit IMAGE` and `realcam demo`: the metric 3D trajectory editor in the browser (viser).

Both start a local web server (127.0.0.1 unless `--host` says otherwise), print its URL and serve until Ctrl+C. A
browser opens only with `--open`.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def _size_arg(value: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in value.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels, e.g. 320x512, got {value!r}") from error
    return h, w


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free port)")
    parser.add_argument("--open", action="store_true", help="open the editor in the default browser")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("realcam-editor"),
        help="where exports and generated videos go (default ./realcam-editor)",
    )
    parser.add_argument("--trajectory", type=Path, default=None, help="start from this trajectory file")
    parser.add_argument("--model", choices=("256", "512"), default="256", help="model variant for Generate")


def register(subparsers) -> None:
    edit = subparsers.add_parser(
        "edit",
        help="edit a metric camera path for a photo in the browser",
        description="Lift IMAGE to a metric point cloud (with --depth, or the Depth-Anything-V2 metric model when its "
        "weights are installed) and open the trajectory editor: keyframes, presets, read-outs in metres, preview "
        "with noise-shaping coverage, import/export of RE10K txt, nerfstudio and realcam JSON.",
    )
    edit.add_argument("image", type=Path, help="input photo (PNG/JPEG)")
    edit.add_argument("--depth", type=Path, default=None, help="metric depth for IMAGE (.npy metres or 16-bit PNG mm)")
    edit.add_argument("--fov", type=float, default=None, help="vertical FOV of IMAGE in degrees (default: fx = max/2)")
    edit.add_argument("--depth-model", choices=("indoor", "outdoor"), default="indoor", help="depth model variant")
    _add_server_options(edit)
    edit.set_defaults(func=run_edit)

    demo = subparsers.add_parser(
        "demo",
        help="open the trajectory editor on the built-in demo room (no weights needed)",
        description="Start the trajectory editor on the procedurally rendered demo room with exact metric depth.",
    )
    demo.add_argument("--size", type=_size_arg, default=(320, 512), help="demo render size HxW (default 320x512)")
    _add_server_options(demo)
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from realcam.editor.feedback import scene_from_image
    from realcam.scene.demo import demo_scene

    logger.info("rendering the demo room at %dx%d …", *args.size)
    demo = demo_scene(*args.size)
    return _serve(scene_from_image(demo.image, demo.depth, demo.K, name=demo.name), args)


def run_edit(args: argparse.Namespace) -> int:
    import torch

    from realcam.editor.feedback import scene_from_image
    from realcam.errors import InputError
    from realcam.io.images import read_image

    image = read_image(args.image)
    height, width = image.shape[:2]
    if args.depth is not None:
        from realcam.scene.depth_io import load_depth

        depth = load_depth(args.depth)
        if tuple(depth.shape) != (height, width):
            raise InputError(f"{args.depth}: depth is {tuple(depth.shape)}, the image is {(height, width)} (h, w)")
    else:
        depth = _estimate_depth(image, args.depth_model)
    if args.fov is not None:
        if not 1.0 <= args.fov <= 170.0:
            raise InputError(f"--fov must be in [1, 170] degrees, got {args.fov}")
        focal = 0.5 * height / math.tan(math.radians(args.fov) / 2)
    else:
        focal = 0.5 * max(height, width)  # the reference's default intrinsics (spec §5.3)
    K = torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return _serve(scene_from_image(image, depth, K, name=args.image.name), args)


def _estimate_depth(image, variant: str):
    """Metric depth (h w) metres from the Depth-Anything-V2 metric model; says what to run when weights are missing."""
    from realcam.checkpoints import hub
    from realcam.errors import WeightsMissingError
    from realcam.models.depth.depth_anything import (
        DepthAnythingConfig,
        MetricDepthEstimator,
        load_depth_anything_pth,
    )

    try:
        paths = hub.require([hub.WEIGHT_FILES[f"depth-{variant}"]], depth=variant)
    except WeightsMissingError as error:
        raise WeightsMissingError(f"{error}\nor pass a metric depth map with --depth FILE") from error
    config = DepthAnythingConfig.vitl_hypersim() if variant == "indoor" else DepthAnythingConfig.vitl_vkitti()
    estimator = MetricDepthEstimator(load_depth_anything_pth(paths[f"depth-{variant}"], config)).eval()
    logger.info("estimating metric depth …")
    import torch

    with torch.no_grad():
        return estimator(image)


def _serve(scene, args: argparse.Namespace) -> int:
    from realcam.editor.app import AppConfig, EditorApp

    config = AppConfig(host=args.host, port=args.port, output_dir=args.output_dir, model=args.model)
    app = EditorApp(scene, config)
    try:
        if args.trajectory is not None:
            app.import_file(args.trajectory)
        print(f"realcam editor: {app.url}  (Ctrl+C to stop)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(app.url)
        while True:
            time.sleep(1.0)
    finally:
        app.stop()
