"""API key on and off, the origin check against cross-site requests, and CORS."""

from __future__ import annotations

import json

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from server.auth import is_loopback
from tests.server.conftest import ClientFactory, save_workflow

ROUTES = [("GET", "/prompt"), ("POST", "/prompt"), ("GET", "/queue"), ("GET", "/history"), ("GET", "/api/jobs"),
          ("GET", "/object_info"), ("GET", "/system_stats"), ("GET", "/features"), ("GET", "/models"),
          ("GET", "/view?filename=x.png"), ("POST", "/interrupt"), ("GET", "/openapi.json"), ("GET", "/api/embeddings"),
          ("GET", "/no/such/route")]


async def test_without_a_key_everything_is_open(client: TestClient) -> None:
    assert (await client.get("/system_stats")).status == 200
    ws = await client.ws_connect("/ws")
    assert json.loads((await ws.receive()).data)["type"] == "status"
    await ws.close()


@pytest.mark.parametrize("method, path", ROUTES)
async def test_with_a_key_every_route_requires_it(make_client: ClientFactory, method: str, path: str) -> None:
    client = await make_client(api_key="s3cret")
    resp = await client.request(method, path)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "API key" in (await resp.json())["error"]
    assert (await client.request(method, path, headers={"Authorization": "Bearer wrong"})).status == 401
    ok = await client.request(method, path, headers={"Authorization": "Bearer s3cret"})
    assert ok.status != 401


async def test_key_headers_and_query_token(make_client: ClientFactory) -> None:
    client = await make_client(api_key="s3cret")
    assert (await client.get("/prompt", headers={"X-API-Key": "s3cret"})).status == 200
    assert (await client.get("/prompt", headers={"authorization": "bearer s3cret"})).status == 200
    assert (await client.get("/prompt?token=s3cret")).status == 401  # query tokens only for /ws and /view
    assert (await client.get("/view?filename=none.png&token=s3cret")).status == 404
    resp = await client.post("/prompt", json={"prompt": save_workflow()}, headers={"X-API-Key": "s3cret"})
    assert resp.status == 200


async def test_websocket_requires_the_key(make_client: ClientFactory) -> None:
    client = await make_client(api_key="s3cret")
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws?clientId=x")
    assert info.value.status == 401
    for kwargs in ({"headers": {"Authorization": "Bearer s3cret"}}, {}):
        path = "/ws?clientId=x" if kwargs else "/ws?clientId=x&token=s3cret"
        ws = await client.ws_connect(path, **kwargs)
        assert json.loads((await ws.receive()).data)["data"]["sid"] == "x"
        await ws.close()


async def test_cross_site_requests_to_loopback_are_refused(client: TestClient) -> None:
    host = f"127.0.0.1:{client.port}"
    evil = await client.post("/prompt", json={"prompt": save_workflow()},
                             headers={"Host": host, "Origin": "http://evil.example"})
    assert evil.status == 403 and "cross-origin" in (await evil.json())["error"]
    same = await client.get("/prompt", headers={"Host": host, "Origin": f"http://{host}"})
    assert same.status == 200
    assert (await client.get("/prompt", headers={"Host": host})).status == 200  # no Origin: curl, scripts
    other_host = await client.get("/prompt", headers={"Host": "example.com", "Origin": "http://evil.example"})
    assert other_host.status == 200  # only loopback hosts are guarded, as in ComfyUI
    with pytest.raises(WSServerHandshakeError):
        await client.ws_connect("/ws", headers={"Host": host, "Origin": "http://evil.example"})


async def test_cors_replaces_the_origin_check(make_client: ClientFactory) -> None:
    client = await make_client(cors_origin="https://ui.example", api_key="k")
    host = f"127.0.0.1:{client.port}"
    pre = await client.options("/prompt", headers={"Origin": "https://ui.example", "Host": host})
    assert pre.status == 200 and pre.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    resp = await client.get("/prompt", headers={"Origin": "https://ui.example", "Host": host, "X-API-Key": "k"})
    assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    denied = await client.get("/prompt", headers={"Origin": "https://ui.example", "Host": host})
    assert denied.status == 401 and denied.headers["Access-Control-Allow-Origin"] == "https://ui.example"


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from nodes.cli import build_parser
    from server.cli import config_from_args

    monkeypatch.setenv("LATENTLOOM_API_KEY", "from-env")
    assert config_from_args(build_parser().parse_args(["serve"]), []).api_key == "from-env"
    assert config_from_args(build_parser().parse_args(["serve", "--api-key", "flag"]), []).api_key == "flag"
    monkeypatch.delenv("LATENTLOOM_API_KEY")
    assert config_from_args(build_parser().parse_args(["serve"]), []).api_key is None


def test_is_loopback() -> None:
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("example.com", "10.0.0.1", "0.0.0.0", ""))
