"""`realcam info --model 256|512 [--keys]`: the model's components, parameter counts and state-dict keys, computed
on the `meta` device (no weights, no memory)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show a model's components, parameter counts and state-dict keys (no weights needed)",
        description="Build the full-size model on the meta device and print the parameter count of each component "
        "and the number of state-dict keys; --keys prints every expected key with its shape and source file.",
    )
    parser.add_argument("--model", choices=("256", "512"), default="256", help="model resolution (default 256)")
    parser.add_argument("--depth", choices=("indoor", "outdoor"), default="indoor", help="metric depth model")
    parser.add_argument("--keys", action="store_true", help="print KEY<TAB>SHAPE<TAB>SOURCE for every expected key")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    from realcam.checkpoints.keys import group_by_component, source_of
    from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig, parameter_counts

    config = RealCamI2VConfig.preset(args.model, depth=args.depth)
    with torch.device("meta"):
        model = RealCamI2V(config)
    state = model.state_dict()
    if args.keys:
        for key, value in state.items():
            print(f"{key}\t{tuple(value.shape)}\t{source_of(key)}")
        return 0
    counts = parameter_counts(model)
    keys = group_by_component(state)
    h, w = config.pixel_hw
    print(
        f"RealCam-I2V {args.model}: {w}x{h} px, {config.frames} frames, {config.parameterization}-prediction"
        f"{', zero-terminal SNR' if config.zero_terminal_snr else ''}, epipolar strides {config.epipolar_strides}"
    )
    print(f"{'component':15s} {'parameters':>15s} {'keys':>6s}")
    for component in sorted(set(counts) | set(keys)):
        print(f"{component:15s} {counts.get(component, 0):15,d} {len(keys.get(component, [])):6d}")
    print(f"{'total':15s} {sum(counts.values()):15,d} {len(state):6d}")
    return 0
