"""`realcam train`: train the camera plugin on a RealEstate10K manifest with accelerate.

    # one GPU
    realcam train --model 256 --manifest train.jsonl --val-manifest test.jsonl --output runs/rc256
    # 8 GPUs (DDP or DeepSpeed ZeRO-1/2 as chosen in `accelerate config`), or many nodes
    accelerate launch --num_processes 8 -m realcam train --model 256 --manifest train.jsonl --output runs/rc256
    # resume the newest checkpoint of a run
    realcam train ... --output runs/rc256 --resume latest
    # CPU smoke run with the random-weight tiny model (no weights needed)
    realcam train --tiny --manifest train.jsonl --output /tmp/tiny --max-steps 2 --grad-accum 1 --cpu

Everything not given on the command line comes from the released recipe (`realcam.train.config`) or `--config`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

log = logging.getLogger(__name__)

# Command-line knobs of LoopConfig, with their help (defaults: the released recipe).
_LOOP_HELP = {
    "max_steps": "optimiser steps (default 50000)",
    "batch_size": "clips per process per micro-batch (default 1)",
    "grad_accum": "micro-batches per optimiser step (default 8)",
    "mixed_precision": "autocast precision (default fp16; CPU: no or bf16)",
    "seed": "base seed; process k uses seed + k (default 20230211)",
    "num_workers": "DataLoader workers per process (default 2)",
    "log_every": "steps between loss log lines (default 50)",
    "validate_every": "steps between validation losses (default 2000; 0 off)",
    "validation_batches": "validation clips per validation, all processes together (default 256)",
    "checkpoint_every": "steps between resume checkpoints (default 50000; the end always gets one)",
    "keep_checkpoints": "keep only the newest N checkpoints (default 0: all)",
    "sample_every": "steps between validation videos (default 0: off; needs --val-manifest)",
}
_LOOP_FLAGS = tuple(_LOOP_HELP)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the camera plugin (accelerate: 1 GPU, DDP, DeepSpeed, multi-node)",
        description="Train the RealCam-I2V camera plugin (pose encoder, Plücker projections, epipolar attention) "
        "with everything else frozen, on a manifest from `realcam data manifest`. Writes the add-on "
        "camera_plugin.safetensors (the released format) and resumable checkpoints under --output. Launch with "
        "`accelerate launch` (or torchrun) for several processes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_argument_group("model and data")
    what.add_argument("--model", choices=("256", "512"), default="256", help="model resolution (default 256)")
    what.add_argument("--tiny", action="store_true", help="random-weight tiny model of --model (smoke tests)")
    what.add_argument("--base", default=None, help="DynamiCrafter model.ckpt (default: the cached download)")
    what.add_argument("--init-addon", default=None, help="start from this camera-plugin .safetensors (fine-tuning)")
    what.add_argument("--tokenizer-dir", default=None, help="folder with vocab.json + merges.txt (default: cache)")
    what.add_argument("--manifest", required=True, help="training manifest (.jsonl from `realcam data manifest`)")
    what.add_argument("--val-manifest", default=None, help="validation manifest (loss every --validate-every)")
    what.add_argument(
        "--allow-unaligned", action="store_true", help="train clips without a metric scale at scale 1 (CamI2V-style)"
    )
    what.add_argument("--frames", type=int, default=None, help="frames per clip (default: the model's 16)")
    run = parser.add_argument_group("run")
    run.add_argument("--output", required=True, help="run folder (checkpoints, logs, final add-on)")
    run.add_argument("--config", default=None, help="TrainConfig JSON (strict); flags below override it")
    run.add_argument("--resume", default=None, help="checkpoint folder checkpoints/step-<n>, or 'latest'")
    run.add_argument("--cpu", action="store_true", help="force CPU (needed for multi-process CPU/gloo runs)")
    run.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard (needs `tensorboard`)")
    run.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-4)")
    run.add_argument("--uncond-prob", type=float, default=None, help="classifier-free dropout p (default 0.05)")
    for name in _LOOP_FLAGS:
        kind = str if name == "mixed_precision" else int
        choices = ("no", "fp16", "bf16") if name == "mixed_precision" else None
        run.add_argument(f"--{name.replace('_', '-')}", type=kind, choices=choices, default=None, help=_LOOP_HELP[name])
    run.add_argument("--sample-clips", type=int, default=2, help="validation clips sampled every --sample-every")
    run.add_argument("--sample-steps", type=int, default=25, help="DDIM steps of the validation samples (25)")
    run.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    parser.set_defaults(func=run_train)


def resolve_config(args: argparse.Namespace):
    """TrainConfig from --config (or the released defaults) with the command-line overrides applied."""
    from realcam.train.config import TrainConfig

    config = TrainConfig.from_json(args.config) if args.config else TrainConfig()
    loop = {name: getattr(args, name) for name in _LOOP_FLAGS if getattr(args, name) is not None}
    if args.tensorboard:
        loop["tensorboard"] = True
    optimizer = {"lr": args.lr} if args.lr is not None else {}
    step = {"uncond_prob": args.uncond_prob} if args.uncond_prob is not None else {}
    return dataclasses.replace(
        config,
        model=f"tiny-{args.model}" if args.tiny else args.model,
        output_dir=args.output,
        loop=dataclasses.replace(config.loop, **loop),
        optimizer=dataclasses.replace(config.optimizer, **optimizer),
        step=dataclasses.replace(config.step, **step),
    )


def run_train(args: argparse.Namespace) -> int:
    import json

    from realcam.data.dataset import RealEstate10KDataset, collate
    from realcam.train.loop import make_accelerator, train

    config = resolve_config(args)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    accelerator = make_accelerator(config, cpu=args.cpu)
    model, tokenizer = _model_and_tokenizer(args)
    frames = args.frames or model.config.frames
    common = dict(pixel_hw=model.config.pixel_hw, frames=frames, fps_condition_type=model.config.fps_condition_type)
    require_scale = not args.allow_unaligned
    train_set = RealEstate10KDataset(args.manifest, seed=config.loop.seed, require_scale=require_scale, **common)
    if len(train_set) == 0:
        raise ValueError(f"--manifest {args.manifest}: no clip with at least {frames} frames")
    val_set = None
    if args.val_manifest:
        # Validation as the reference: fixed stride 8, condition frame 0.
        val_set = RealEstate10KDataset(
            args.val_manifest,
            stride_range=(8, 8),
            random_condition_frame=False,
            seed=0,
            require_scale=require_scale,
            **common,
        )
    sample = None
    if config.loop.sample_every:
        if val_set is None:
            raise ValueError("--sample-every needs --val-manifest (the clips to sample)")
        from realcam.pipeline.sampling import SamplerSettings
        from realcam.train.validation import make_sample_hook

        settings = SamplerSettings(steps=args.sample_steps)
        sample = make_sample_hook(val_set, collate, tokenizer, clips=args.sample_clips, settings=settings)
    if accelerator.is_main_process:
        log.info(
            "training %s on %d clips: %d process(es) (%s), batch %d x accumulation %d, %d steps -> %s",
            config.model,
            len(train_set),
            accelerator.num_processes,
            accelerator.distributed_type,
            config.loop.batch_size,
            config.loop.grad_accum,
            config.loop.max_steps,
            config.output_dir,
        )
    result = train(
        config,
        model,
        train_set,
        tokenizer=tokenizer,
        collate_fn=collate,
        val_set=val_set,
        resume=args.resume,
        sample=sample,
        accelerator=accelerator,
    )
    if accelerator.is_main_process:
        print(f"step {result.step}: loss {result.last_loss:.5g}; camera plugin -> {result.addon}")
    return 0


def _model_and_tokenizer(args: argparse.Namespace):
    """The model to train (no depth network: training never uses it) with its starting weights, and its tokenizer."""
    if args.tiny:
        from realcam.pipeline.tiny import tiny_model, tiny_tokenizer

        model, tokenizer = tiny_model(args.model, depth=False), tiny_tokenizer()
    else:
        from realcam.checkpoints import hub
        from realcam.checkpoints.load import read_dynamicrafter_base
        from realcam.models.encoders.tokenizer import CLIPTokenizer
        from realcam.models.realcam_i2v import RealCamI2V, RealCamI2VConfig

        config = RealCamI2VConfig.preset(args.model, depth=None)
        if args.tokenizer_dir:
            from pathlib import Path

            vocab, merges = Path(args.tokenizer_dir) / "vocab.json", Path(args.tokenizer_dir) / "merges.txt"
        else:
            found = hub.require([hub.WEIGHT_FILES["clip-vocab"], hub.WEIGHT_FILES["clip-merges"]], model=args.model)
            vocab, merges = found["clip-vocab"], found["clip-merges"]
        tokenizer = CLIPTokenizer.from_files(vocab, merges)
        base_path = (
            args.base or hub.require([hub.WEIGHT_FILES[f"base-{args.model}"]], model=args.model)[f"base-{args.model}"]
        )
        model = RealCamI2V(config)
        load_base_for_training(model, read_dynamicrafter_base(base_path), what=str(base_path))
    if args.init_addon:
        from realcam.train.checkpoint import load_camera_plugin

        load_camera_plugin(model, args.init_addon)
    return model, tokenizer


def load_base_for_training(model, base: dict, *, what: str) -> None:
    """Load the DynamiCrafter base strictly on everything but the camera plugin (which keeps its initialisation:
    zero Plücker projections, as the reference trains it from scratch). For zero-terminal-SNR models the schedule
    buffers are re-computed afterwards (reference behaviour, model spec §2.2 step 6)."""
    from realcam.checkpoints.keys import DC_BASE, source_of
    from realcam.checkpoints.load import compare_keys, diagnose, expected_shapes, format_report
    from realcam.errors import CheckpointMismatchError

    expected = {k: s for k, s in expected_shapes(model).items() if source_of(k) == DC_BASE}
    report = compare_keys(expected, base)
    if not report.ok:
        raise CheckpointMismatchError(format_report(report, what=what, hints=diagnose(report)))
    missing, unexpected = model.load_state_dict(base, strict=False)
    assert not unexpected and all(source_of(k) != DC_BASE for k in missing), (missing, unexpected)
    if model.config.zero_terminal_snr:
        model.reset_schedule_buffers()
