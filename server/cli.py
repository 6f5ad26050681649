"""``latentloom serve``: ComfyUI's server flags where they apply, and one line saying where it listens.

::

    latentloom serve [--listen [IP[,IP...]]] [--port 8188] [--api-key KEY] [--enable-cors-header [ORIGIN]]
                     [--output-directory DIR] [--input-directory DIR] [--temp-directory DIR] [--user-directory DIR]
                     [--extra-model-paths-config YAML]
                     [--cache-classic | --cache-lru N | --cache-ram [GB] | --cache-none]
                     [--cpu | --gpu-only | --highvram | --normalvram | --lowvram | --novram]
                     [--reserve-vram GB] [--vram-budget GB] [--ram-budget GB]
                     [--preview-method none|auto|latent2rgb|taesd] [--max-upload-size MB]
                     [--on-restart requeue|fail] [--database FILE]

The memory flags are the same as ``latentloom run``'s (:func:`nodes.memory.config.add_memory_arguments`) and
fill ``Settings.vram_mode`` and the budgets for the model manager; ``Settings.extra`` keeps ``vram_mode`` and
``cpu`` too, as before.
This module imports only the standard library at import time, so ``latentloom run`` does not pay for aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from nodes.memory.config import add_memory_arguments, memory_settings

API_KEY_ENV = "LATENTLOOM_API_KEY"
VRAM_MODES = ("gpu_only", "highvram", "normalvram", "lowvram", "novram")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to ``parser``."""
    net = parser.add_argument_group("network")
    net.add_argument("--listen", nargs="?", const="0.0.0.0,::", default="127.0.0.1", metavar="IP",
                     help="address(es) to listen on, comma separated (default 127.0.0.1; bare --listen: all)")
    net.add_argument("--port", type=int, default=8188, help="port (default 8188; 0 picks a free one)")
    net.add_argument("--api-key", default=None, help=f"require this key on every request (or set ${API_KEY_ENV})")
    net.add_argument("--enable-cors-header", nargs="?", const="*", default=None, metavar="ORIGIN",
                     help="answer CORS for ORIGIN (default *) instead of refusing cross-site browser requests")
    net.add_argument("--max-upload-size", type=float, default=100.0, metavar="MB", help="largest request body (MiB)")
    dirs = parser.add_argument_group("folders")
    dirs.add_argument("--output-directory", default=None)
    dirs.add_argument("--input-directory", default=None)
    dirs.add_argument("--temp-directory", default=None)
    dirs.add_argument("--user-directory", default=None)
    cache = parser.add_argument_group("cache").add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true", help="keep the results of the last run (default)")
    cache.add_argument("--cache-lru", type=int, default=0, metavar="N", help="keep N results across runs")
    cache.add_argument("--cache-ram", nargs="?", type=float, const=4.0, default=None, metavar="GB",
                       help="evict results when free RAM drops below GB")
    cache.add_argument("--cache-none", action="store_true", help="keep no results between runs")
    add_memory_arguments(parser)
    parser.add_argument("--preview-method", choices=["none", "auto", "latent2rgb", "taesd"], default="none")
    parser.add_argument("--preview-size", type=int, default=512)
    queue = parser.add_argument_group("queue")
    queue.add_argument("--on-restart", choices=["requeue", "fail"], default="requeue",
                       help="a job that was running when the server died: re-queue it once (default) or fail it")
    queue.add_argument("--database", default=None, help="the queue's SQLite file (default <user>/latentloom.db)")
    queue.add_argument("--queue-sync", choices=["full", "normal"], default="full",
                       help="full: sync every commit to disk (default); normal: survive crashes, not power cuts")


def settings_from_args(args: argparse.Namespace) -> Any:
    from nodes.runtime import Settings

    cache = "last"
    more: dict[str, Any] = {}
    if args.cache_lru:
        cache, more = "lru", {"cache_lru": args.cache_lru}
    elif args.cache_ram is not None:
        cache, more = "ram", {"cache_ram_gb": args.cache_ram}
    elif args.cache_none:
        cache = "none"
    extra = {"cpu": bool(args.cpu), "vram_mode": "cpu" if args.cpu else (args.vram_mode or "normalvram"),
             "preview_size": args.preview_size}
    more.update(memory_settings(args))
    return Settings(extra_model_paths=tuple(args.extra_model_paths_config), precision=args.precision,base_dir=args.base_dir, output_dir=args.output_directory, input_dir=args.input_directory,
                    temp_dir=args.temp_directory, user_dir=args.user_directory, custom_nodes=tuple(args.custom_nodes),
                    disable_custom_nodes=args.disable_all_custom_nodes, entry_points=not args.no_entry_points,
                    cache=cache, preview_method=args.preview_method, extra=extra, **more)


def config_from_args(args: argparse.Namespace, argv: list[str]) -> Any:
    from server.state import ServerConfig

    return ServerConfig(api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
                        cors_origin=args.enable_cors_header, max_upload_mb=args.max_upload_size,
                        database=args.database, on_restart=args.on_restart, synchronous=args.queue_sync.upper(),
                        preview_size=args.preview_size, argv=tuple(argv))


def run_serve(args: argparse.Namespace) -> int:
    """Build the runtime and the app, listen, and serve until SIGINT/SIGTERM."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from nodes.runtime import build_runtime
    from server.app import create_app

    runtime = build_runtime(settings_from_args(args))
    for failure in getattr(runtime.load_report, "failures", ()):
        print(f"latentloom: custom node pack {failure.name} failed to import and was skipped: {failure.error}",
              file=sys.stderr)
    config = config_from_args(args, list(sys.argv))
    app = create_app(runtime, config)
    hosts = [h.strip() for h in args.listen.split(",") if h.strip()]
    try:
        asyncio.run(_serve(app, hosts, args.port, bool(config.api_key)))
    except OSError as exc:
        print(f"latentloom: cannot listen on {args.listen}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(app: Any, hosts: list[str], port: int, auth: bool) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        for host in hosts:
            await web.TCPSite(runner, host, port).start()
            if port == 0:  # every address shares the port picked for the first
                port = runner.addresses[0][1]
        urls = " and ".join(_url(addr) for addr in runner.addresses)
        print(f"latentloom serving on {urls}" + (" (API key required)" if auth else ""), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
