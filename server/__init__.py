"""latentloom's HTTP and websocket server: ComfyUI's API, a durable queue, and more.

``import server`` is cheap and imports neither torch nor aiohttp; :func:`create_app` and
:class:`ServerConfig` load the application modules when first used::

    from server import create_app, ServerConfig
    app = create_app(build_runtime(Settings()), ServerConfig(api_key="..."))

Modules: ``app`` (the factory), ``routes`` and ``files`` (HTTP handlers), ``ws`` (the websocket hub),
``events`` (graph events to messages; JSON/msgpack encoding), ``queue`` (SQLite queue and history),
``worker`` (the engine thread), ``auth``, ``openapi``, ``cli`` (``latentloom serve``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from server.app import create_app

        return create_app
    if name == "ServerConfig":
        from server.state import ServerConfig

        return ServerConfig
    raise AttributeError(f"module 'server' has no attribute {name!r}")
