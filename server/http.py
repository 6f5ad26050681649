"""Request bodies in, responses out: JSON or msgpack, and errors as JSON values.

* :func:`read_body` parses a request body as msgpack when its ``Content-Type`` says msgpack, and as JSON
  otherwise, *whatever* the header says (ComfyUI's script examples post JSON as form data). A body that
  does not parse is a 400 naming the problem.
* :func:`reply` answers in msgpack when the client's ``Accept`` names msgpack, in JSON otherwise.
* Handlers raise :class:`ApiError` for bad input; :func:`error_middleware` turns it, aiohttp's own HTTP
  errors (unknown route, body too large) and any unexpected exception into a JSON (or msgpack) error body,
  so no request can take the server down or leave it answering HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from server.events import dumps, loads, pack, unpack

logger = logging.getLogger(__name__)

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
MSGPACK = "application/msgpack"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error answer: ``status`` and a JSON body (``{"error": message}`` plus ``extra`` by default)."""

    def __init__(self, status: int, message: str, *, body: Mapping[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = dict(body) if body is not None else {"error": message, **extra}


def bad_request(message: str, **extra: Any) -> ApiError:
    return ApiError(400, message, **extra)


def is_msgpack(content_type: str | None) -> bool:
    return bool(content_type) and any(t in content_type.lower() for t in MSGPACK_TYPES)  # type: ignore[union-attr]


def wants_msgpack(request: web.Request) -> bool:
    """True when the client's Accept header names a msgpack type."""
    return is_msgpack(request.headers.get("Accept"))


async def read_body(request: web.Request) -> Any:
    """The parsed body, or None when it is empty.

    Raises:
        ApiError: 400 when the body is not valid msgpack/JSON.
    """
    raw = await request.read()
    if not raw.strip():
        return None
    if is_msgpack(request.headers.get("Content-Type")):
        try:
            return unpack(raw)
        except ValueError as exc:
            raise bad_request(f"the body is not valid msgpack: {exc}") from None
    try:
        return loads(raw)
    except ValueError as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("the body is nested too deeply") from None


async def read_object(request: web.Request, *, allow_empty: bool = True) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body when ``allow_empty``).

    Raises:
        ApiError: 400 when the body is not an object.
    """
    body = await read_body(request)
    if body is None and allow_empty:
        return {}
    if not isinstance(body, dict):
        raise bad_request(f"the body must be a JSON object, got {type(body).__name__}")
    return body


def reply(request: web.Request, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """``data`` as msgpack when the client asks for it (Accept), as JSON otherwise."""
    if wants_msgpack(request):
        return web.Response(body=pack(data), status=status, content_type=MSGPACK, headers=headers)
    return web.Response(text=dumps(data), status=status, content_type="application/json", headers=headers)


def empty(status: int = 200) -> web.Response:
    """ComfyUI's "empty 200": no body."""
    return web.Response(status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as a JSON (or msgpack) body with the right status; never an HTML page or a crash."""
    try:
        return await handler(request)
    except ApiError as exc:
        return reply(request, exc.body, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type in ("application/json", MSGPACK):
            raise
        message = exc.reason if exc.status != 413 else f"the request body is too large: {exc.text}"
        return reply(request, {"error": message}, exc.status, headers={k: v for k, v in exc.headers.items()
                                                                         if k.lower() in ("allow", "www-authenticate")})
    except HttpProcessingError as exc:  # a malformed body (multipart lines, chunking...)
        status = exc.code if 400 <= exc.code < 500 else 400
        return reply(request, {"error": f"malformed request: {exc.message}"}, status)
    except (ConnectionError, TimeoutError):
        raise
    except Exception as exc:  # a bug: answer 500 and keep serving
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return reply(request, {"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)
