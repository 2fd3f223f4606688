"""`realcam demo` as a user starts it: a separate process that prints its URL, serves the editor page on 127.0.0.1
and stops cleanly on Ctrl+C (SIGINT)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request


def _read_url(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line)
        match = re.search(r"(http://[\w.\-]+:\d+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"no URL printed within {timeout} s; output so far:\n{''.join(lines)}")


def test_realcam_demo_prints_its_url_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "realcam", "demo", "--port", "0", "--size", "96x160"]
    process = subprocess.Popen(
        [*command, "--output-dir", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        url = _read_url(process, timeout=120.0)
        assert url.startswith("http://127.0.0.1:"), url  # localhost only unless --host says otherwise
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            body = response.read().decode("utf-8", errors="replace")
        assert "<html" in body.lower()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode in (0, 130, -signal.SIGINT), process.returncode
