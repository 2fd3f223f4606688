"""One background worker that owns the heavy device (preview renders, generation) for the editor.

viser callbacks never compute anything heavy: they submit a job here and return. Jobs run one at a time in
submission order; a job submitted with a `key` replaces a pending (not yet started) job with the same key, so a burst
of edits renders the preview once, for the last edit. Results and errors are published through the job's callbacks,
on the worker thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class Job:
    """A unit of work: `run(progress)` returns the result; `on_done(result)` / `on_error(exc)` publish it.

    `progress(fraction in [0, 1], message)` may be called by `run`; it is forwarded to `on_progress`.
    """

    name: str
    run: Callable[[Progress], Any]
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    on_progress: Progress | None = None
    key: str | None = None
    cancelled: bool = field(default=False, init=False)
    finished: threading.Event = field(default_factory=threading.Event, init=False)


class Worker:
    """A single daemon thread running `Job`s in order. Use as a context manager or call `stop()`."""

    def __init__(self, name: str = "realcam-editor-worker") -> None:
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._pending: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Job:
        """Queue `job`; a pending job with the same key is cancelled (it will not run)."""
        with self._lock:
            if job.key is not None:
                previous = self._pending.get(job.key)
                if previous is not None:
                    previous.cancelled = True
                    previous.finished.set()
                self._pending[job.key] = job
        self._queue.put(job)
        return job

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.key is not None and self._pending.get(job.key) is job:
                    del self._pending[job.key]
            if job.cancelled:
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        def progress(fraction: float, message: str) -> None:
            if job.on_progress is not None:
                job.on_progress(fraction, message)

        try:
            result = job.run(progress)
        except Exception as error:  # published to the UI, which shows it; the worker keeps serving
            logger.warning("editor job %s failed: %s", job.name, error)
            if job.on_error is not None:
                job.on_error(error)
        else:
            if job.on_done is not None:
                job.on_done(result)
        finally:
            job.finished.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every job submitted so far has finished (or was cancelled). True unless it timed out."""
        marker = self.submit(Job("idle-marker", lambda progress: None))
        return marker.finished.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5.0)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class GenerationReadiness:
    """Whether "Generate" can run: `ready`, and otherwise a `message` saying what to run."""

    ready: bool
    message: str
    weight_paths: dict[str, Any] = field(default_factory=dict)


def check_generation_ready(model: str = "256", depth: str = "indoor") -> GenerationReadiness:
    """Look for the released weights and the generation pipeline without touching the network.

    Never fakes a result: when anything is missing, the message names the command that fixes it.
    """
    try:
        from realcam.checkpoints import hub
    except ImportError:
        return GenerationReadiness(False, "weights not installed: run `realcam weights download`")
    from realcam.errors import WeightsMissingError

    try:  # generation from the editor needs no depth network (the editor passes its depth map)
        paths = hub.require(hub.files_for(model, depth, only=("base", "camera", "tokenizer")), model=model, depth=depth)
    except WeightsMissingError as error:
        return GenerationReadiness(False, f"weights not installed: {error}")
    try:
        import realcam.pipeline.i2v  # noqa: F401
    except ImportError:
        return GenerationReadiness(
            False, "weights are present, but this build has no generation pipeline (realcam.pipeline.i2v)"
        )
    return GenerationReadiness(True, "ready", dict(paths))


@dataclass(frozen=True)
class GenerationRequest:
    """One "Generate" press: the photo, its metric depth and intrinsics, the edited path, and where the video goes.

    Shapes: image (h w 3) uint8; depth (h w) metres for that image; K (3 3) pixels of (h, w).
    """

    image: Any
    depth: Any
    K: Any
    trajectory: Any
    output: Path
    prompt: str = ""
    seed: int = 0
    steps: int = 25
    fps: float = 8.0


@dataclass(frozen=True)
class GenerationOutput:
    """The saved video, its sidecar and the frames. Shapes: frames (f H W 3) uint8."""

    video: Path
    sidecar: Path
    frames: Any


def load_pipeline(model: str = "256") -> Any:
    """The released pipeline from the weights cache, on the GPU when there is one (fp16), else the CPU (fp32).

    Raises RuntimeError with what to run when weights (or the pipeline) are missing."""
    readiness = check_generation_ready(model)
    if not readiness.ready:
        raise RuntimeError(readiness.message)
    import torch

    from realcam.pipeline.i2v import RealCamPipeline

    # The editor always hands the pipeline its own depth map, so the depth network is not built (saves ~1.3 GB).
    if torch.cuda.is_available():
        pipeline = RealCamPipeline.from_pretrained(model, depth=None, device="cuda", dtype=torch.float16)
    else:
        pipeline = RealCamPipeline.from_pretrained(model, depth=None)
    pipeline.set_progress_bar_config(disable=True)  # progress goes to the browser through `on_step_end`
    return pipeline


def run_generation(pipeline: Any, request: GenerationRequest, progress: Progress) -> GenerationOutput:
    """Generate the clip for `request` with `pipeline` (a `RealCamPipeline`), then write the video and its sidecar.

    The editor's depth map goes to the pipeline resized and cropped exactly like the image, so the video follows the
    scene the path was drawn in (the pipeline's depth network is not run).
    """
    import torch

    from realcam.geometry.intrinsics import resize_cover_crop
    from realcam.io.sidecar import write_sidecar
    from realcam.io.video import write_video
    from realcam.pipeline.i2v import GenerationSettings

    settings = GenerationSettings(prompt=request.prompt, seed=request.seed, steps=request.steps)
    K = torch.as_tensor(request.K, dtype=torch.float64)
    depth, _ = resize_cover_crop(
        torch.as_tensor(request.depth, dtype=torch.float32)[None], K, pipeline.model.config.pixel_hw
    )

    def on_step(step: Any) -> None:
        progress((step.i + 1) / settings.steps, f"denoising step {step.i + 1}/{settings.steps}")

    progress(0.0, "preparing …")
    result = pipeline(request.image, request.trajectory, settings, K=K.float(), depth=depth[0], on_step_end=on_step)
    video = write_video(request.output, result.frames, fps=request.fps)
    sidecar = write_sidecar(video, {"source": "realcam editor", "fps": request.fps, **result.metadata})
    progress(1.0, f"saved {video.name}")
    return GenerationOutput(video, sidecar, result.frames)
