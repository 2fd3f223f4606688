"""Training configuration: frozen dataclasses, one level deep, with strict loading from plain dicts (JSON).

Defaults are the released recipe (spec eval-data §5.1-§5.6): AdamW lr 1e-4, weight decay 1e-2, gradient clipping
(norm) 0.5, accumulation 8 with batch 1 per process (effective batch 64 on 8 GPUs), 50k optimiser steps, fp16 mixed
precision, seed 20230211 + rank, validation every 2000 steps, checkpoints every 50k steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from realcam.train.step import StepOptions

MixedPrecision = Literal["no", "fp16", "bf16"]


@dataclass(frozen=True)
class OptimizerConfig:
    """AdamW (reference `configure_optimizers`; the paper says Adam, the code uses AdamW with weight decay 0.01).

    Fields: lr (constant, no scheduler), weight_decay, betas, eps, grad_clip_norm (global L2 norm; 0 disables).
    """

    lr: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip_norm: float = 0.5

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.grad_clip_norm < 0:
            raise ValueError(f"grad_clip_norm must be >= 0, got {self.grad_clip_norm}")


@dataclass(frozen=True)
class LoopConfig:
    """The accelerate loop.

    Fields:
        max_steps: optimiser steps (each = `grad_accum` micro-batches per process).
        batch_size: micro-batch per process.
        grad_accum: micro-batches per optimiser step.
        mixed_precision: "no", "fp16" or "bf16" (accelerate autocast + grad scaling for fp16).
        seed: base seed; process k uses seed + k (reference: 20230211 + global rank).
        num_workers: DataLoader workers per process.
        log_every: optimiser steps between loss logs.
        validate_every: optimiser steps between validation (0: never).
        validation_batches: validation micro-batches evaluated each time, all processes together (reference: 256).
        sample_every: optimiser steps between validation videos (0: never; needs a sampler).
        checkpoint_every: optimiser steps between checkpoints (a final one is always written).
        keep_checkpoints: how many resume checkpoints to keep (0: all).
        tensorboard: log to TensorBoard (needs the `tensorboard` package) besides the JSON-lines log.
    """

    max_steps: int = 50_000
    batch_size: int = 1
    grad_accum: int = 8
    mixed_precision: MixedPrecision = "fp16"
    seed: int = 20230211
    num_workers: int = 2
    log_every: int = 50
    validate_every: int = 2000
    validation_batches: int = 256
    sample_every: int = 0
    checkpoint_every: int = 50_000
    keep_checkpoints: int = 0
    tensorboard: bool = False

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_workers", "validate_every", "validation_batches", "sample_every", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run: component configs one level deep, plus where outputs go.

    Fields: model (preset '256' or '512', or a label of a custom model config), output_dir, optimizer, loop, step.
    """

    model: str = "256"
    output_dir: str = "runs/train"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    step: StepOptions = field(default_factory=StepOptions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Strict: unknown keys raise with their names; missing keys take the defaults only where the whole
        section is absent, so a section must be complete once given."""
        return _strict(cls, data, "train config")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


_SECTIONS: dict[str, type] = {"optimizer": OptimizerConfig, "loop": LoopConfig, "step": StepOptions}


def _strict(cls: type, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected {sorted(fields)}")
    if cls is not TrainConfig:
        missing = sorted(set(fields) - set(data))
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing}")
    kwargs = {}
    for name, value in data.items():
        if name in _SECTIONS and cls is TrainConfig:
            value = _strict(_SECTIONS[name], value, f"{where}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
