"""Graph events as ComfyUI websocket messages, and the one place where payloads are encoded.

Threading model
---------------
The engine is synchronous and runs in one worker thread (``server/worker.py``); the aiohttp event loop owns
every socket. They meet here, in a :class:`RunBridge` made for each job:

* :meth:`RunBridge.hook` is the engine's hook and runs **on the engine thread**. It does the only CPU work
  an event may need (encoding a preview image to JPEG/PNG bytes), then hands the event to the loop with
  ``loop.call_soon_threadsafe(bridge.handle, event)``. It never touches a socket or the bridge's state.
* :meth:`RunBridge.handle` runs **on the event loop**. It maps the event to ComfyUI messages (comfyui-reference
  2.3), remembers the ones history keeps (``execution_start``, ``execution_cached``, and the outcome), and
  publishes them through the websocket hub.

Callbacks scheduled with ``call_soon_threadsafe`` run in FIFO order, and the ``run_in_executor`` future the
worker awaits resolves through the same queue once the engine returns. So when the worker resumes, every
event of the run has been handled; it writes history, then publishes the completion signal (``executing``
with ``node: null``), which is therefore always the last message of the run. No second event loop exists.

Who receives what (comfyui-reference 2.2): ``status`` goes to every socket; ``execution_*``, ``executing`` and
``executed`` only to the submitting client (nothing at all without a ``client_id``); ``progress``,
``progress_state``, previews and ``execution_interrupted`` to the client, or to everyone without one.

progress_state
--------------
ComfyUI sends, at every node start, progress update and node finish, a snapshot of *every* node of the
prompt that has started, so its traffic grows with the square of the prompt's length (8 MB of JSON for a
200-node chain). latentloom sends the nodes whose state changed in that instant plus every node still
running. A client that merges messages (``nodes`` into a map per ``prompt_id``) rebuilds ComfyUI's snapshot
exactly; a client that replaces its map with each message, as the stock frontend does, still sees exactly
which nodes are running and their value/max, which is what it draws. Finished nodes are announced once.

Encoding
--------
:func:`dumps` / :func:`loads` (JSON) and :func:`pack` / :func:`unpack` (msgpack) are the only encoders of the
server; HTTP bodies (``server/http.py``) and websocket frames (:class:`Message`) both use them. Binary
preview frames follow comfyui-reference 2.5: ``[u32 1][u32 image_type][bytes]`` for legacy clients,
``[u32 4][u32 len][metadata JSON][bytes]`` for clients that announced ``supports_preview_metadata``, and in
msgpack mode one map ``{"type": "preview_image", "data": {...metadata, "image": <bytes>}}``.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from graph.errors import GraphError, NodeFailed
from graph.events import (
    Event,
    Executed,
    ExecutionBlocked,
    ExecutionCached,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Executing,
    NodeFinished,
    Progress,
)

__all__ = [
    "Message", "Preview", "RunBridge", "dumps", "encode_preview", "loads", "now_ms", "pack", "status_message",
    "unpack",
]

#: The JPEG quality and largest side of sampler previews (ComfyUI's defaults).
PREVIEW_QUALITY = 95
PREVIEW_SIZE = 512
#: Binary event types (comfyui-reference 2.5).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_TYPES = {"image/jpeg": 1, "image/png": 2}


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------
# Codecs


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return repr(value)


def dumps(data: Any) -> str:
    """Compact JSON; values JSON cannot hold (tuples, mappings, objects) are converted, never fatal."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def loads(data: str | bytes) -> Any:
    """Parse JSON. Raises ValueError (json.JSONDecodeError or UnicodeDecodeError) on bad input."""
    return json.loads(data)


def _pack_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, int):  # beyond 64 bits: msgpack has no such integers
        return str(value)
    return repr(value)


def pack(data: Any) -> bytes:
    """msgpack bytes (binary strings as bin, text as str)."""
    try:
        return msgpack.packb(data, default=_pack_default, use_bin_type=True)
    except OverflowError:  # an int over 64 bits inside a plain list/dict: go through JSON's safety net
        return msgpack.packb(json.loads(dumps(data)), use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Parse msgpack. Raises ValueError (msgpack's errors are ValueErrors) on bad input."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ValueError(str(exc)) from exc


# --------------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True, slots=True)
class Preview:
    """An encoded preview image and the metadata of its node."""

    image: bytes
    mime: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class Message:
    """One websocket message for ``sid`` (None: every socket), encoded lazily once per wire format."""

    type: str
    data: Any
    sid: str | None = None
    preview: Preview | None = None
    _text: str | None = field(default=None, repr=False)
    _packed: bytes | None = field(default=None, repr=False)
    _frames: dict[int, bytes] = field(default_factory=dict, repr=False)

    def text(self) -> str:
        """The JSON text frame ``{"type", "data"}``."""
        if self._text is None:
            self._text = dumps({"type": self.type, "data": self.data})
        return self._text

    def packed(self) -> bytes:
        """The msgpack frame; a preview carries its image as binary ``data.image``."""
        if self._packed is None:
            if self.preview is not None:
                body = {**self.preview.metadata, "image_type": self.preview.mime, "image": self.preview.image}
                self._packed = pack({"type": self.type, "data": body})
            else:
                self._packed = pack({"type": self.type, "data": self.data})
        return self._packed

    def preview_frame(self, with_metadata: bool) -> bytes:
        """The binary preview frame: type 4 with metadata, or legacy type 1."""
        assert self.preview is not None, "not a preview message"
        kind = PREVIEW_IMAGE_WITH_METADATA if with_metadata else PREVIEW_IMAGE
        frame = self._frames.get(kind)
        if frame is None:
            p = self.preview
            if with_metadata:
                meta = dumps({**p.metadata, "image_type": p.mime}).encode()
                frame = struct.pack(">II", kind, len(meta)) + meta + p.image
            else:
                frame = struct.pack(">II", kind, _IMAGE_TYPES.get(p.mime, 1)) + p.image
            self._frames[kind] = frame
        return frame


def status_message(queue_remaining: int, sid: str | None = None) -> Message:
    """``status``: broadcast on every queue change; the on-connect copy adds ``sid`` and targets it."""
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": queue_remaining}}}
    if sid is not None:
        data["sid"] = sid
    return Message("status", data, sid)


# --------------------------------------------------------------------------------------------------
# Previews


def encode_preview(preview: Any, max_size: int = PREVIEW_SIZE) -> tuple[bytes, str] | None:
    """Encode what a node passed to ``progress(..., preview)``: a PIL image (JPEG, downscaled to
    ``max_size``), ComfyUI's ``("JPEG"|"PNG", image, max_size|None)`` tuple, or ready ``(bytes, mime)``.
    Returns None for anything else (the preview is dropped, the progress message still goes out)."""
    fmt, image, size = "JPEG", preview, max_size
    if isinstance(preview, tuple) and len(preview) == 2 and isinstance(preview[0], (bytes, bytearray)):
        return bytes(preview[0]), str(preview[1])
    if isinstance(preview, tuple) and len(preview) == 3:
        fmt, image, size = str(preview[0]).upper(), preview[1], preview[2] or max_size
    if not (hasattr(image, "save") and hasattr(image, "size")):
        return None
    if max(image.size) > size:
        image = image.copy()
        image.thumbnail((size, size))
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), "image/png"
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(buffer, format="JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue(), "image/jpeg"


@dataclass(frozen=True, slots=True)
class _EncodedProgress:
    """A Progress event whose preview was encoded on the engine thread."""

    event: Progress
    preview: tuple[bytes, str] | None


# --------------------------------------------------------------------------------------------------
# The bridge


class RunBridge:
    """Maps the events of one job to messages and keeps what history needs (see the module docstring).

    Args:
        prompt_id: the job. client_id: the submitting socket's id, or None.
        loop: the server's event loop. publish: the hub's publish function (called on the loop).
        on_node: told (on the loop) which node runs now, None when none, for reconnect replays.
    """

    def __init__(
        self,
        prompt_id: str,
        client_id: str | None,
        loop: asyncio.AbstractEventLoop,
        publish: Callable[[Message], None],
        on_node: Callable[[str | None], None] | None = None,
        preview_size: int = PREVIEW_SIZE,
    ) -> None:
        self.prompt_id = prompt_id
        self.client_id = client_id
        self.loop = loop
        self.publish = publish
        self.on_node = on_node
        self.preview_size = preview_size
        self.history_messages: list[list[Any]] = []
        self.display: dict[str, str] = {}
        self.running: dict[str, tuple[float, float]] = {}
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.outcome: str | None = None  # success | error | interrupted
        self.started = False

    # -- engine thread ---------------------------------------------------------------------------------
    def hook(self, event: Event) -> None:
        """The engine's hook (engine thread): encode a preview, then hand over to the loop."""
        item: Any = event
        if isinstance(event, Progress) and event.preview is not None:
            try:
                encoded = encode_preview(event.preview, self.preview_size)
            except Exception:  # a broken preview must not fail the node
                encoded = None
            item = _EncodedProgress(event, encoded)
        try:
            self.loop.call_soon_threadsafe(self.handle, item)
        except RuntimeError:  # the loop is closed: the server is gone, nobody is listening
            pass

    # -- event loop ------------------------------------------------------------------------------------
    def handle(self, item: Any) -> None:
        """Map one event to messages and publish them (event loop)."""
        if isinstance(item, _EncodedProgress):
            self._on_progress(item.event, item.preview)
            return
        handler = _HANDLERS.get(type(item))
        if handler is not None:
            handler(self, item)

    def _send(self, kind: str, data: dict[str, Any], *, broadcast_without_client: bool = False) -> None:
        if self.client_id is None and not broadcast_without_client:
            return
        self.publish(Message(kind, data, self.client_id))

    def _remember(self, kind: str, data: dict[str, Any]) -> None:
        self.history_messages.append([kind, data])

    def _on_start(self, event: ExecutionStart) -> None:
        self.started = True
        data = {"prompt_id": self.prompt_id, "timestamp": now_ms()}
        self._remember("execution_start", data)
        self._send("execution_start", data)

    def _on_cached(self, event: ExecutionCached) -> None:
        self.cached = list(event.nodes)
        data = {"nodes": list(event.nodes), "prompt_id": self.prompt_id, "timestamp": now_ms()}
        self._remember("execution_cached", data)
        self._send("execution_cached", data)

    def _on_executing(self, event: Executing) -> None:
        node = event.node
        self.display[node] = event.display_node or node
        self.running[node] = (0, 1)
        self._progress_state({node: "running"})
        self._send("executing", {"node": node, "display_node": self.display[node], "prompt_id": self.prompt_id})
        if self.on_node is not None:
            self.on_node(node)

    def _on_progress(self, event: Progress, preview: tuple[bytes, str] | None = None) -> None:
        node = event.node
        value, total = _number(event.value), _number(event.max)
        self.running[node] = (value, total)
        self._send("progress", {"value": value, "max": total, "prompt_id": self.prompt_id, "node": node},
                   broadcast_without_client=True)
        self._progress_state({node: "running"})
        if preview is not None:
            meta = self._node_ids(node)
            meta["prompt_id"] = self.prompt_id
            self.publish(Message("preview_image", None, self.client_id, Preview(preview[0], preview[1], meta)))

    def _on_executed(self, event: Executed) -> None:
        display = self.display.get(event.node, event.display_node or event.node)
        output = None if event.output is None else dict(event.output)
        self._send("executed", {"node": event.node, "display_node": display, "output": output, "prompt_id": self.prompt_id})

    def _on_finished(self, event: NodeFinished) -> None:
        self.running.pop(event.node, None)
        self.executed.append(event.node)
        self._progress_state({event.node: "finished"})
        if self.on_node is not None and not self.running:
            self.on_node(None)

    def _on_blocked(self, event: ExecutionBlocked) -> None:
        data = {
            "prompt_id": self.prompt_id, "node_id": event.node, "node_type": event.type_name,
            "executed": list(self.executed), "exception_message": event.message, "exception_type": "ExecutionBlocked",
            "traceback": [], "current_inputs": {}, "current_outputs": self._outputs_so_far(), "timestamp": now_ms(),
        }
        self._remember("execution_error", data)
        self._send("execution_error", data)

    def _on_success(self, event: ExecutionSuccess) -> None:
        self.outcome = "success"
        data = {"prompt_id": self.prompt_id, "timestamp": now_ms()}
        self._remember("execution_success", data)
        self._send("execution_success", data)

    def _on_error(self, event: ExecutionError) -> None:
        self.fail(event.error, list(event.executed))

    def _on_interrupted(self, event: ExecutionInterrupted) -> None:
        self.outcome = "interrupted"
        data = {
            "prompt_id": self.prompt_id, "node_id": event.node, "node_type": event.type_name,
            "executed": list(event.executed), "timestamp": now_ms(),
        }
        self._clear_running()
        self._remember("execution_interrupted", data)
        self._send("execution_interrupted", data, broadcast_without_client=True)

    def fail(self, error: NodeFailed | None, executed: list[str] | None = None) -> None:
        """Report a failed run (``execution_error``); also used for failures outside the engine."""
        if not self.started:
            self._on_start(ExecutionStart(self.prompt_id))
        self.outcome = "error"
        err = error or NodeFailed("", "", "Exception", "unknown error")
        data = {
            "prompt_id": self.prompt_id, "node_id": err.node_id or None, "node_type": err.type_name or None,
            "executed": executed if executed is not None else list(self.executed),
            "exception_message": err.message, "exception_type": err.exception_type,
            "traceback": list(err.traceback), "current_inputs": {k: list(v) for k, v in err.inputs.items()},
            "current_outputs": self._outputs_so_far(), "timestamp": now_ms(),
        }
        self._clear_running(error_node=err.node_id or None)
        self._remember("execution_error", data)
        self._send("execution_error", data)

    def fail_validation(self, errors: list[GraphError]) -> None:
        """The workflow no longer validates when its turn came (a model file was removed, say)."""
        first = errors[0] if errors else None
        text = "\n".join(e.message for e in errors) or "the workflow failed validation"
        self.fail(NodeFailed(first.node_id or "" if first else "", "", "latentloom.ValidationFailed", text))

    def _clear_running(self, error_node: str | None = None) -> None:
        changed = {n: "error" if n == error_node else "finished" for n in self.running}
        if changed:
            self.running.clear()
            self._progress_state(changed)
        if self.on_node is not None:
            self.on_node(None)

    def _outputs_so_far(self) -> list[str]:
        return list(dict.fromkeys([*self.cached, *self.executed]))

    def _node_ids(self, node: str) -> dict[str, Any]:
        display = self.display.get(node, node)
        return {"node_id": node, "display_node_id": display, "parent_node_id": display if display != node else None,
                "real_node_id": display}

    def _progress_state(self, changed: dict[str, str]) -> None:
        """The nodes that changed now plus every node still running (see the module docstring)."""
        nodes: dict[str, Any] = {}
        for node in [*changed, *(n for n in self.running if n not in changed)]:
            value, total = self.running.get(node, (1, 1))
            state = changed.get(node, "running")
            entry = {"value": value, "max": total, "state": state, "prompt_id": self.prompt_id}
            entry.update(self._node_ids(node))
            nodes[node] = entry
        self._send("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes}, broadcast_without_client=True)

    def meta(self, nodes: list[str]) -> dict[str, Any]:
        """History's ``meta``: ``{node_id: {node_id, display_node, parent_node, real_node_id}}``."""
        out = {}
        for node in nodes:
            ids = self._node_ids(node)
            out[node] = {"node_id": node, "display_node": ids["display_node_id"], "parent_node": ids["parent_node_id"],
                         "real_node_id": ids["real_node_id"]}
        return out


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


_HANDLERS: dict[type, Callable[[RunBridge, Any], None]] = {
    ExecutionStart: RunBridge._on_start,
    ExecutionCached: RunBridge._on_cached,
    Executing: RunBridge._on_executing,
    Progress: RunBridge._on_progress,
    Executed: RunBridge._on_executed,
    NodeFinished: RunBridge._on_finished,
    ExecutionBlocked: RunBridge._on_blocked,
    ExecutionSuccess: RunBridge._on_success,
    ExecutionError: RunBridge._on_error,
    ExecutionInterrupted: RunBridge._on_interrupted,
}
