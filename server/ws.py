"""The websocket hub: ``/ws?clientId=...``, the registry of sockets, and ordered delivery.

A :class:`Connection` is registered under its session id (``clientId`` when given, a fresh hex uuid
otherwise) for as long as its handler runs; registration and removal sit in ``try/finally``, and a newer
socket with the same id replaces an older one without the older one's exit removing it. Every connection
has an outbox (an ``asyncio.Queue``) drained by its own writer task, so :meth:`Hub.publish` never awaits, one
slow client never delays the others, and each client receives messages in the order they were published.
A client whose outbox passes :data:`MAX_BACKLOG` loses its preview frames first (they are the bulk) and is
disconnected past ``4 * MAX_BACKLOG``.

Negotiation (comfyui-reference 2.1): the first text message may be ``{"type": "feature_flags", "data":
{...}}``; the server stores the client's flags and answers with its own. ``supports_preview_metadata``
switches previews to type-4 frames; ``supports_msgpack`` (latentloom) switches the connection, after that
answer, to binary msgpack frames for every message, previews included. Other client messages are ignored.

On shutdown every socket is closed with ``GOING_AWAY`` (``Hub.close_all`` is an ``on_shutdown`` hook).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from server.events import Message, loads, status_message

logger = logging.getLogger(__name__)

MAX_BACKLOG = 1024
_CLOSE = object()  # outbox marker: close the socket
_MSGPACK = object()  # outbox marker: from here on, send msgpack frames


class Connection:
    """One websocket: its id, negotiated flags and outbox."""

    def __init__(self, sid: str, ws: web.WebSocketResponse) -> None:
        self.sid = sid
        self.ws = ws
        self.client_flags: dict[str, Any] = {}
        self.preview_metadata = False
        self.msgpack = False
        self.outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None

    def enqueue(self, message: Message) -> None:
        backlog = self.outbox.qsize()
        if backlog >= MAX_BACKLOG:
            if message.preview is not None:
                return
            if backlog >= 4 * MAX_BACKLOG:
                logger.warning("websocket %s is not reading; closing it", self.sid)
                self.outbox.put_nowait(_CLOSE)
                return
        self.outbox.put_nowait(message)

    async def write_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            if item is _CLOSE:
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")
                return
            if item is _MSGPACK:
                self.msgpack = True
                continue
            try:
                await self._send(item)
            except (ConnectionError, RuntimeError):  # the peer went away; the handler cleans up
                return

    async def _send(self, message: Message) -> None:
        if self.msgpack:
            await self.ws.send_bytes(message.packed())
        elif message.preview is not None:
            await self.ws.send_bytes(message.preview_frame(self.preview_metadata))
        else:
            await self.ws.send_str(message.text())


class Hub:
    """Sockets by session id, and publishing to one of them or to all.

    Args:
        features: the server's feature flags, sent in answer to a client's ``feature_flags``.
        queue_remaining: reads the current ``queue_remaining`` for the on-connect ``status``.
    """

    def __init__(self, features: dict[str, Any], queue_remaining: Callable[[], int]) -> None:
        self.features = features
        self.queue_remaining = queue_remaining
        self.connections: dict[str, Connection] = {}
        self.running_client: str | None = None
        self.running_node: str | None = None

    def publish(self, message: Message) -> None:
        """Deliver to ``message.sid``, or to every socket when it is None (never blocks)."""
        if message.sid is None:
            for conn in list(self.connections.values()):
                conn.enqueue(message)
            return
        conn = self.connections.get(message.sid)
        if conn is not None:
            conn.enqueue(message)

    def broadcast_status(self) -> None:
        self.publish(status_message(self.queue_remaining()))

    def set_running(self, client: str | None, node: str | None) -> None:
        """Remember which client's node runs, so a reconnecting client is told (comfyui-reference 2.1)."""
        self.running_client, self.running_node = client, node

    async def close_all(self, app: web.Application | None = None) -> None:
        """Close every socket with GOING_AWAY (an ``on_shutdown`` hook)."""
        closing = [conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                   for conn in list(self.connections.values())]
        await asyncio.gather(*closing, return_exceptions=True)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Run one websocket until it closes."""
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        conn = Connection(sid, ws)
        self.connections[sid] = conn
        conn.writer = asyncio.ensure_future(conn.write_loop())
        try:
            conn.enqueue(status_message(self.queue_remaining(), sid))
            if self.running_client == sid and self.running_node is not None:
                conn.enqueue(Message("executing", {"node": self.running_node}, sid))
            await self._read_loop(conn)
        finally:
            if self.connections.get(sid) is conn:
                del self.connections[sid]
            conn.writer.cancel()
        return ws

    async def _read_loop(self, conn: Connection) -> None:
        first = True
        async for msg in conn.ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if first:
                first = False
                self._negotiate(conn, msg.data)

    def _negotiate(self, conn: Connection, text: str) -> None:
        try:
            data = loads(text)
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("type") != "feature_flags" or not isinstance(data.get("data"), dict):
            return
        flags = data["data"]
        conn.client_flags = flags
        conn.preview_metadata = flags.get("supports_preview_metadata") is True
        conn.enqueue(Message("feature_flags", self.features, conn.sid))
        if flags.get("supports_msgpack") is True:
            conn.outbox.put_nowait(_MSGPACK)  # after the answer, which still goes out as JSON
