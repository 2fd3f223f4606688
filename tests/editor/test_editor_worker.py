"""The editor's single worker: order, superseded jobs, error publishing, and the missing-weights message."""

from __future__ import annotations

import threading

from realcam.editor.worker import Job, Worker, check_generation_ready


def test_jobs_run_in_order_and_publish_results():
    results = []
    with Worker() as worker:
        for i in range(5):
            worker.submit(Job(f"job{i}", lambda progress, i=i: i * i, on_done=results.append))
        assert worker.wait_idle(10.0)
    assert results == [0, 1, 4, 9, 16]


def test_pending_job_with_same_key_is_replaced():
    gate = threading.Event()
    ran = []
    with Worker() as worker:
        worker.submit(Job("blocker", lambda progress: gate.wait(10.0)))
        first = worker.submit(Job("preview", lambda progress: ran.append("first"), key="preview"))
        worker.submit(Job("preview", lambda progress: ran.append("second"), key="preview"))
        gate.set()
        assert worker.wait_idle(10.0)
    assert ran == ["second"] and first.cancelled


def test_errors_and_progress_are_published_and_the_worker_keeps_going():
    errors, progress_seen, done = [], [], []

    def failing(progress):
        progress(0.5, "half way")
        raise RuntimeError("boom")

    with Worker() as worker:
        worker.submit(
            Job("bad", failing, on_error=errors.append, on_progress=lambda f, m: progress_seen.append((f, m)))
        )
        worker.submit(Job("good", lambda progress: "ok", on_done=done.append))
        assert worker.wait_idle(10.0)
    assert [str(e) for e in errors] == ["boom"]
    assert progress_seen == [(0.5, "half way")]
    assert done == ["ok"]


def test_generation_not_ready_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path))
    readiness = check_generation_ready("256")
    assert not readiness.ready
    assert "weights not installed" in readiness.message and "realcam weights download" in readiness.message
