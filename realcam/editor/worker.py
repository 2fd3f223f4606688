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

    try:
        paths = hub.require(hub.files_for(model, depth), model=model, depth=depth)
    except WeightsMissingError as error:
        return GenerationReadiness(False, f"weights not installed: {error}")
    try:
        import realcam.pipeline.i2v  # noqa: F401
    except ImportError:
        return GenerationReadiness(
            False, "weights are present, but this build has no generation pipeline (realcam.pipeline.i2v)"
        )
    return GenerationReadiness(True, "ready", dict(paths))
