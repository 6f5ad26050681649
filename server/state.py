"""The application's typed state keys and configuration (kept apart so route modules can import them).

Handlers read their collaborators from the app with these :class:`aiohttp.web.AppKey` s; nothing in the
server is a module global, so two apps in one process (tests do this) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

if TYPE_CHECKING:
    from server.queue import JobQueue
    from server.worker import Worker
    from server.ws import Hub


@dataclass(frozen=True)
class ServerConfig:
    """What the server adds to the runtime's settings.

    Args:
        api_key: require this key on every route and the websocket (None: no authentication).
        cors_origin: answer CORS for this origin (``*`` for any) instead of refusing cross-site requests.
        max_upload_mb: the largest request body, in MiB (ComfyUI's ``--max-upload-size``).
        database: the queue's SQLite file (default ``<user>/latentloom.db``).
        on_restart: what happens to a job that was running when the server died: ``requeue`` (once) or
            ``fail``.
        synchronous: SQLite's ``synchronous`` mode; ``FULL`` syncs every commit.
        preview_size: the largest side of sampler previews.
        shutdown_timeout: seconds to wait for the running node to stop on shutdown.
        argv: the command line, reported by /system_stats.
    """

    api_key: str | None = None
    cors_origin: str | None = None
    max_upload_mb: float = 100.0
    database: str | None = None
    on_restart: Literal["requeue", "fail"] = "requeue"
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    preview_size: int = 512
    shutdown_timeout: float = 10.0
    argv: tuple[str, ...] = ()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def features(self) -> dict[str, Any]:
        """The server's feature flags (``GET /features`` and the websocket's ``feature_flags`` answer)."""
        return {"supports_preview_metadata": True, "max_upload_size": float(self.max_upload_bytes),
                "supports_msgpack": True}


RUNTIME = web.AppKey("runtime", Any)  # nodes.runtime.Runtime
CONFIG = web.AppKey("config", ServerConfig)
QUEUE: web.AppKey[JobQueue] = web.AppKey("queue")
HUB: web.AppKey[Hub] = web.AppKey("hub")
WORKER: web.AppKey[Worker] = web.AppKey("worker")
