"""Server figures: readiness, idle memory, submission throughput, websocket traffic, completion delay.

Starts ``latentloom serve`` in a subprocess (on 127.0.0.1, a free port, a temporary base folder, the toy
node pack of the server tests as a custom node pack) and prints:

* **ready**: seconds from launching the process to the first answer of ``GET /system_stats`` (median of
  ``--launches``);
* **idle RSS**: the server's resident memory after it has been idle for a second;
* **POST /prompt per second**: ``--clients`` concurrent clients (one connection each) submitting a small
  workflow while the worker is busy with a long job, so the figure is validation plus durable enqueue
  (SQLite, WAL, ``synchronous=FULL``, group commit); also with ``--queue-sync normal``;
* **websocket bytes per executed node**: every byte of every frame a client receives for a 200-node
  ``IntAdd`` chain ending in ``PreviewAny``, from submission to the completion signal, over the nodes run;
* **completion delay**: from the client receiving the last node's ``progress_state`` (finished) to
  receiving ``executing`` with ``node: null`` (history is written in between), median and max of ``--runs``.

    .venv/bin/python benchmarks/server.py [--clients 50] [--per-client 40] [--chain 200] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
TOY_PACK = ROOT / "tests" / "server" / "toy_pack.py"
COMFY_BYTES_200 = 8_000_000  # ComfyUI 0.8 on this machine, 200-node chain (from the issue)


class Server:
    """A ``latentloom serve`` process; ``url`` and ``launch_seconds`` are set once it answers."""

    def __init__(self, base: Path, *extra: str) -> None:
        nodes_dir = base / "bench_nodes"
        nodes_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(TOY_PACK, nodes_dir / "toy_pack.py")
        cmd = [sys.executable, "-m", "nodes.cli", "serve", "--port", "0", "--base-dir", str(base), "--custom-nodes",
               str(nodes_dir), "--no-entry-points", *extra]
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        match = re.search(r"http://[\d.]+:(\d+)", line)
        if not match:
            raise SystemExit(f"the server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"
        while True:
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=5) as resp:
                    resp.read()
                break
            except OSError:
                time.sleep(0.002)
        self.launch_seconds = time.perf_counter() - started

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def small_workflow(i: int) -> dict[str, Any]:
    return {"1": {"class_type": "PrimitiveInt", "inputs": {"value": i}},
            "2": {"class_type": "IntAdd", "inputs": {"a": ["1", 0], "b": 3}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}


def chain(n: int, salt: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {"1": {"class_type": "IntAdd", "inputs": {"a": salt, "b": 1}}}
    for i in range(2, n + 1):
        doc[str(i)] = {"class_type": "IntAdd", "inputs": {"a": [str(i - 1), 0], "b": 1}}
    doc["out"] = {"class_type": "PreviewAny", "inputs": {"source": [str(n), 0]}}
    return doc


async def submissions_per_second(url: str, clients: int, per_client: int) -> float:
    async with aiohttp.ClientSession() as session:
        await session.post(url + "/prompt", json={"prompt": {
            "1": {"class_type": "SleepToy", "inputs": {"value": 0, "seconds": 600}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}, "prompt_id": "blocker"})
        sessions = [aiohttp.ClientSession() for _ in range(clients)]

        async def client(k: int) -> None:
            for j in range(per_client):
                async with sessions[k].post(url + "/prompt", json={"prompt": small_workflow(k * per_client + j)}) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        seconds = time.perf_counter() - started
        for s in sessions:
            await s.close()
        await session.post(url + "/queue", json={"clear": True})
        await session.post(url + "/interrupt", json={"prompt_id": "blocker"})
    return clients * per_client / seconds


async def run_with_ws(url: str, prompt: dict[str, Any], client_id: str) -> dict[str, float]:
    """Submit ``prompt`` and follow it on a websocket: bytes, wall time and completion delay."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http", "ws") + f"/ws?clientId={client_id}") as ws:
            await ws.receive()  # the status with sid
            total, last_finished = 0, None
            started = time.perf_counter()
            async with session.post(url + "/prompt", json={"prompt": prompt, "client_id": client_id}) as resp:
                prompt_id = (await resp.json())["prompt_id"]
            while True:
                msg = await ws.receive(timeout=120)
                data = msg.data if msg.type == aiohttp.WSMsgType.BINARY else msg.data.encode()
                total += len(data)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                if message["type"] == "progress_state":
                    nodes = message["data"]["nodes"]
                    if nodes.get("out", {}).get("state") == "finished":
                        last_finished = time.perf_counter()
                elif message["type"] == "executing" and message["data"]["node"] is None \
                        and message["data"]["prompt_id"] == prompt_id:
                    done = time.perf_counter()
                    break
    return {"bytes": total, "wall": done - started, "delay": done - (last_finished or done)}


async def websocket_figures(url: str, n: int, runs: int) -> dict[str, Any]:
    first = await run_with_ws(url, chain(n, salt=1), "bench")
    delays = [(await run_with_ws(url, chain(n, salt=100 + i), f"bench{i}"))["delay"] for i in range(runs)]
    return {"chain": first, "delays": delays}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=40)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="latentloom-bench-") as tmp:
        launches = []
        for i in range(args.launches):
            server = Server(Path(tmp) / f"launch{i}")
            launches.append(server.launch_seconds)
            if i < args.launches - 1:
                server.stop()
        time.sleep(1.0)
        rss = server.rss_mib()
        try:
            rate_full = asyncio.run(submissions_per_second(server.url, args.clients, args.per_client))
            ws = asyncio.run(websocket_figures(server.url, args.chain, args.runs))
        finally:
            server.stop()
        normal = Server(Path(tmp) / "normal", "--queue-sync", "normal")
        try:
            rate_normal = asyncio.run(submissions_per_second(normal.url, args.clients, args.per_client))
        finally:
            normal.stop()

    nodes = args.chain + 1
    chain_fig = ws["chain"]
    scaled = chain_fig["bytes"] * (200 + 1) / nodes
    print(f"server benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"  ready (launch -> first GET /system_stats): median {statistics.median(launches):.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s in launches)}; ComfyUI 0.8: 7.4 s)")
    print(f"  idle RSS: {rss:.0f} MiB (ComfyUI 0.8: about 590 MiB)")
    print(f"  POST /prompt, {args.clients} concurrent clients, {args.clients * args.per_client} submissions: "
          f"{rate_full:.0f}/s durable (synchronous=FULL), {rate_normal:.0f}/s with --queue-sync normal")
    print(f"  websocket, {args.chain}-node chain + PreviewAny: {chain_fig['bytes']} bytes, "
          f"{chain_fig['bytes'] / nodes:.0f} bytes per executed node, "
          f"{100 * scaled / COMFY_BYTES_200:.1f}% of ComfyUI's 8 MB; wall {chain_fig['wall'] * 1000:.0f} ms")
    delays = sorted(d * 1000 for d in ws["delays"])
    print(f"  last node finished -> completion message: median {statistics.median(delays):.2f} ms, "
          f"max {delays[-1]:.2f} ms over {len(delays)} runs (history written in between)")


if __name__ == "__main__":
    main()
