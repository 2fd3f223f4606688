"""The `realcam` command. Each sub-command lives in its own module `realcam.cli.<name>` with a
`register(subparsers)` function; heavy imports happen inside the command's run function so `realcam --help` is fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

import realcam
from realcam.errors import RealcamError

# Order is the order of `realcam --help`.
COMMAND_MODULES = (
    "generate",
    "preview",
    "trajectory",
    "edit",
    "weights",
    "info",
    "bench",
    "eval",
    "data",
    "train",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realcam",
        description="Metric-scale, camera-controlled image-to-video generation (RealCam-I2V).",
    )
    parser.add_argument("--version", action="version", version=f"realcam {realcam.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"realcam.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"realcam.cli.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (RealcamError, ValueError, FileNotFoundError) as error:
        print(f"realcam {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `realcam info --keys | head`
        sys.stderr.close()
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
