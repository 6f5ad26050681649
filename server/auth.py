"""Who may talk to the server: an optional API key, and ComfyUI's guards against cross-site requests.

* **API key** (``--api-key`` or the ``LATENTLOOM_API_KEY`` environment variable). When set, every route and
  the websocket require it, given as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Browsers
  cannot set headers on websockets or ``<img>`` requests, so ``GET /ws`` and ``GET /view`` (at either prefix)
  also accept ``?token=<key>``. Keys are compared in constant time. A missing or wrong key is a 401 with a
  JSON body and ``WWW-Authenticate: Bearer``. CORS preflight requests (``OPTIONS``) carry no credentials
  and are answered without one.
* **Origin check** (the default, as in ComfyUI): when the ``Host`` header names a loopback address and the
  request carries an ``Origin`` whose host differs, the request is refused with 403. A web page the user
  visits can thus not drive a server on 127.0.0.1, while clients that send no ``Origin`` (curl, scripts)
  are unaffected.
* **CORS** (``--enable-cors-header [ORIGIN]``) replaces the origin check: every ``OPTIONS`` request gets a
  200 and every answer the ``Access-Control-*`` headers for ``ORIGIN`` (default ``*``).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from server.http import Handler, reply

API_KEY_ENV = "LATENTLOOM_API_KEY"
_QUERY_TOKEN_PATHS = ("/ws", "/api/ws", "/view", "/api/view")


def _presented_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    header = request.headers.get("X-API-Key")
    if header:
        return header.strip()
    if request.method == "GET" and request.path in _QUERY_TOKEN_PATHS:
        return request.query.get("token")
    return None


def api_key_middleware(key: str) -> Any:
    """Require ``key`` on every request except CORS preflights."""
    expected = key.encode()

    @web.middleware
    async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return await handler(request)
        presented = _presented_key(request)
        if presented is None or not hmac.compare_digest(presented.encode(), expected):
            why = "an API key is required" if presented is None else "the API key is wrong"
            return reply(request, {"error": f"{why}: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
                         401, headers={"WWW-Authenticate": 'Bearer realm="latentloom"'})
        return await handler(request)

    return require_api_key


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    return urlsplit("//" + netloc).hostname or ""


@web.middleware
async def origin_only_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-site browser requests to a server reached through a loopback address."""
    host = request.headers.get("Host")
    origin = request.headers.get("Origin")
    if host and origin and is_loopback(_hostname(host)):
        origin_netloc = urlsplit(origin).netloc
        if origin_netloc.lower() != host.lower():
            return reply(request, {"error": f"cross-origin request from {origin} refused; start the server with "
                                            "--enable-cors-header to allow browser pages on other origins"}, 403)
    return await handler(request)


def cors_middleware(origin: str) -> Any:
    """Answer every OPTIONS with 200 and add CORS headers for ``origin`` to every response."""
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, GET, DELETE, PUT, OPTIONS, PATCH",
        "Access-Control-Allow-Headers": "Content-Type, Authorization, X-API-Key, Accept",
        "Access-Control-Allow-Credentials": "true",
    }

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=200)
        else:
            response = await handler(request)
        if not response.prepared:
            response.headers.update(headers)
        return response

    return cors

