"""Kill the server with SIGKILL while a job runs: nothing accepted is lost.

These tests start ``latentloom serve`` as a real process (the only way to test a crash), with the toy pack
copied into a custom_nodes folder, and talk to it with urllib.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server import toy_pack
from tests.server.conftest import save_workflow, sleep_workflow

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class ServerProcess:
    """``latentloom serve --port 0`` in a subprocess; ``url`` is read from its one line of output."""

    def __init__(self, base: Path, *extra: str) -> None:
        nodes_dir = base / "toy_nodes"
        nodes_dir.mkdir(exist_ok=True)
        shutil.copy(toy_pack.__file__, nodes_dir / "toy_pack.py")
        cmd = [sys.executable, "-m", "nodes.cli", "serve", "--port", "0", "--base-dir", str(base),
               "--custom-nodes", str(nodes_dir), "--no-entry-points", *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        line = self._readline(30)
        match = re.search(r"http://[\d.]+:(\d+)", line)
        assert match, f"unexpected first line {line!r}; stderr: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def _readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the server printed nothing"
        return self.proc.stdout.readline()

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            data = resp.read()
        return json.loads(data) if data else None

    def wait(self, predicate: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError("timed out")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        return self.proc.returncode


def _running(server: ServerProcess, prompt_id: str) -> bool:
    running = server.get("/queue")["queue_running"]
    return bool(running) and running[0][1] == prompt_id


def _crash_with_a_running_job(base: Path) -> None:
    first = ServerProcess(base)
    try:
        first.post("/prompt", {"prompt": save_workflow(11), "prompt_id": "before"})
        first.wait(lambda: first.get("/history/before"))
        first.post("/prompt", {"prompt": sleep_workflow(1.5, value=5), "prompt_id": "long"})
        first.wait(lambda: _running(first, "long"))
        first.post("/prompt", {"prompt": save_workflow(22), "prompt_id": "after"})  # accepted, then the crash
    finally:
        first.kill()


def test_sigkill_while_running_then_restart_requeues_once(tmp_path: Path) -> None:
    _crash_with_a_running_job(tmp_path)
    second = ServerProcess(tmp_path)
    try:
        history = second.wait(lambda: (h := second.get("/history")) and "after" in h and "long" in h and h)
        assert list(history) == ["before", "long", "after"]  # "long" was re-queued and ran first again
        assert history["before"]["outputs"]["2"]["images"][0]["filename"] == "toy_00001_.png"
        assert history["long"]["status"]["status_str"] == "success"
        assert history["long"]["outputs"] == {"2": {"text": ["5"]}}
        assert history["after"]["outputs"]["2"]["images"][0]["filename"] == "toy_00002_.png"
        jobs = {j["id"]: j["status"] for j in second.get("/api/jobs")["jobs"]}
        assert jobs == {"before": "completed", "long": "completed", "after": "completed"}
    finally:
        assert second.stop() == 0


def test_sigkill_then_restart_with_fail_policy(tmp_path: Path) -> None:
    _crash_with_a_running_job(tmp_path)
    second = ServerProcess(tmp_path, "--on-restart", "fail")
    try:
        history = second.wait(lambda: (h := second.get("/history")) and "after" in h and h)
        assert list(history) == ["before", "long", "after"]
        error = history["long"]["status"]["messages"][-1]
        assert error[0] == "execution_error" and error[1]["exception_type"] == "latentloom.ServerRestarted"
        assert second.get("/api/jobs/long")["status"] == "failed"
        assert history["after"]["status"]["status_str"] == "success"
    finally:
        second.stop()


def test_graceful_stop_puts_the_running_job_back(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path)
    first.post("/prompt", {"prompt": sleep_workflow(10), "prompt_id": "long"})
    first.wait(lambda: _running(first, "long"))
    assert first.stop() == 0
    second = ServerProcess(tmp_path)
    try:
        second.wait(lambda: _running(second, "long"))
        job = second.get("/api/jobs/long")
        assert job["status"] == "in_progress"
        second.post("/api/jobs/long/cancel", {})
        second.wait(lambda: second.get("/api/jobs/long")["status"] == "cancelled")
    finally:
        second.stop()
