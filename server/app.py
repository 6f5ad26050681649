"""The application factory.

::

    runtime = build_runtime(Settings(base_dir="."))
    app = create_app(runtime, ServerConfig(api_key=None))
    web.run_app(app, host="127.0.0.1", port=8188)

:func:`create_app` builds everything a server needs from a runtime (``nodes.runtime.Runtime``) with
explicit constructor injection and stores it under typed keys (``server/state.py``): the durable queue, the
websocket hub and the worker. Nothing is global; tests build several apps side by side.

Lifecycle: a ``cleanup_ctx`` opens the queue's database (recovering jobs a crash left behind) and starts
the worker before the first request, and on exit stops the worker (the running job goes back to pending)
and closes the database. ``on_shutdown`` closes every websocket with ``GOING_AWAY`` first.

Routes (``server/routes.py``, ``server/files.py``) are mounted at ``/x`` and again at ``/api/x``.
Middlewares, outermost first: CORS *or* the origin check (``server/auth.py``), the error middleware
(``server/http.py``), then the API key check when a key is set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from server import files, routes
from server.auth import api_key_middleware, cors_middleware, origin_only_middleware
from server.http import error_middleware
from server.queue import JobQueue
from server.state import CONFIG, HUB, QUEUE, RUNTIME, WORKER, ServerConfig
from server.worker import Worker
from server.ws import Hub

logger = logging.getLogger(__name__)

ROUTE_TABLES = (routes.routes, files.routes)


def create_app(runtime: Any, config: ServerConfig | None = None) -> web.Application:
    """A ready :class:`aiohttp.web.Application` serving ``runtime``.

    Args:
        runtime: a ``nodes.runtime.Runtime`` (folders, registry, engine, settings).
        config: server options (API key, CORS, upload limit, database, restart policy).
    """
    config = config or ServerConfig()
    middlewares: list[Any] = [cors_middleware(config.cors_origin) if config.cors_origin else origin_only_middleware,
                              error_middleware]
    if config.api_key:
        middlewares.append(api_key_middleware(config.api_key))
    app = web.Application(client_max_size=config.max_upload_bytes, middlewares=middlewares)
    runtime.folders.ensure()
    queue = JobQueue(config.database or Path(runtime.folders.user) / "latentloom.db", synchronous=config.synchronous)
    hub = Hub(config.features(), lambda: queue.remaining)
    app[RUNTIME] = runtime
    app[CONFIG] = config
    app[QUEUE] = queue
    app[HUB] = hub
    app[WORKER] = Worker(runtime, queue, hub, preview_size=config.preview_size)
    mount(app.router, ROUTE_TABLES)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(hub.close_all)
    return app


def mount(router: web.UrlDispatcher, tables: tuple[web.RouteTableDef, ...]) -> None:
    """Register every route at its path and again under ``/api`` (ComfyUI's duplication)."""
    for table in tables:
        for route in table:
            assert isinstance(route, web.RouteDef), "route tables hold plain routes only"
            route.register(router)
            web.RouteDef(route.method, "/api" + route.path, route.handler, route.kwargs).register(router)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Open the queue and start the worker; on exit stop the worker and close the queue."""
    queue, worker, config = app[QUEUE], app[WORKER], app[CONFIG]
    requeued, failed = await queue.open(requeue_running=config.on_restart == "requeue")
    if requeued or failed:
        logger.warning("recovered after a crash: %d job(s) re-queued, %d marked failed", len(requeued), len(failed))
    worker.start()
    try:
        yield
    finally:
        await worker.stop(config.shutdown_timeout)
        await queue.close()
