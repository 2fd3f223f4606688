"""The camera-metric harness: trials, seeds, failures, aggregation and reports (spec §1.4-§1.6, §8).

Per sample and trial k (seed = k):
1. SfM of the generated video -> E_s; the sample's trial fails (and is counted, never dropped) unless every frame is
   registered in the component that holds frame 0.
2. RotErr, TransErr_rel, CamMC_rel of E_s against the annotation G (spec §1.4).
3. With a depth model: α_s = median(D_DA / z) on frame 0 (spec §1.5), E_s in metres.
   - `*_abs` (the reference's definition): against E_g · α_g, the SfM re-estimate of the ground-truth *video* scaled
     by the depth model on its frame 0 (needs `gt_video`);
   - `*_abs_gt` (realcam's second, labelled variant): against G directly, when G is metric; plus `trans_err_m_gt`,
     the unnormalised translation error in metres.
Aggregation: per sample, the mean over successful trials; then the mean over samples. Every metric is reported with
its trial and sample failure rates. The reference's pooled outlier filter (drop a trial whose metric is more than
`outlier_sigma` standard deviations from the pooled mean; reference: 10) is off unless asked for, and reported.

Records are appended to `trials*.jsonl` in the output folder as trials finish; a rerun skips (sample, trial) pairs
already there, so an interrupted run resumes. Reports: `per_sample.csv`, `summary.json`, `trajectories.png`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realcam.errors import InputError
from realcam.eval.layout import EvalSample, read_frames
from realcam.eval.metrics import (
    MetricOptions,
    camera_condition_check,
    depth_scale_factor,
    metric_translation_error_m,
    pose_errors,
    scale_translations,
)
from realcam.eval.sfm import SfmOptions, SfmResult, estimate_poses
from realcam.io.atomic import atomic_path, write_text_atomic

logger = logging.getLogger(__name__)

# image uint8 (h w 3) -> depth (h w) metres (a torch Tensor or numpy array); realcam's DepthEstimator protocol.
DepthFn = Callable[[np.ndarray], Any]

# Per-clip sums (the paper's convention); each also has a `_mean` twin (per frame, frames 1..f-1).
METRICS = (
    "rot_err",
    "trans_err_rel",
    "cammc_rel",
    "trans_err_abs",
    "cammc_abs",
    "trans_err_abs_gt",
    "cammc_abs_gt",
    "trans_err_m_gt",
)
ALL_METRICS = tuple(m for name in METRICS for m in (name, f"{name}_mean"))


@dataclass(frozen=True)
class HarnessConfig:
    """trials: SfM trials per sample (seed = trial index). workers: parallel processes. outlier_sigma: the
    reference's pooled outlier filter (10 in the reference), None = off. baseline_tolerance: relative RotErr margin
    of the camera-condition sanity check."""

    trials: int = 5
    workers: int = 1
    outlier_sigma: float | None = None
    sfm: SfmOptions = SfmOptions()
    metric: MetricOptions = MetricOptions()
    baseline_tolerance: float = 0.1

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.outlier_sigma is not None and not self.outlier_sigma > 0:
            raise ValueError(f"outlier_sigma must be > 0 or None, got {self.outlier_sigma}")


@dataclass(frozen=True)
class TrialRecord:
    """One (sample, trial): `ok` means the generated video was reconstructed with every frame registered.

    metrics: every name in ALL_METRICS, NaN where undefined or failed. info: factors α_s/α_g, registered counts, the
    reason the reference-video part failed, whether the reference trajectory is static. est_c2w: (f 4 4) E_s (SfM
    units) for the plots, None on failure.
    """

    name: str
    trial: int
    seed: int
    ok: bool
    reason: str | None
    metrics: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    est_c2w: list | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        record = dataclasses.asdict(self)
        record["metrics"] = {k: (None if math.isnan(v) else v) for k, v in self.metrics.items()}
        return json.dumps(record)

    @classmethod
    def from_json(cls, line: str) -> TrialRecord:
        record = json.loads(line)
        record["metrics"] = {k: (math.nan if v is None else float(v)) for k, v in record["metrics"].items()}
        return cls(**record)


def _empty_metrics() -> dict[str, float]:
    return {name: math.nan for name in ALL_METRICS}


@dataclass(frozen=True)
class DepthAnythingFactory:
    """Builds the evaluation depth model in each worker: Depth-Anything-V2 ViT-L metric (Hypersim, 20 m), spec §1.5,
    from the user's `.pth`, behind realcam's depth interface (uint8 (h w 3) -> (h w) metres). Picklable.
    Unlike the reference (fp16 autocast on CUDA) it runs in float32."""

    weights: str
    device: str = "cpu"

    def __call__(self) -> DepthFn:
        from realcam.models.depth.depth_anything import (
            DepthAnythingConfig,
            MetricDepthEstimator,
            load_depth_anything_pth,
        )

        model = load_depth_anything_pth(self.weights, DepthAnythingConfig.vitl_hypersim())
        return MetricDepthEstimator(model).to(self.device).eval()


def _frame0_depth(depth_fn: DepthFn, frames: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return _to_numpy_depth(depth_fn(np.ascontiguousarray(frames[0])))


def _to_numpy_depth(depth: Any) -> np.ndarray:
    if hasattr(depth, "detach"):
        depth = depth.detach().float().cpu().numpy()
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth model output: expected (h w) metres, got {depth.shape}")
    return depth


def _put(metrics: dict[str, float], errors_summary: dict[str, float], rename: dict[str, str]) -> None:
    for source, target in rename.items():
        metrics[target] = errors_summary[source]
        metrics[f"{target}_mean"] = errors_summary[f"{source}_mean"]


def trial_metrics(
    sample: EvalSample,
    est: SfmResult,
    *,
    alpha_s: float,
    ref_est: SfmResult | None,
    alpha_g: float,
    options: MetricOptions = MetricOptions(),
) -> tuple[dict[str, float], dict[str, Any]]:
    """All metrics of one successful trial (see module docstring); NaN where a piece is missing. Returns
    (metrics, info)."""
    metrics, info = _empty_metrics(), {}
    rel = pose_errors(sample.gt_c2w, est.c2w, metric=False, options=options)
    _put(metrics, rel.summary("", ""), {"rot_err": "rot_err", "trans_err": "trans_err_rel", "cammc": "cammc_rel"})
    info["static_reference"] = rel.static_reference
    if math.isfinite(alpha_s):
        est_metric = scale_translations(est.c2w, alpha_s)
        if sample.gt_metric:
            direct = pose_errors(sample.gt_c2w, est_metric, metric=True, options=options)
            _put(metrics, direct.summary("", ""), {"trans_err": "trans_err_abs_gt", "cammc": "cammc_abs_gt"})
            metrics["trans_err_m_gt"] = metric_translation_error_m(sample.gt_c2w, est_metric)
            metrics["trans_err_m_gt_mean"] = metrics["trans_err_m_gt"] / max(len(est.c2w) - 1, 1)
        if ref_est is not None and ref_est.failure_reason() is None and math.isfinite(alpha_g):
            reference = scale_translations(ref_est.c2w, alpha_g)
            ref_errors = pose_errors(reference, est_metric, metric=True, options=options)
            _put(metrics, ref_errors.summary("", ""), {"trans_err": "trans_err_abs", "cammc": "cammc_abs"})
            info["static_gt_video"] = ref_errors.static_reference
    return metrics, info


def _alpha(result: SfmResult, depth: np.ndarray | None) -> float:
    if depth is None or result.failure_reason() is not None:
        return math.nan
    return depth_scale_factor(depth, result.frame0_xy, result.frame0_z, result.image_hw)


def _check_sample(sample: EvalSample, frames: np.ndarray) -> None:
    f, h, w = frames.shape[:3]
    if f != len(sample.gt_c2w):
        raise InputError(f"{sample.video}: {f} frames, but the camera has {len(sample.gt_c2w)} poses")
    cx, cy = sample.K[0, 2], sample.K[1, 2]
    if not (0 < cx < w and 0 < cy < h):
        raise InputError(f"{sample.video}: principal point ({cx}, {cy}) outside the {w}x{h} frame; K must be in pixels")


def evaluate_sample(
    sample: EvalSample,
    trials: Sequence[int],
    *,
    config: HarnessConfig = HarnessConfig(),
    depth_fn: DepthFn | None = None,
) -> list[TrialRecord]:
    """Run the given trials of one sample. A malformed sample yields failed records naming the input problem."""
    try:
        if sample.problem is not None:
            raise InputError(f"{sample.video}: {sample.problem}")
        frames = read_frames(sample.video)
        _check_sample(sample, frames)
        gt_frames = read_frames(sample.gt_video) if sample.gt_video is not None else None
        if gt_frames is not None and gt_frames.shape != frames.shape:
            raise InputError(f"{sample.gt_video}: shape {gt_frames.shape} differs from the sample's {frames.shape}")
        depth_s = _frame0_depth(depth_fn, frames) if depth_fn is not None else None
        depth_g = _frame0_depth(depth_fn, gt_frames) if depth_fn is not None and gt_frames is not None else None
    except (InputError, FileNotFoundError, ValueError) as error:
        logger.warning("sample %s cannot be evaluated: %s", sample.name, error)
        return [TrialRecord(sample.name, k, k, False, f"input: {error}", _empty_metrics()) for k in trials]
    records = []
    for trial in trials:
        start = time.perf_counter()
        est, reason = _estimate(frames, sample, trial, config)
        info: dict[str, Any] = {}
        if est is not None:
            info = {"registered": int(est.registered.sum()), "components": list(est.component_sizes)}
        if reason is not None:
            metrics = _empty_metrics()
        else:
            ref_est = None
            if gt_frames is not None:
                ref_est, info["gt_video_reason"] = _estimate(gt_frames, sample, trial, config)
            alpha_s, alpha_g = _alpha(est, depth_s), (_alpha(ref_est, depth_g) if ref_est is not None else math.nan)
            metrics, extra = trial_metrics(
                sample, est, alpha_s=alpha_s, ref_est=ref_est, alpha_g=alpha_g, options=config.metric
            )
            info.update(extra, alpha_s=alpha_s, alpha_g=alpha_g)
        records.append(
            TrialRecord(
                name=sample.name,
                trial=trial,
                seed=trial,
                ok=reason is None,
                reason=reason,
                metrics=metrics,
                info=_jsonable_info(info),
                est_c2w=est.c2w.tolist() if est is not None and reason is None else None,
                seconds=time.perf_counter() - start,
            )
        )
    return records


def _estimate(
    frames: np.ndarray, sample: EvalSample, trial: int, config: HarnessConfig
) -> tuple[SfmResult | None, str | None]:
    """SfM of one video for one trial; (result, failure reason). An error inside COLMAP is a counted failure of
    this trial (the reference drops such samples silently), not a crash of the run."""
    try:
        result = estimate_poses(frames, sample.K, seed=trial, options=config.sfm)
    except (RuntimeError, ValueError) as error:
        logger.warning("sample %s trial %d: SfM raised %s", sample.name, trial, error)
        return None, f"sfm error: {error}"
    return result, result.failure_reason()


def _jsonable_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in info.items()}


# ----------------------------------------------------------------------------------------------- records on disk


def trials_file(out_dir: Path, shard: tuple[int, int] | None) -> Path:
    """`trials.jsonl`, or `trials.shard-i-of-n.jsonl` for a shard (so shards can share one output folder)."""
    if shard is None or shard[1] == 1:
        return out_dir / "trials.jsonl"
    return out_dir / f"trials.shard-{shard[0]}-of-{shard[1]}.jsonl"


def load_records(out_dir: Path) -> list[TrialRecord]:
    """Every trial record in `out_dir/trials*.jsonl`; a torn last line (a killed run) is skipped; later duplicates
    of a (sample, trial) pair replace earlier ones."""
    records: dict[tuple[str, int], TrialRecord] = {}
    for path in sorted(Path(out_dir).glob("trials*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                record = TrialRecord.from_json(line)
            except (json.JSONDecodeError, TypeError, KeyError):
                logger.warning("%s: skipping an incomplete record", path)
                continue
            records[(record.name, record.trial)] = record
    return list(records.values())


def _append(path: Path, records: Iterable[TrialRecord]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# ----------------------------------------------------------------------------------------------- running

_WORKER_DEPTH: DepthFn | None = None


def _init_worker(depth_factory: Callable[[], DepthFn] | None, threads: int) -> None:
    global _WORKER_DEPTH
    import torch

    torch.set_num_threads(threads)
    _WORKER_DEPTH = depth_factory() if depth_factory is not None else None


def _worker_task(sample: EvalSample, trials: list[int], config: HarnessConfig) -> list[TrialRecord]:
    return evaluate_sample(sample, trials, config=config, depth_fn=_WORKER_DEPTH)


def pending_trials(
    samples: Sequence[EvalSample], done: Iterable[TrialRecord], trials: int
) -> list[tuple[EvalSample, list[int]]]:
    """(sample, trial indices still to run); samples with every trial recorded are skipped (resume)."""
    finished = {(r.name, r.trial) for r in done}
    todo = []
    for sample in samples:
        missing = [k for k in range(trials) if (sample.name, k) not in finished]
        if missing:
            todo.append((sample, missing))
    return todo


def run_trials(
    samples: Sequence[EvalSample],
    out_dir: str | Path,
    *,
    config: HarnessConfig = HarnessConfig(),
    depth_factory: Callable[[], DepthFn] | None = None,
    shard: tuple[int, int] | None = None,
    on_sample_done: Callable[[str], None] | None = None,
) -> list[TrialRecord]:
    """Run every missing (sample, trial) and append the records; returns the records of `samples` (old and new).

    `on_sample_done(name)` is called once per sample in `samples`: first for each sample whose trials are all
    recorded already (a resumed run), then as the others finish, so a progress bar over `len(samples)` completes.
    `depth_factory` builds the depth model once per process (it must be picklable when `config.workers > 1`,
    e.g. a module-level function). Samples run in `config.workers` spawned processes (torch gets cores / workers
    threads each; SfM uses `config.sfm.num_threads`, 1 by default for bit-reproducible seeds).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = trials_file(out_dir, shard)
    todo = pending_trials(samples, load_records(out_dir), config.trials)
    logger.info("%d samples, %d to run (%d trials each)", len(samples), len(todo), config.trials)
    if on_sample_done is not None:
        pending = {sample.name for sample, _ in todo}
        for sample in samples:
            if sample.name not in pending:
                on_sample_done(sample.name)
    if config.workers == 1:
        depth_fn = depth_factory() if depth_factory is not None else None
        for sample, trials in todo:
            _append(path, evaluate_sample(sample, trials, config=config, depth_fn=depth_fn))
            if on_sample_done is not None:
                on_sample_done(sample.name)
    else:
        _run_pool(todo, path, config, depth_factory, on_sample_done)
    names = {s.name for s in samples}
    return [r for r in load_records(out_dir) if r.name in names and r.trial < config.trials]


def _run_pool(todo, path: Path, config: HarnessConfig, depth_factory, on_sample_done) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // config.workers)  # for the depth model; SfM threads stay as configured
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        config.workers, mp_context=context, initializer=_init_worker, initargs=(depth_factory, threads)
    ) as pool:
        futures = {pool.submit(_worker_task, sample, trials, config): sample.name for sample, trials in todo}
        for future in as_completed(futures):
            _append(path, future.result())
            if on_sample_done is not None:
                on_sample_done(futures[future])


# ----------------------------------------------------------------------------------------------- aggregation


def outlier_filter(records: Sequence[TrialRecord], sigma: float) -> tuple[list[TrialRecord], list[TrialRecord]]:
    """The reference's pooled filter (spec §1.6, merge.py): over all successful (sample, trial) rows, drop a row if
    any per-clip metric lies more than `sigma` sample standard deviations from its pooled mean. NaN entries are
    ignored. Returns (kept, dropped)."""
    ok = [r for r in records if r.ok]
    dropped_ids: set[tuple[str, int]] = set()
    for name in METRICS:
        values = np.array([r.metrics[name] for r in ok], dtype=np.float64)
        finite = np.isfinite(values)
        if finite.sum() < 2:
            continue
        mean, std = values[finite].mean(), values[finite].std(ddof=1)
        far = finite & (np.abs(values - mean) > sigma * std)
        dropped_ids.update((ok[i].name, ok[i].trial) for i in np.flatnonzero(far))
    kept = [r for r in records if (r.name, r.trial) not in dropped_ids]
    dropped = [r for r in records if (r.name, r.trial) in dropped_ids]
    return kept, dropped


@dataclass(frozen=True)
class SampleRow:
    """Per-sample aggregate: metric means over the sample's successful (and kept) trials."""

    name: str
    trials: int
    ok_trials: int
    status: str  # "ok", "failed" (no trial reconstructed) or "outlier" (every successful trial filtered out)
    reason: str
    metrics: dict[str, float]
    alpha_s: float


def aggregate_samples(records: Sequence[TrialRecord], dropped: Sequence[TrialRecord] = ()) -> list[SampleRow]:
    """Group trial records by sample (sorted by name) and average each metric over successful, kept trials."""
    dropped_ids = {(r.name, r.trial) for r in dropped}
    by_name: dict[str, list[TrialRecord]] = {}
    for record in list(records) + list(dropped):
        by_name.setdefault(record.name, []).append(record)
    rows = []
    for name in sorted(by_name):
        group = sorted(by_name[name], key=lambda r: r.trial)
        ok = [r for r in group if r.ok]
        kept = [r for r in ok if (r.name, r.trial) not in dropped_ids]
        reasons = Counter(r.reason for r in group if not r.ok)
        metrics = {m: _nanmean([r.metrics[m] for r in kept]) for m in ALL_METRICS}
        status = "ok" if kept else ("outlier" if ok else "failed")
        alpha = _nanmean([_float(r.info.get("alpha_s")) for r in kept])
        reason = reasons.most_common(1)[0][0] if reasons else ""
        rows.append(SampleRow(name, len(group), len(ok), status, reason or "", metrics, alpha))
    return rows


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarize(
    records: Sequence[TrialRecord], config: HarnessConfig, *, baseline_rot_err: dict[str, float] | None = None
) -> tuple[list[SampleRow], dict[str, Any]]:
    """Per-sample rows and the run summary: per metric the mean/median/std over samples, with the number of
    samples, trial and sample failure rates, and samples whose reference trajectory is static (metric undefined)."""
    kept, dropped = list(records), []
    if config.outlier_sigma is not None:
        kept, dropped = outlier_filter(records, config.outlier_sigma)
    rows = aggregate_samples(kept, dropped)
    n_samples, n_trials = len(rows), len(records)
    static = {r.name for r in records if r.info.get("static_reference")}
    summary: dict[str, Any] = {
        "samples": n_samples,
        "trials_per_sample": config.trials,
        "trials": n_trials,
        "trial_failure_rate": _rate(sum(not r.ok for r in records), n_trials),
        "sample_failure_rate": _rate(sum(row.status == "failed" for row in rows), n_samples),
        "failure_reasons": dict(Counter(_short_reason(r.reason) for r in records if not r.ok)),
        "seeds": "seed = trial index",
        "metrics": {},
    }
    for name in ALL_METRICS:
        values = np.array([row.metrics[name] for row in rows], dtype=np.float64)
        finite = values[np.isfinite(values)]
        undefined = sum(1 for row in rows if row.name in static and not math.isfinite(row.metrics[name]))
        failed_trials = sum(1 for r in records if not math.isfinite(r.metrics[name]) and r.name not in static)
        # Not computed at all (no depth model, no GT video, GT not metric) is not the same as failed.
        computed = any(math.isfinite(r.metrics[name]) for r in records) or not any(r.ok for r in records)
        summary["metrics"][name] = {
            "computed": computed,
            "mean": float(finite.mean()) if len(finite) else None,
            "median": float(np.median(finite)) if len(finite) else None,
            "std": float(finite.std()) if len(finite) else None,
            "samples": int(len(finite)),
            "sample_failure_rate": _rate(n_samples - len(finite) - undefined, n_samples) if computed else None,
            "trial_failure_rate": _rate(failed_trials, n_trials) if computed else None,
            "samples_undefined_static_reference": undefined,
        }
    summary["outlier_filter"] = {
        "applied": config.outlier_sigma is not None,
        "sigma": config.outlier_sigma,
        "trials_dropped": len(dropped),
        "dropped": sorted([r.name, r.trial] for r in dropped),
        "samples_lost": sorted(row.name for row in rows if row.status == "outlier"),
    }
    if baseline_rot_err is not None:
        summary["camera_condition_check"] = _sanity(rows, baseline_rot_err, config.baseline_tolerance)
    return rows, summary


def _sanity(rows: Sequence[SampleRow], baseline: dict[str, float], tolerance: float) -> dict[str, Any]:
    common = [
        r
        for r in rows
        if r.name in baseline and math.isfinite(r.metrics["rot_err"]) and math.isfinite(baseline[r.name])
    ]
    if not common:
        return {"checked": False, "reason": "no sample evaluated in both this run and the baseline"}
    check = camera_condition_check(
        float(np.mean([r.metrics["rot_err"] for r in common])),
        float(np.mean([baseline[r.name] for r in common])),
        tolerance,
    )
    return {"checked": True, "samples": len(common), **check.as_dict()}


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _short_reason(reason: str | None) -> str:
    text = reason or "unknown"
    for prefix, label in (("input:", "input error"), ("sfm error:", "sfm error")):
        if text.startswith(prefix):
            return label
    return text


def read_baseline(path: str | Path) -> dict[str, float]:
    """Per-sample RotErr of a no-camera baseline run: its output folder or its `per_sample.csv`."""
    path = Path(path)
    if path.is_dir():
        path = path / "per_sample.csv"
    if not path.exists():
        raise InputError(f"{path}: baseline per-sample CSV not found")
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["name"]: float(row["rot_err"] or "nan") for row in csv.DictReader(handle)}


# ----------------------------------------------------------------------------------------------- reports


def per_sample_csv(rows: Sequence[SampleRow]) -> str:
    """CSV text: name, trials, ok_trials, status, reason, alpha_s and every metric (empty = undefined/failed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "trials", "ok_trials", "status", "reason", "alpha_s", *ALL_METRICS])
    for row in rows:
        values = [row.alpha_s, *(row.metrics[m] for m in ALL_METRICS)]
        writer.writerow(
            [row.name, row.trials, row.ok_trials, row.status, row.reason]
            + ["" if not math.isfinite(v) else f"{v:.6g}" for v in values]
        )
    return buffer.getvalue()


def report_paths(out_dir: Path, shard: tuple[int, int] | None) -> dict[str, Path]:
    suffix = "" if shard is None or shard[1] == 1 else f".shard-{shard[0]}-of-{shard[1]}"
    return {
        "per_sample": out_dir / f"per_sample{suffix}.csv",
        "summary": out_dir / f"summary{suffix}.json",
        "plot": out_dir / f"trajectories{suffix}.png",
    }


def write_reports(
    records: Sequence[TrialRecord],
    samples: Sequence[EvalSample],
    out_dir: str | Path,
    config: HarnessConfig,
    *,
    shard: tuple[int, int] | None = None,
    baseline_rot_err: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the per-sample CSV, the JSON summary and the best/worst trajectory plot; returns the summary."""
    from realcam.eval.plots import best_and_worst, plot_trajectories

    out_dir = Path(out_dir)
    paths = report_paths(out_dir, shard)
    rows, summary = summarize(records, config, baseline_rot_err=baseline_rot_err)
    summary["config"] = _jsonable(dataclasses.asdict(config))
    summary.update(extra or {})
    write_text_atomic(paths["per_sample"], per_sample_csv(rows))
    entries = best_and_worst(rows, records, {s.name: s for s in samples})
    if entries:
        with atomic_path(paths["plot"]) as tmp:
            plot_trajectories(entries, tmp)
        summary["plot"] = {"path": paths["plot"].name, "samples": [[e.label, e.name] for e in entries]}
    write_text_atomic(paths["summary"], json.dumps(_jsonable(summary), indent=2) + "\n")
    return summary


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    return value
