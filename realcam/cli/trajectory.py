"""`realcam trajectory preset|convert|info|presets`: make metric preset paths, convert between RE10K txt,
nerfstudio JSON and realcam JSON, and print a path's metric read-outs."""

from __future__ import annotations

import argparse

_FORMATS = ("realcam", "nerfstudio", "re10k")


def _frames_arg(value: str) -> int | str:
    """`--frames`: a positive frame count, or "keys" (the keyframes themselves). Absent (None) means "the default"."""
    if value == "keys":
        return "keys"
    try:
        n = int(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'keys', got {value!r}") from error
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'keys', got {value!r}")
    return n


def _size_arg(value: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in value.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels, e.g. 360x640, got {value!r}") from error
    return h, w


def _output_format(path: str, format: str | None) -> str:
    """The output format, checked before any work; an unknown extension names the accepted ones and --format."""
    from pathlib import Path

    from realcam.trajectory.io import OUTPUT_EXTENSIONS, output_format

    suffix = Path(path).suffix.lower()
    if format is None and suffix not in OUTPUT_EXTENSIONS:
        accepted = ", ".join(f"{ext} ({fmt})" for ext, fmt in OUTPUT_EXTENSIONS.items())
        raise ValueError(
            f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r}; accepted extensions: "
            f"{accepted}; or pass --format {{{','.join(_FORMATS)}}}"
        )
    return output_format(path, format)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trajectory",
        help="make, convert and inspect camera trajectories (metres, OpenCV c2w)",
        description="Camera trajectories in metres: metric presets, conversion between RealEstate10K/CameraCtrl txt, "
        "nerfstudio camera-path JSON and realcam JSON, and read-outs (length, speed, angular speed).",
    )
    sub = parser.add_subparsers(dest="trajectory_command", metavar="ACTION", required=True)

    preset = sub.add_parser(
        "preset",
        help="write a metric preset path (e.g. dolly-forward --distance 1.0)",
        description="Write a preset as keyframes relative to the first camera. The output format follows the "
        "extension (.json realcam, .txt RE10K) unless --format is given. `realcam trajectory presets` lists names.",
    )
    preset.add_argument("name", help="preset name, e.g. dolly-forward, orbit-left, 'zoom in' (reference names)")
    preset.add_argument("--distance", type=float, default=None, help="distance in metres (dolly, truck, pedestal)")
    preset.add_argument("--angle", type=float, default=None, help="angle in degrees (pan, tilt, roll, orbit)")
    preset.add_argument("--radius", type=float, default=None, help="pivot distance in metres (orbit, dolly-zoom)")
    preset.add_argument("--zoom", type=float, default=None, help="focal-length factor (zoom-in, zoom-out)")
    preset.add_argument(
        "--fov", type=float, default=None, help="vertical FOV in degrees stored in the keyframes (zoom: the start)"
    )
    preset.add_argument(
        "--fov-end",
        type=float,
        default=None,
        help="zoom-in/zoom-out: vertical FOV in degrees at the end, in (0, 180), instead of --zoom (start: --fov, 60)",
    )
    preset.add_argument("--keyframes", type=int, default=None, help="number of keyframes (default per preset)")
    _add_settings(preset)
    preset.add_argument(
        "--frames", type=_frames_arg, default=16, help="frames to sample (default 16; 'keys' writes the keyframes)"
    )
    preset.add_argument("-o", "--output", required=True, help="output file (.json realcam, .txt RE10K; else --format)")
    preset.add_argument("--format", choices=_FORMATS, default=None, help="output format (default: from extension)")
    preset.set_defaults(func=_run_preset)

    convert = sub.add_parser(
        "convert",
        help="convert a trajectory between formats",
        description="Convert between realcam JSON, nerfstudio camera-path JSON and RE10K txt. By default the frames "
        "the input holds are written: every frame of a per-frame input (RE10K, nerfstudio; a realcam JSON made from "
        "one holds them exactly as its keyframes), the sampled frames of a realcam JSON (16 unless it states "
        "another count). --frames N resamples N frames along the spline; --frames keys writes the keyframes.",
    )
    convert.add_argument("input", help="input file")
    convert.add_argument("output", help="output file")
    convert.add_argument("--format", choices=_FORMATS, default=None, help="output format (default: from extension)")
    convert.add_argument("--input-format", choices=_FORMATS, default=None, help="input format (default: detected)")
    convert.add_argument(
        "--frames",
        type=_frames_arg,
        default=None,
        help="frames to write: N resamples N frames, 'keys' writes the keyframes (default: the frames the input holds)",
    )
    convert.add_argument("--image-size", type=_size_arg, default=None, help="HxW of an RE10K file's video")
    convert.add_argument("--fps", type=float, default=8.0, help="frames per second written (default 8)")
    convert.add_argument(
        "--accept-reflected",
        action="store_true",
        help="read an RE10K file whose rotations are all improper (the reference's demo files) relative to its "
        "first camera",
    )
    convert.set_defaults(func=_run_convert)

    info = sub.add_parser(
        "info",
        help="print frames, length (m), speeds and warnings of a trajectory file",
        description="Sample the path to --frames frames (the model's 16 by default) and print metric read-outs.",
    )
    info.add_argument("file", help="trajectory file")
    info.add_argument("--format", choices=_FORMATS, default=None, help="input format (default: detected)")
    info.add_argument("--frames", type=int, default=16, help="frames to sample (default 16)")
    info.add_argument("--fps", type=float, default=8.0, help="playback rate for speeds (default 8, the app's)")
    info.add_argument("--json", action="store_true", help="print the read-outs as JSON")
    info.add_argument("--accept-reflected", action="store_true", help="accept an all-improper RE10K file (see convert)")
    info.set_defaults(func=_run_info)

    listing = sub.add_parser("presets", help="list the preset names and their parameters")
    listing.set_defaults(func=_run_presets)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tension", type=float, default=0.0, help="spline tension in [-1, 1] (0 = Catmull-Rom)")
    parser.add_argument("--timing", choices=("arc", "keys"), default="arc", help="constant speed or keyframe times")
    parser.add_argument("--ease", choices=("none", "in", "out", "in-out"), default="none", help="easing")
    parser.add_argument("--closed", action="store_true", help="loop back to the first keyframe")


def _run_preset(args: argparse.Namespace) -> int:
    from realcam.trajectory import InterpolationSettings, make_preset, save_trajectory

    out_format = _output_format(args.output, args.format)
    settings = InterpolationSettings(tension=args.tension, closed=args.closed, timing=args.timing, ease=args.ease)
    trajectory = make_preset(
        args.name,
        distance=args.distance,
        angle=args.angle,
        radius=args.radius,
        zoom=args.zoom,
        fov_deg=args.fov,
        fov_end_deg=args.fov_end,
        num_keyframes=args.keyframes,
        settings=settings,
    )
    frames = None if args.frames == "keys" else args.frames
    path = save_trajectory(trajectory, args.output, out_format, num_frames=frames)
    print(f"wrote {path} ({args.name}, {len(trajectory.keyframes)} keyframes)")
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from realcam.trajectory.io import detect_format, load_trajectory, save_trajectory, stored_num_frames

    in_format = detect_format(args.input, args.input_format)
    out_format = _output_format(args.output, args.format)
    trajectory = load_trajectory(
        args.input, in_format, image_size=args.image_size, accept_reflected=args.accept_reflected
    )
    if args.frames is None:  # the frames the input holds (None: its keyframes, which are a per-frame file's frames)
        frames = stored_num_frames(args.input, in_format)
    else:
        frames = None if args.frames == "keys" else args.frames
    path = save_trajectory(trajectory, args.output, out_format, num_frames=frames, fps=args.fps)
    count = len(trajectory.keyframes) if frames is None else frames
    kind = "the keyframes" if frames is None else "sampled"
    if out_format == "realcam":
        what = f"{len(trajectory.keyframes)} keyframes, frames: {count} ({kind})"
    else:
        what = f"{count} frames ({kind})"
    print(f"wrote {path} ({in_format} -> {out_format}, {what})")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from realcam.trajectory.io import detect_format, load_trajectory
    from realcam.trajectory.metrics import keyframe_segment_stats, path_stats

    fmt = detect_format(args.file, args.format)
    trajectory = load_trajectory(args.file, fmt, accept_reflected=args.accept_reflected)
    stats = path_stats(trajectory.sample(args.frames), args.fps)
    segments = keyframe_segment_stats(trajectory, args.frames, args.fps)
    spline = sum(seg.length_m for seg in segments)
    if args.json:
        record = dataclasses.asdict(stats)
        record.update(file=str(args.file), format=fmt, keyframes=len(trajectory.keyframes))
        record["spline_length_m"] = spline
        record["keyframe_segments"] = [dataclasses.asdict(seg) for seg in segments]
        print(json.dumps(record, indent=1))
        return 0
    s = trajectory.settings
    loop = "closed loop" if s.closed else "open"
    print(f"{args.file}: {fmt}, {len(trajectory.keyframes)} keyframes (timing {s.timing}, ease {s.ease}, {loop})")
    print(f"frames:            {stats.num_frames} at {stats.fps:g} fps ({stats.duration_s:.3f} s)")
    print(
        f"length:            {stats.total_length_m:.3f} m between frames ({spline:.3f} m along the spline; "
        f"farthest from start {stats.max_distance_from_start_m:.3f} m)"
    )
    print(f"max speed:         {stats.max_speed_mps:.3f} m/s (mean {stats.mean_speed_mps:.3f} m/s)")
    print(
        f"max angular speed: {stats.max_angular_speed_dps:.2f} deg/s "
        f"(mean {stats.mean_angular_speed_dps:.2f} deg/s, total rotation {stats.total_rotation_deg:.2f} deg)"
    )
    if stats.fov_range_deg is not None:
        print(f"fov:               {stats.fov_range_deg[0]:.2f}-{stats.fov_range_deg[1]:.2f} deg (vertical)")
    if trajectory.intrinsics is not None:
        i = trajectory.intrinsics
        print(f"intrinsics:        {i.width}x{i.height} px, fx {float(i.K[0, 0]):.2f}, fy {float(i.K[1, 1]):.2f}")
    _print_segments(segments)
    print("warnings:          " + ("; ".join(stats.warnings) if stats.warnings else "none"))
    return 0


def _print_segments(segments) -> None:
    """One line per keyframe segment: length, rotation, playback time and mean speeds."""
    if not segments:
        print("segments:          none (a single keyframe)")
        return
    print(f"segments:          {len(segments)} between keyframes (length, rotation, playback time, mean speeds)")
    for seg in segments:
        if seg.speed_mps is None:
            speeds = "no playback time"
        else:
            speeds = f"{seg.speed_mps:.3f} m/s, {seg.angular_speed_dps:.2f} deg/s"
        label = f"{seg.start} -> {seg.end}:"
        print(
            f"  {label:17s}{seg.length_m:.3f} m, {seg.rotation_deg:.2f} deg, "
            f"{seg.start_s:.3f}-{seg.start_s + seg.duration_s:.3f} s: {speeds}"
        )


def _run_presets(args: argparse.Namespace) -> int:
    from realcam.trajectory.presets import PRESETS

    for name, spec in PRESETS.items():
        params = ", ".join(
            f"{key}={p.default:g} {p.unit}" if p.default is not None else f"{key} ({p.unit})"
            for key, p in spec.parameters.items()
        )
        label = f"'{name}'" if " " in name else name
        print(f"{label:24s} {spec.description}\n{'':24s}   [{params}]")
    return 0
