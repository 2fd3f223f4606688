"""The accelerate training loop: prepare, accumulate, step, log, validate, checkpoint. The maths is in `step.py`.

One code path runs on one CPU/GPU, on many GPUs with DDP or DeepSpeed ZeRO-1/2, and on many nodes: the launcher
(`accelerate launch` with an `accelerate config`, or `torchrun`) decides; this module only asks `Accelerator`.

Outputs under `config.output_dir`:
    train_config.json            the resolved config (+ versions), written at start
    log.jsonl                    one JSON object per log/validation event (main process)
    checkpoints/step-<n>/        resume checkpoints (see realcam.train.checkpoint)
    camera_plugin.safetensors    the final add-on, with its sidecar camera_plugin.json
    tensorboard/                 when `loop.tensorboard` (optional extra)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from realcam.models.realcam_i2v import RealCamI2V
from realcam.train import checkpoint as ckpt
from realcam.train.config import TrainConfig
from realcam.train.step import (
    Tokenizer,
    TrainingModule,
    camera_parameter_names,
    freeze_all_but_camera,
    set_train_mode,
)

log = logging.getLogger(__name__)

SampleHook = Callable[[RealCamI2V, int, Path], None]
"""`sample(model, step, directory)`: write validation videos for `step` into `directory` (main process only)."""

# Validation draws come from a fixed seed each time, so validation losses are comparable across steps.
_VALIDATION_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports. Fields: step (optimiser steps done), last_loss (mean of the last logged window,
    NaN if none), addon (final add-on path), checkpoint (last resume checkpoint), val_loss (last, or None)."""

    step: int
    last_loss: float
    addon: Path
    checkpoint: Path | None
    val_loss: float | None


def deepspeed_requested() -> bool:
    """Whether accelerate will build a DeepSpeed run: `accelerate launch` with a DeepSpeed `accelerate config` (or
    `--use_deepspeed`) exports ACCELERATE_USE_DEEPSPEED=true to every process."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def _deepspeed_installed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None  # looks the package up without importing it


def make_accelerator(config: TrainConfig, *, cpu: bool = False):
    """The Accelerator for `config`. `cpu=True` is needed for multi-process CPU (gloo) runs: without it accelerate
    silently runs independent non-distributed copies (stack notes). A DeepSpeed launch without the `deepspeed`
    package raises ImportError saying how to fix it; deepspeed itself is only ever imported by accelerate, in a
    DeepSpeed run."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, ProjectConfiguration

    if deepspeed_requested() and not _deepspeed_installed():
        raise ImportError(
            "this run was launched for DeepSpeed (ACCELERATE_USE_DEEPSPEED=true, from an `accelerate config` with "
            "distributed_type DEEPSPEED or `accelerate launch --use_deepspeed`), but the `deepspeed` package is not "
            "installed: `pip install deepspeed` on every node (docs/training.md §6), or rerun `accelerate config` "
            "and choose multi-GPU (DDP) instead"
        )
    loop = config.loop
    if loop.mixed_precision == "fp16" and (cpu or not torch.cuda.is_available()):
        raise ValueError("mixed_precision 'fp16' needs a CUDA device; use 'no' or 'bf16' on the CPU")
    tensorboard_dir = str(Path(config.output_dir) / "tensorboard")
    project = ProjectConfiguration(project_dir=config.output_dir, logging_dir=tensorboard_dir)
    return Accelerator(
        cpu=cpu,
        mixed_precision=loop.mixed_precision,
        gradient_accumulation_steps=loop.grad_accum,
        log_with="tensorboard" if loop.tensorboard else None,
        project_config=project,
        # The shuffle of epoch e depends only on (seed, e), so a resumed run sees the same order as an uninterrupted
        # one (the default sampler would restart its generator from the seed in a new process).
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        # Every camera parameter receives a gradient each step, so DDP needs no unused-parameter search.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)],
    )


def configure_deepspeed(ds_config: dict[str, Any], config: TrainConfig) -> None:
    """Make a DeepSpeed config (the accelerate plugin's dict, before `prepare`) apply realcam's recipe, in place.

    Under DeepSpeed, `accelerator.clip_grad_norm_` does not clip: it only returns the engine's last global norm.
    Clipping happens inside the engine's step (run by `accelerator.backward` at the end of an accumulation group)
    with the config's `gradient_clipping`, and accelerate fills a `"auto"` value with 1.0 at `prepare`, not with the
    recipe's 0.5. So: `gradient_clipping` "auto" or absent becomes `optimizer.grad_clip_norm` (0: no clipping);
    an explicit different value raises, as does an explicit `gradient_accumulation_steps` other than
    `loop.grad_accum` (accelerate would silently take DeepSpeed's value and change the effective batch).
    """
    wanted = float(config.optimizer.grad_clip_norm)
    clip = ds_config.get("gradient_clipping", "auto")
    if clip == "auto":
        ds_config["gradient_clipping"] = wanted
    elif float(clip) != wanted:
        raise ValueError(
            f"the DeepSpeed config sets gradient_clipping {clip} but the training config's optimizer.grad_clip_norm "
            f"is {wanted}: set gradient_clipping to {wanted} or 'auto' in the accelerate/DeepSpeed config, or change "
            "optimizer.grad_clip_norm"
        )
    accum = ds_config.get("gradient_accumulation_steps", "auto")
    if accum != "auto" and int(accum) != config.loop.grad_accum:
        raise ValueError(
            f"the DeepSpeed config sets gradient_accumulation_steps {accum} but --grad-accum is "
            f"{config.loop.grad_accum}: make them equal (or set the DeepSpeed value to 'auto')"
        )


def _loader(dataset: Dataset, config: TrainConfig, collate_fn, *, shuffle: bool) -> DataLoader:
    loop = config.loop
    return DataLoader(
        dataset,
        batch_size=loop.batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(loop.seed) if shuffle else None,
        num_workers=loop.num_workers,
        collate_fn=collate_fn,
        drop_last=shuffle,
        persistent_workers=False,
    )


def _set_epoch(loader: DataLoader, dataset: Dataset, epoch: int) -> None:
    if hasattr(loader, "set_epoch"):  # accelerate's prepared loaders reseed their sampler per epoch
        loader.set_epoch(epoch)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def train(
    config: TrainConfig,
    model: RealCamI2V,
    train_set: Dataset,
    *,
    tokenizer: Tokenizer,
    collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]],
    val_set: Dataset | None = None,
    resume: str | Path | None = None,
    sample: SampleHook | None = None,
    accelerator=None,
) -> TrainResult:
    """Train the camera plugin of `model` (everything else frozen) and return where the result went.

    `model` must already hold its starting weights (DynamiCrafter base ∪ optional add-on to fine-tune from); it is
    moved to the accelerator's device here. `resume` is a `checkpoints/step-<n>` directory or "latest" (the newest
    under `output_dir`, or a fresh start when none exists). Every process must call this with the same arguments.
    """
    from realcam.io.sidecar import write_sidecar

    accelerator = accelerator or make_accelerator(config)
    loop, out = config.loop, Path(config.output_dir)
    params = freeze_all_but_camera(model)
    names = camera_parameter_names(model)
    optimizer = torch.optim.AdamW(
        params,
        lr=config.optimizer.lr,
        betas=config.optimizer.betas,
        eps=config.optimizer.eps,
        weight_decay=config.optimizer.weight_decay,
    )
    rank = accelerator.process_index
    # Reference: seed + global rank. The generator feeds every draw of the step; the global RNG (seeded the same way)
    # only drives the frozen UNet's dropout layers, which draw from it inside torch.
    generator = torch.Generator(device=accelerator.device).manual_seed(loop.seed + rank)
    torch.manual_seed(loop.seed + rank)

    resume_dir = _resolve_resume(resume, out)
    if resume_dir is not None:
        ckpt.load_camera_plugin(model, resume_dir / ckpt.ADDON_FILE)

    if accelerator.gradient_accumulation_steps != loop.grad_accum:
        # accelerate lets ACCELERATE_GRADIENT_ACCUMULATION_STEPS (a launcher config's value) override the argument.
        raise ValueError(
            f"the accelerator accumulates {accelerator.gradient_accumulation_steps} micro-batches but --grad-accum is "
            f"{loop.grad_accum}: make the accelerate config's gradient_accumulation_steps equal to --grad-accum"
        )
    uses_deepspeed = _is_deepspeed(accelerator)
    if uses_deepspeed:
        plugin = accelerator.state.deepspeed_plugin
        configure_deepspeed(plugin.deepspeed_config, config)
        log.info(
            "DeepSpeed ZeRO-%s: gradient clipping %s inside the DeepSpeed engine",
            plugin.deepspeed_config.get("zero_optimization", {}).get("stage"),
            plugin.deepspeed_config["gradient_clipping"],
        )
    module = TrainingModule(model, model.config.schedule(), tokenizer, config.step)
    loader = _loader(train_set, config, collate_fn, shuffle=True)
    module, optimizer, loader = accelerator.prepare(module, optimizer, loader)
    val_loader = accelerator.prepare(_loader(val_set, config, collate_fn, shuffle=False)) if val_set else None

    step = 0
    if resume_dir is not None:
        step = _restore(resume_dir, names, optimizer, accelerator, generator, rank)
        log.info("resumed from %s at step %d", resume_dir, step)
    if accelerator.is_main_process:
        write_sidecar(
            out / ckpt.CONFIG_FILE,
            {"config": config.to_dict(), "resumed_from": resume_dir},
            path=out / ckpt.CONFIG_FILE,
        )
        if loop.tensorboard:
            accelerator.init_trackers("realcam-train", config=_flat(config.to_dict()))

    # accelerate closes an accumulation group at the end of every epoch (a shorter last group if the epoch's
    # micro-batch count is not a multiple of grad_accum), so an epoch has ceil(micro-batches / grad_accum) steps.
    steps_per_epoch = max(math.ceil(len(loader) / loop.grad_accum), 1)
    epoch, step_in_epoch = divmod(step, steps_per_epoch)
    skip = step_in_epoch * loop.grad_accum
    window: list[float] = []
    last_loss, val_loss, last_ckpt = math.nan, None, None
    started = time.perf_counter()
    while step < loop.max_steps:
        _set_epoch(loader, train_set, epoch)
        # A resumed run continues mid-epoch where the interrupted one stopped (same sampler seed and epoch).
        batches = accelerator.skip_first_batches(loader, skip) if skip else loader
        skip = 0
        running = torch.zeros((), device=accelerator.device)
        micro = 0
        for batch in batches:
            with accelerator.accumulate(module):
                loss = module(batch, generator)
                accelerator.backward(loss)
                # Under DeepSpeed the engine clipped already, inside `backward` (see `configure_deepspeed`).
                if accelerator.sync_gradients and config.optimizer.grad_clip_norm > 0 and not uses_deepspeed:
                    accelerator.clip_grad_norm_(params, config.optimizer.grad_clip_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            running += loss.detach().float()
            micro += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            step_loss = accelerator.reduce(running / micro, reduction="mean").item()
            running.zero_()
            micro = 0
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"non-finite training loss {step_loss} at step {step}")
            window.append(step_loss)
            if step % loop.log_every == 0 or step == loop.max_steps:
                last_loss = sum(window) / len(window)
                rate = (time.perf_counter() - started) / max(len(window), 1)
                _log(accelerator, out, {"step": step, "loss": last_loss, "lr": config.optimizer.lr, "s_per_step": rate})
                window, started = [], time.perf_counter()
            if val_loader is not None and loop.validate_every and step % loop.validate_every == 0:
                val_loss = validation_loss(module, val_loader, accelerator, config)
                _log(accelerator, out, {"step": step, "val_loss": val_loss})
            if sample is not None and loop.sample_every and step % loop.sample_every == 0:
                _sample(accelerator, module, sample, step, out)
            if step % loop.checkpoint_every == 0 or step == loop.max_steps:
                last_ckpt = save_checkpoint(accelerator, module, optimizer, names, generator, config, step)
            if step >= loop.max_steps:
                break
        epoch += 1

    accelerator.wait_for_everyone()
    addon = out / ckpt.ADDON_FILE
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(module).model
        ckpt.save_camera_plugin(inner, addon, {"model": config.model, "step": step})
        write_sidecar(addon, {"config": config.to_dict(), "step": step, "loss": last_loss, "val_loss": val_loss})
    accelerator.wait_for_everyone()
    if loop.tensorboard:
        accelerator.end_training()
    if math.isnan(last_loss) and window:
        last_loss = sum(window) / len(window)
    return TrainResult(step=step, last_loss=last_loss, addon=addon, checkpoint=last_ckpt, val_loss=val_loss)


def validation_loss(module, val_loader, accelerator, config: TrainConfig) -> float:
    """Mean training loss over the first `loop.validation_batches` validation micro-batches of all processes
    together, with the classifier-free dropout on (as the reference's shared step) and the frozen dropout layers off,
    from a fixed seed."""
    inner = accelerator.unwrap_model(module).model
    seed = config.loop.seed + _VALIDATION_SEED_OFFSET + accelerator.process_index
    generator = torch.Generator(device=accelerator.device).manual_seed(seed)
    set_train_mode(inner, False)
    total, count = torch.zeros((), device=accelerator.device), torch.zeros((), device=accelerator.device)
    try:
        with torch.no_grad():
            # The prepared loader shards the set over processes; together they evaluate `validation_batches`.
            per_process = math.ceil(config.loop.validation_batches / accelerator.num_processes)
            for index, batch in enumerate(val_loader):
                if index >= per_process:
                    break
                total += module(batch, generator).detach().float()
                count += 1
    finally:
        set_train_mode(inner, True)
    total, count = accelerator.reduce(total, reduction="sum"), accelerator.reduce(count, reduction="sum")
    return float(total / count.clamp(min=1))


def save_checkpoint(accelerator, module, optimizer, names, generator, config: TrainConfig, step: int) -> Path:
    """Write `checkpoints/step-<n>/` (add-on, optimiser + scaler state, per-rank RNG, config); prune old ones."""
    from accelerate.utils import DistributedType

    from realcam.io.sidecar import write_sidecar

    directory = ckpt.step_dir(config.output_dir, step)
    accelerator.wait_for_everyone()
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # ZeRO shards the optimiser state over ranks; only DeepSpeed's own checkpoint holds all of it.
        accelerator.save_state(str(directory / "accelerate"))
    if accelerator.is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
        inner = accelerator.unwrap_model(module).model
        ckpt.save_camera_plugin(inner, directory / ckpt.ADDON_FILE, {"model": config.model, "step": step})
        if accelerator.distributed_type != DistributedType.DEEPSPEED:
            scaler = accelerator.scaler.state_dict() if accelerator.scaler is not None else None
            ckpt.save_training_state(
                directory, step=step, optimizer_state=optimizer.state_dict(), parameter_names=names, scaler_state=scaler
            )
        else:
            ckpt.save_training_state(directory, step=step, optimizer_state={}, parameter_names=names, scaler_state=None)
        write_sidecar(
            directory / ckpt.ADDON_FILE, {"config": config.to_dict(), "step": step}, path=directory / ckpt.CONFIG_FILE
        )
    accelerator.wait_for_everyone()
    ckpt.save_rng(directory, accelerator.process_index, generator)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and config.loop.keep_checkpoints:
        for _, old in ckpt.list_checkpoints(config.output_dir)[: -config.loop.keep_checkpoints]:
            shutil.rmtree(old)
    return directory


def _restore(directory: Path, names, optimizer, accelerator, generator, rank: int) -> int:
    from accelerate.utils import DistributedType

    state = ckpt.read_training_state(directory, names)
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        accelerator.load_state(str(directory / "accelerate"))
    else:
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"] and accelerator.scaler is not None:
            accelerator.scaler.load_state_dict(state["scaler"])
    ckpt.load_rng(directory, rank, generator)
    return int(state["step"])


def _is_deepspeed(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def _resolve_resume(resume: str | Path | None, out: Path) -> Path | None:
    if resume is None:
        return None
    if str(resume) == "latest":
        return ckpt.latest_checkpoint(out)
    directory = Path(resume)
    if not (directory / ckpt.ADDON_FILE).is_file() or not (directory / ckpt.STATE_FILE).is_file():
        raise FileNotFoundError(
            f"resume: {directory} is not a checkpoint directory (needs {ckpt.ADDON_FILE} and {ckpt.STATE_FILE})"
        )
    return directory


def _sample(accelerator, module, sample: SampleHook, step: int, out: Path) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        inner = accelerator.unwrap_model(module).model
        set_train_mode(inner, False)
        try:
            with torch.no_grad():
                sample(inner, step, out / "samples" / f"step-{step:07d}")
        finally:
            set_train_mode(inner, True)
    accelerator.wait_for_everyone()


def _log(accelerator, out: Path, record: dict[str, Any]) -> None:
    if not accelerator.is_main_process:
        return
    log.info(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "log.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    if accelerator.trackers:
        accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat
