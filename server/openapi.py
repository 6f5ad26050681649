"""The OpenAPI 3.1 description of every route, served at ``/openapi.json``.

:data:`OPERATIONS` describes each route once, by method and canonical path; :func:`build_document` lists
it at every path the app mounts it on (``/x`` and ``/api/x``), so the document always matches the router
(a test walks the router and checks that every route is described, and validates real responses against
these schemas). Every JSON body may also be sent and received as msgpack (``application/msgpack``).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from server.system import LATENTLOOM_VERSION

JSON_TYPES = ("application/json", "application/msgpack")


def s(kind: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"type": kind, **extra}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, Any] | None = None, required: tuple[str, ...] = (), extra: Any = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props or {}, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STR, INT, NUM, BOOL, ANY_OBJ = s("string"), s("integer"), s("number"), s("boolean"), s("object")
ID = s(["string", "null"])

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": s(["string", "object"])}, ("error",)),
    "Reason": obj({"type": STR, "message": STR, "details": STR, "extra_info": ANY_OBJ}, ("type", "message", "details", "extra_info")),
    "NodeErrors": obj(extra=obj({"errors": arr(ref("Reason")), "dependent_outputs": arr(STR), "class_type": ID},
                                ("errors", "dependent_outputs", "class_type"))),
    "SubmissionError": obj({"error": ref("Reason"), "node_errors": ref("NodeErrors")}, ("error", "node_errors")),
    "PromptRequest": obj({"prompt": ANY_OBJ, "client_id": STR, "prompt_id": STR, "number": NUM, "front": BOOL,
                          "extra_data": ANY_OBJ, "partial_execution_targets": arr(STR)}, ("prompt",)),
    "PromptResponse": obj({"prompt_id": STR, "number": NUM, "node_errors": ref("NodeErrors")},
                          ("prompt_id", "number", "node_errors")),
    "ExecInfo": obj({"exec_info": obj({"queue_remaining": INT}, ("queue_remaining",))}, ("exec_info",)),
    "QueueItem": {"type": "array", "prefixItems": [NUM, STR, ANY_OBJ, ANY_OBJ, arr(STR)], "minItems": 5, "maxItems": 5},
    "Queue": obj({"queue_running": arr(ref("QueueItem")), "queue_pending": arr(ref("QueueItem"))},
                 ("queue_running", "queue_pending")),
    "IdsRequest": obj({"clear": BOOL, "delete": arr(STR)}),
    "HistoryEntry": obj({"prompt": ref("QueueItem"), "outputs": ANY_OBJ,
                         "status": obj({"status_str": s("string", enum=["success", "error"]), "completed": BOOL,
                                        "messages": arr(s("array"))}),
                         "meta": ANY_OBJ}, ("prompt", "outputs", "status", "meta")),
    "History": obj(extra=ref("HistoryEntry")),
    "JobStatus": s("string", enum=["pending", "in_progress", "completed", "failed", "cancelled"]),
    "Job": obj({"id": STR, "status": ref("JobStatus"), "priority": NUM, "create_time": INT,
                "execution_start_time": INT, "execution_end_time": INT, "execution_error": ANY_OBJ,
                "outputs_count": INT, "preview_output": ANY_OBJ, "workflow_id": STR, "outputs": ANY_OBJ,
                "execution_status": ANY_OBJ, "workflow": obj({"prompt": ANY_OBJ, "extra_data": ANY_OBJ})},
               ("id", "status", "priority", "create_time", "outputs_count")),
    "JobList": obj({"jobs": arr(ref("Job")), "pagination": obj(
        {"offset": INT, "limit": s(["integer", "null"]), "total": INT, "has_more": BOOL},
        ("offset", "limit", "total", "has_more"))}, ("jobs", "pagination")),
    "CancelResult": obj({"id": STR, "cancelled": s("string", enum=["running", "pending", "terminal"])},
                        ("id", "cancelled")),
    "RunRequest": {"allOf": [ref("PromptRequest"), obj({"timeout": NUM, "inline_images": BOOL})]},
    "RunFile": obj({"node_id": STR, "media": STR, "filename": STR, "subfolder": STR, "type": STR,
                    "data": s(["string", "null"], description="base64 in JSON; binary in msgpack")},
                   ("node_id", "filename", "subfolder", "type")),
    "RunResponse": obj({"prompt_id": STR, "number": NUM, "status": ref("JobStatus"), "outputs": ANY_OBJ,
                        "images": arr(ref("RunFile")), "error": s(["object", "null"]), "node_errors": ref("NodeErrors")},
                       ("prompt_id", "number", "status", "node_errors")),
    "NodeInfo": obj({"input": ANY_OBJ, "input_order": ANY_OBJ, "output": s("array"), "output_is_list": arr(BOOL),
                     "output_name": s("array"), "name": STR, "display_name": STR, "description": STR,
                     "python_module": STR, "category": STR, "output_node": BOOL},
                    ("input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
                     "description", "python_module", "category", "output_node")),
    "ObjectInfo": obj(extra=ref("NodeInfo")),
    "SystemStats": obj({"system": obj({"os": STR, "ram_total": INT, "ram_free": INT, "comfyui_version": STR,
                                       "python_version": STR, "pytorch_version": ID, "embedded_python": BOOL,
                                       "argv": arr(STR)}, ("os", "ram_total", "ram_free", "python_version", "argv")),
                        "devices": arr(obj({"name": STR, "type": STR, "index": s(["integer", "null"]),
                                            "vram_total": INT, "vram_free": INT, "torch_vram_total": INT,
                                            "torch_vram_free": INT}, ("name", "type", "vram_total", "vram_free")))},
                       ("system", "devices")),
    "Features": obj({"supports_preview_metadata": BOOL, "max_upload_size": NUM, "supports_msgpack": BOOL},
                    ("supports_preview_metadata", "max_upload_size")),
    "Upload": obj({"name": STR, "subfolder": STR, "type": s("string", enum=["input", "temp", "output"])},
                  ("name", "subfolder", "type")),
    "UploadForm": obj({"image": s("string", contentMediaType="application/octet-stream"), "overwrite": STR,
                       "type": STR, "subfolder": STR, "original_ref": STR}, ("image",)),
    "StringList": arr(STR),
    "Parameter": obj({"name": STR, "type": STR, "default": {}, "description": STR, "node": STR, "input": STR,
                      "targets": arr(obj({"node": STR, "input": STR})), "min": NUM, "max": NUM, "choices": s("array")},
                     ("name", "type", "default", "description", "node", "input")),
    "ModelFile": obj({"name": STR, "directory": STR, "url": STR, "present": BOOL}, ("name", "directory")),
    "WorkflowInfo": obj({"name": STR, "file": STR, "format": s(["string", "null"]), "description": STR,
                         "parameters": arr(ref("Parameter")), "models": arr(ref("ModelFile")),
                         "sweep": s(["object", "null"]), "errors": arr(ANY_OBJ), "prompt": s(["object", "null"])},
                        ("name", "file", "format", "description", "parameters", "models", "sweep")),
    "WorkflowList": obj({"workflows": arr(ref("WorkflowInfo"))}, ("workflows",)),
    "WorkflowRunRequest": obj({"params": ANY_OBJ, "sweep": s(["object", "null"], description="axis -> list of values"),
                               "wait": BOOL, "timeout": NUM, "inline_images": BOOL, "client_id": STR, "prompt_id": STR,
                               "number": NUM, "front": BOOL, "extra_data": ANY_OBJ}),
    "SweepResult": obj({"axes": ANY_OBJ, "points": arr(obj({"index": INT, "values": ANY_OBJ, "label": STR,
                                                            "images": arr(ANY_OBJ)}, ("index", "values", "label", "images"))),
                        "sheet": arr(ANY_OBJ)}, ("axes", "points", "sheet")),
    "WorkflowRunResponse": {"allOf": [obj({"prompt_id": STR, "number": NUM, "node_errors": ref("NodeErrors"),
                                           "status": ref("JobStatus"), "outputs": ANY_OBJ, "images": arr(ref("RunFile")),
                                           "error": s(["object", "null"]), "workflow": STR, "params": ANY_OBJ,
                                           "sweep": ref("SweepResult")},
                                          ("prompt_id", "number", "node_errors", "workflow", "params"))]},
    "PngWorkflow": obj({"prompt": ANY_OBJ, "workflow": s(["object", "null"]),
                        "source": s("string", enum=["prompt", "workflow"])}, ("prompt", "workflow", "source")),
}


def body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description or "OK", "content": {t: {"schema": schema} for t in JSON_TYPES}}


def err(description: str, schema: str = "Error") -> dict[str, Any]:
    return body(ref(schema), description)


EMPTY = {"description": "OK (no body)"}
BAD = err("bad input: the body or a parameter is malformed")


def q(name: str, kind: dict[str, Any] = STR, required: bool = False, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": kind, "description": description}


def p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR}


def op(summary: str, responses: dict[str, Any], *, request: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, tag: str = "comfyui") -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if request is not None:
        operation["requestBody"] = {"required": False, "content": {t: {"schema": request} for t in JSON_TYPES}}
    if params:
        operation["parameters"] = params
    return operation


VIEW_PARAMS = [q("filename", required=True), q("type", s("string", enum=["output", "input", "temp"])),
               q("subfolder"), q("preview", description="webp;QUALITY or jpeg;QUALITY"),
               q("channel", s("string", enum=["rgba", "rgb", "a"]))]
UPLOAD = {"required": True, "content": {"multipart/form-data": {"schema": ref("UploadForm")}}}
JOB_PARAMS = [q("status", description="csv of pending,in_progress,completed,failed,cancelled"), q("workflow_id"),
              q("sort_by", s("string", enum=["created_at", "execution_duration"])),
              q("sort_order", s("string", enum=["asc", "desc"])), q("limit", INT), q("offset", INT)]

#: (method, canonical aiohttp path) -> operation.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/prompt"): op("Validate and queue a workflow", {"200": body(ref("PromptResponse")),
                            "400": err("invalid workflow (ComfyUI's error body)", "SubmissionError")},
                            request=ref("PromptRequest")),
    ("GET", "/prompt"): op("Queue length", {"200": body(ref("ExecInfo"))}),
    ("POST", "/run"): op("Queue a workflow and wait for its outputs", {
        "200": body(ref("RunResponse"), "the job finished"), "202": body(ref("RunResponse"), "still queued or running"),
        "400": err("invalid workflow", "SubmissionError")}, request=ref("RunRequest"), tag="latentloom"),
    ("GET", "/queue"): op("Running and pending jobs", {"200": body(ref("Queue"))}),
    ("POST", "/queue"): op("Clear or delete pending jobs", {"200": EMPTY, "400": BAD}, request=ref("IdsRequest")),
    ("GET", "/history"): op("Finished jobs, oldest first", {"200": body(ref("History")), "400": BAD},
                            params=[q("max_items", INT), q("offset", INT)]),
    ("GET", "/history/{prompt_id}"): op("One finished job ({} if unknown or unfinished)",
                                        {"200": body(ref("History"))}, params=[p("prompt_id")]),
    ("POST", "/history"): op("Clear or delete history", {"200": EMPTY, "400": BAD}, request=ref("IdsRequest")),
    ("GET", "/api/jobs"): op("Jobs, filtered, sorted and paged", {"200": body(ref("JobList")), "400": BAD},
                             params=JOB_PARAMS),
    ("GET", "/api/jobs/{job_id}"): op("One job with its outputs", {"200": body(ref("Job")), "404": err("unknown job")},
                                      params=[p("job_id")]),
    ("POST", "/api/jobs/{job_id}/cancel"): op("Cancel a job, pending or running", {
        "200": body(ref("CancelResult")), "404": err("unknown job")}, params=[p("job_id")], tag="latentloom"),
    ("POST", "/interrupt"): op("Interrupt the running job (all, or by prompt_id)", {"200": EMPTY},
                               request=obj({"prompt_id": STR})),
    ("POST", "/free"): op("Unload models and/or free cached results", {"200": EMPTY, "400": BAD},
                          request=obj({"unload_models": BOOL, "free_memory": BOOL})),
    ("GET", "/object_info"): op("Every node type", {"200": body(ref("ObjectInfo"))}),
    ("GET", "/object_info/{node_class}"): op("One node type ({} if unknown)", {"200": body(ref("ObjectInfo"))},
                                             params=[p("node_class")]),
    ("GET", "/system_stats"): op("Machine and device", {"200": body(ref("SystemStats"))}),
    ("GET", "/features"): op("Server feature flags", {"200": body(ref("Features"))}),
    ("GET", "/openapi.json"): op("This document", {"200": body(ANY_OBJ)}, tag="latentloom"),
    ("GET", "/ws"): op("The websocket (messages: comfyui-reference section 2)", {
        "101": {"description": "switching protocols"}, "400": err("not a websocket request")},
        params=[q("clientId")]),
    ("GET", "/view"): op("An input/output/temp file", {
        "200": {"description": "the file", "content": {"*/*": {"schema": s("string", contentMediaType="application/octet-stream")}}},
        "400": BAD, "403": err("outside the folder"), "404": err("no such file")}, params=VIEW_PARAMS),
    ("POST", "/upload/image"): {**op("Upload a file to input/ (or temp/, output/)", {
        "200": body(ref("Upload")), "400": BAD, "403": err("outside the folder"), "413": err("too large")}),
        "requestBody": UPLOAD},
    ("POST", "/upload/mask"): {**op("Upload a mask applied to an existing image's alpha", {
        "200": body(ref("Upload")), "400": BAD, "403": err("outside the folder"), "404": err("no original"),
        "413": err("too large")}), "requestBody": UPLOAD},
    ("GET", "/view_metadata/{folder_name}"): op("A .safetensors file's metadata", {
        "200": body(ANY_OBJ), "403": err("outside the folder"), "404": err("no such model")},
        params=[p("folder_name"), q("filename", required=True)]),
    ("GET", "/models"): op("Model folder kinds", {"200": body(ref("StringList"))}),
    ("GET", "/models/{folder}"): op("Model files of a kind", {"200": body(ref("StringList")), "404": err("unknown kind")},
                                    params=[p("folder")]),
    ("GET", "/embeddings"): op("Embedding names", {"200": body(ref("StringList"))}),
    ("GET", "/extensions"): op("Front-end extension scripts", {"200": body(ref("StringList"))}),
    ("GET", "/workflows"): op("The workflow library with each workflow's parameters", {"200": body(ref("WorkflowList"))},
                              tag="latentloom"),
    ("GET", "/workflows/{name}"): op("One library workflow with its API graph", {
        "200": body(ref("WorkflowInfo")), "404": err("no such workflow")}, params=[p("name")], tag="latentloom"),
    ("POST", "/workflows/{name}/run"): op("Run a library workflow with parameter values (and a sweep)", {
        "200": body(ref("WorkflowRunResponse"), "the job finished (or was queued, with wait: false)"),
        "202": body(ref("WorkflowRunResponse"), "still queued or running"),
        "400": err("bad parameters (bad_parameter) or an invalid workflow", "SubmissionError"),
        "404": err("no such workflow")}, request=ref("WorkflowRunRequest"), params=[p("name")], tag="latentloom"),
    ("POST", "/workflows/from_png"): {**op("The workflow embedded in a PNG image", {
        "200": body(ref("PngWorkflow")), "400": err("not a PNG, or no workflow in it", "SubmissionError")},
        tag="latentloom"), "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": obj({"image": s("string", contentMediaType="image/png")}, ("image",))},
            "image/png": {"schema": s("string", contentMediaType="image/png")}}}},
    ("GET", "/extensions/{pack}/{path}"): op("A file of a node pack's web folder", {
        "200": {"description": "the file"}, "403": err("outside the folder"), "404": err("no such file")},
        params=[p("pack"), p("path")]),
}


def openapi_path(path: str) -> str:
    """aiohttp's ``{name:regex}`` placeholders as OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def mounted_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, aiohttp path) of every route of ``app`` (HEAD and OPTIONS left out)."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method not in ("HEAD", "OPTIONS"):
            found.append((route.method, path))
    return found


def canonical(path: str) -> str:
    """The path an operation is described under: ``/api/x`` is ``/x`` unless ``/api/x`` itself is declared."""
    for method_path in OPERATIONS:
        if method_path[1] == path:
            return path
    return path[4:] if path.startswith("/api/") else path


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document for the routes ``app`` mounts."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in mounted_routes(app):
        operation = OPERATIONS.get((method, canonical(path)))
        if operation is None:
            operation = op("Undocumented route", {"200": {"description": "OK"}}, tag="other")
        entry = paths.setdefault(openapi_path(path), {})
        operation_id = re.sub(r"\W+", "_", f"{method.lower()}{openapi_path(path)}").strip("_")
        entry[method.lower()] = {**operation, "operationId": operation_id}
    return {
        "openapi": "3.1.0",
        "info": {"title": "latentloom", "version": LATENTLOOM_VERSION,
                 "description": "ComfyUI-compatible text-to-image server. Every route is served at /x and /api/x. "
                                "Bodies may be JSON (whatever the Content-Type) or msgpack (Content-Type: "
                                "application/msgpack); answers are msgpack when Accept names it."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "when the server has an API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{}, {"bearer": []}, {"apiKey": []}],
    }
