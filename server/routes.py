"""The HTTP routes: ComfyUI's prompt, queue, history, jobs, control and info routes, plus ``/run`` and
the workflow library (``/workflows``).

Every handler is a module-level coroutine on :data:`routes`; ``server/app.py`` mounts the table twice, at
``/x`` and at ``/api/x`` (ComfyUI's duplication; ``/api/jobs`` is declared with its prefix, so it is also
at ``/api/api/jobs``, as in ComfyUI). Bodies are read with ``server.http.read_body`` (JSON whatever the
Content-Type, or msgpack) and answered with ``reply`` (JSON, or msgpack on request). Bad input is always
a 400 with a JSON error; shapes follow comfyui-reference sections 1.2 to 1.8.

Submissions (``/prompt``, ``/run``) take the API format as ComfyUI does, unchanged; a ``prompt`` in another
form (the editor's UI format, a ``latentloom-workflow/1`` file with optional ``params`` beside it) is first
converted by ``nodes/workflow_files.py``, and a UI graph is kept as ``extra_pnginfo.workflow`` so saved
images carry it, as the editor does. Conversion and parameter errors answer 400 in the submission error
shape, each reason with its JSON pointer.
"""

from __future__ import annotations

import asyncio
import base64
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web

from graph.comfy_errors import comfy_error_response, comfy_message, comfy_node_errors, comfy_reason
from graph.context import using_runtime
from graph.errors import ErrorCode, GraphError, WorkflowFormatError
from graph.validate import ValidationReport
from nodes.workflow_files import (
    LoadedWorkflow,
    ModelFile,
    Prepared,
    describe_entry,
    detect_kind,
    explain_missing_models,
    library,
    parse_document,
    parse_png,
    prepare,
    read_workflow,
)
from server.events import now_ms
from server.files import resolve
from server.http import ApiError, bad_request, empty, read_object, reply, wants_msgpack
from server.jobs import QUEUE_STATUS, job_dict, output_files
from server.queue import DuplicateJob, Job, JobStore, split_sensitive
from server.state import CONFIG, HUB, QUEUE, RUNTIME, WORKER
from server.system import system_stats as _system_stats

routes = web.RouteTableDef()

MAX_PROMPT_ID = 256
RUN_TIMEOUT = 600.0


# --------------------------------------------------------------------------------------------------
# Helpers


def _int_query(request: web.Request, name: str, default: int | None, minimum: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise bad_request(f"query parameter {name!r} must be at least {minimum}, got {value}")
    return value


def _id_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise bad_request(f"{key!r} must be a list of prompt ids")
    return [str(v) for v in value]


def _comfy_error(kind: str, message: str, details: str = "", **extra: Any) -> ApiError:
    """A 400 with ComfyUI's submission error body."""
    error = {"type": kind, "message": message, "details": details, "extra_info": {}, **extra}
    return ApiError(400, message, body={"error": error, "node_errors": {}})


def _errors_400(errors: list[GraphError]) -> ApiError:
    """A 400 in the submission error shape for conversion or parameter errors (``bad_parameter`` when all
    are about parameters, else ``invalid_prompt``), every reason listed and grouped by node."""
    node_errors: dict[str, Any] = {}
    for error in errors:
        if error.node_id is not None:
            entry = node_errors.setdefault(error.node_id, {"errors": [], "dependent_outputs": [],
                                                           "class_type": error.extra.get("class_type")})
            entry["errors"].append(comfy_reason(error))
    first = errors[0]
    kind = "bad_parameter" if all(e.code is ErrorCode.BAD_PARAMETER for e in errors) else "invalid_prompt"
    message = comfy_message(first)
    if first.code is ErrorCode.UNKNOWN_NODE_TYPE:
        message = f"Cannot execute because node {first.extra.get('class_type')} does not exist."
    top = {"type": kind, "message": message, "details": "\n".join(f"{comfy_message(e)}: {e.details}" for e in errors),
           "extra_info": {"errors": [comfy_reason(e) for e in errors]}, "pointer": first.pointer,
           "explanation": "\n".join(e.message for e in errors)}
    return ApiError(400, message, body={"error": top, "node_errors": node_errors})


# --------------------------------------------------------------------------------------------------
# Submission (POST /prompt and POST /run)


@dataclass
class Submission:
    """A parsed POST /prompt body."""

    prompt: Any
    prompt_id: str
    number: float
    number_is_float: bool
    extra_data: dict[str, Any]
    secrets: dict[str, Any]
    targets: list[str] | None
    extras: dict[str, Any] = field(default_factory=dict)
    models: tuple[ModelFile, ...] = ()  # model files the workflow declares (for missing-model messages)


def parse_submission(body: dict[str, Any], request: web.Request) -> Submission:
    """Read ComfyUI's submission fields; 400 with ComfyUI's ``no_prompt`` body when ``prompt`` is missing."""
    if body.get("prompt") is None:
        raise _comfy_error("no_prompt", "No prompt provided", "No prompt provided")
    prompt_id = str(body["prompt_id"]) if body.get("prompt_id") is not None else str(uuid.uuid4())
    if not prompt_id or len(prompt_id) > MAX_PROMPT_ID:
        raise bad_request(f"prompt_id must be a non-empty string of at most {MAX_PROMPT_ID} characters")
    if body.get("number") is not None:
        try:
            number, is_float = float(body["number"]), True
        except (TypeError, ValueError):
            raise bad_request(f"number must be a number, got {body['number']!r}") from None
        if not math.isfinite(number):
            raise bad_request("number must be finite")
    else:
        number, is_float = float(request.app[QUEUE].next_number(front=body.get("front") is True)), False
    extra = body.get("extra_data") or {}
    if not isinstance(extra, dict):
        raise bad_request("extra_data must be an object")
    extra = dict(extra)
    if body.get("client_id") is not None:
        extra["client_id"] = str(body["client_id"])
    targets = body.get("partial_execution_targets")
    if targets is not None:
        targets = _id_list(body, "partial_execution_targets")
    public, secrets = split_sensitive(extra)
    extras = {"params": body["params"]} if "params" in body else {}
    return Submission(body["prompt"], prompt_id, number, is_float, public, secrets, targets, extras)


def _embed_ui(sub: Submission, loaded: LoadedWorkflow) -> None:
    """Keep the UI graph as ``extra_pnginfo.workflow`` (unless the client sent one), as the editor does."""
    info = sub.extra_data.get("extra_pnginfo")
    if loaded.ui is not None and (info is None or isinstance(info, dict)):
        sub.extra_data["extra_pnginfo"] = {"workflow": loaded.ui, **(info or {})}


async def convert_submission(request: web.Request, sub: Submission) -> None:
    """Replace a prompt that is not an API graph (UI format, parameterised file) by its API graph.

    An API-format prompt is left exactly as it is. Raises a 400 for conversion and parameter errors.
    """
    if detect_kind(sub.prompt) == "api":
        return
    runtime = request.app[RUNTIME]

    def convert() -> tuple[LoadedWorkflow, Prepared]:
        with using_runtime(runtime):
            loaded = parse_document(sub.prompt, runtime.registry)
        return loaded, prepare(loaded, runtime, sub.extras.get("params"), loaded.sweep)

    try:
        loaded, prepared = await asyncio.get_running_loop().run_in_executor(None, convert)
    except WorkflowFormatError as exc:
        raise _errors_400(exc.errors) from None
    sub.prompt = prepared.prompt
    sub.models = loaded.models
    _embed_ui(sub, loaded)


async def validate_submission(request: web.Request, sub: Submission) -> ValidationReport:
    """Validate off the event loop; 400 with ComfyUI's body when no output can run."""
    await convert_submission(request, sub)
    runtime = request.app[RUNTIME]
    engine = runtime.engine
    try:
        report: ValidationReport = await asyncio.get_running_loop().run_in_executor(
            None, engine.validate, sub.prompt, sub.targets)
    except WorkflowFormatError as exc:
        first = exc.errors[0] if exc.errors else None
        message = f"Invalid prompt: {first.message}" if first else "Invalid prompt"
        raise _comfy_error("invalid_prompt", message, "\n".join(e.message for e in exc.errors),
                           pointer=first.pointer if first else "") from None
    if sub.models and report.errors:
        report = replace(report, errors=tuple(explain_missing_models(report.errors, runtime, sub.models)))
    error = comfy_error_response(report)
    if error is not None:
        raise ApiError(400, error["error"]["message"], body=error)
    return report


async def enqueue(request: web.Request, sub: Submission, report: ValidationReport) -> Job:
    """Write the job to disk (group commit), then announce the new queue length."""
    sub.extra_data["create_time"] = now_ms()
    job = Job(sub.prompt_id, sub.number, sub.prompt, sub.extra_data, list(report.outputs),
              number_is_float=sub.number_is_float)
    worker = request.app[WORKER]
    if sub.secrets:
        worker.secrets[job.id] = sub.secrets
    try:
        await request.app[QUEUE].submit(job)
    except DuplicateJob as exc:
        worker.secrets.pop(job.id, None)
        raise _comfy_error("duplicate_prompt_id", str(exc)) from None
    request.app[HUB].broadcast_status()
    return job


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    """Validate and queue a workflow: ``{"prompt_id", "number", "node_errors"}``."""
    sub = parse_submission(await read_object(request), request)
    report = await validate_submission(request, sub)
    job = await enqueue(request, sub, report)
    return reply(request, {"prompt_id": job.id, "number": job.priority, "node_errors": comfy_node_errors(report)})


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    return reply(request, {"exec_info": {"queue_remaining": request.app[QUEUE].remaining}})


def _wait_options(body: dict[str, Any]) -> tuple[float, bool]:
    """``timeout`` and ``inline_images`` taken out of a body (400 for a bad timeout)."""
    timeout = body.pop("timeout", RUN_TIMEOUT)
    inline = body.pop("inline_images", False) is True
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 86_400:
        raise bad_request("timeout must be a number of seconds between 0 and 86400")
    return float(timeout), inline


async def _wait_and_reply(request: web.Request, job: Job, report: ValidationReport, timeout: float, inline: bool,
                          more: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> web.Response:
    """Wait for ``job``; 200 with its outputs, or 202 with its status after ``timeout``. ``more(outputs)``
    adds fields to the answer."""
    done = await request.app[WORKER].wait_for(job.id, timeout)
    extra = more or (lambda outputs: {})
    if done is None:
        current = await request.app[QUEUE].call(JobStore.get, job.id)
        state = job_dict(current) if current is not None else {"status": "pending"}
        return reply(request, {"prompt_id": job.id, "number": job.priority, "status": state["status"],
                               "node_errors": comfy_node_errors(report), **extra({})}, 202)
    view = job_dict(done, detail=True)
    images = output_files(done.outputs or {})
    if inline:
        await _inline(request, images)
    return reply(request, {"prompt_id": job.id, "number": job.priority, "status": view["status"],
                           "outputs": done.outputs or {}, "images": images, "error": view.get("execution_error"),
                           "node_errors": comfy_node_errors(report), **extra(done.outputs or {})})


@routes.post("/run")
async def run(request: web.Request) -> web.Response:
    """Submit and wait: the outputs (optionally with inline images) or the error, in one answer.

    Body: POST /prompt's fields plus ``timeout`` (seconds to wait, default 600) and ``inline_images``
    (embed image bytes: base64 in JSON, binary in msgpack). 200 when the job finished, 202 with its
    status when it is still queued or running after ``timeout`` (poll ``/api/jobs/{id}``).
    """
    body = await read_object(request)
    timeout, inline = _wait_options(body)
    sub = parse_submission(body, request)
    report = await validate_submission(request, sub)
    job = await enqueue(request, sub, report)
    return await _wait_and_reply(request, job, report, timeout, inline)


async def _inline(request: web.Request, images: list[dict[str, Any]]) -> None:
    folders = request.app[RUNTIME].folders
    binary = wants_msgpack(request)
    loop = asyncio.get_running_loop()
    for image in images:
        try:
            path = resolve(folders, image["type"], image["subfolder"], image["filename"])
            data = await loop.run_in_executor(None, path.read_bytes)
        except (ApiError, OSError) as exc:
            image["data"], image["data_error"] = None, str(exc)
            continue
        image["data"] = data if binary else base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------------------
# Queue and history


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    queue = request.app[QUEUE]
    running = await queue.call(JobStore.by_status, "running")
    pending = await queue.call(JobStore.by_status, "pending")
    return reply(request, {"queue_running": [j.queue_item() for j in running],
                           "queue_pending": [j.queue_item() for j in pending]})


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    """``{"clear": true}`` and/or ``{"delete": [ids]}``: cancel pending jobs (the running one is untouched)."""
    body = await read_object(request)
    delete = _id_list(body, "delete")
    queue, worker = request.app[QUEUE], request.app[WORKER]
    cancelled: list[str] = []
    if body.get("clear") is True:
        cancelled += await queue.cancel_pending(None)
    if delete:
        cancelled += await queue.cancel_pending(delete)
    for job_id in cancelled:
        worker.secrets.pop(job_id, None)
        worker.notify(job_id)
    request.app[HUB].broadcast_status()
    return empty()


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    max_items = _int_query(request, "max_items", None, minimum=0)
    offset = _int_query(request, "offset", -1)
    jobs = await request.app[QUEUE].call(JobStore.history, max_items, offset if offset is not None else -1)
    return reply(request, {job.id: job.history_item() for job in jobs})


@routes.get("/history/{prompt_id}")
async def get_history_item(request: web.Request) -> web.Response:
    """``{id: entry}``, or ``{}`` for an unknown or unfinished prompt."""
    job = await request.app[QUEUE].call(JobStore.get, request.match_info["prompt_id"])
    if job is None or job.history_seq is None:
        return reply(request, {})
    return reply(request, {job.id: job.history_item()})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    """``{"clear": true}`` and/or ``{"delete": [ids]}``."""
    body = await read_object(request)
    delete = _id_list(body, "delete")
    queue = request.app[QUEUE]
    if body.get("clear") is True:
        await queue.call(JobStore.delete_history, None)
    if delete:
        await queue.call(JobStore.delete_history, delete)
    return empty()


# --------------------------------------------------------------------------------------------------
# Jobs


@routes.get("/api/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    """Jobs filtered by ``status`` (csv), ``workflow_id``; sorted by ``sort_by``/``sort_order``; paged."""
    raw_status = request.query.get("status")
    statuses = list(QUEUE_STATUS.values())
    if raw_status:
        names = [s.strip() for s in raw_status.split(",") if s.strip()]
        unknown = [s for s in names if s not in QUEUE_STATUS]
        if unknown:
            raise bad_request(f"unknown status {', '.join(unknown)}; use {', '.join(QUEUE_STATUS)}")
        statuses = [QUEUE_STATUS[s] for s in names]
    sort_by = request.query.get("sort_by", "created_at")
    if sort_by not in ("created_at", "execution_duration"):
        raise bad_request("sort_by must be created_at or execution_duration")
    order = request.query.get("sort_order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("sort_order must be asc or desc")
    limit = _int_query(request, "limit", None, minimum=1)
    offset = _int_query(request, "offset", 0, minimum=0) or 0
    jobs, total = await request.app[QUEUE].call(JobStore.list_jobs, statuses, request.query.get("workflow_id"),
                                               sort_by, order == "desc", limit, offset)
    return reply(request, {"jobs": [job_dict(j) for j in jobs], "pagination": {
        "offset": offset, "limit": limit, "total": total, "has_more": offset + len(jobs) < total}})


@routes.get("/api/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    job = await request.app[QUEUE].call(JobStore.get, request.match_info["job_id"])
    if job is None:
        raise ApiError(404, "Job not found")
    return reply(request, job_dict(job, detail=True))


@routes.post("/api/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    """Cancel a job whatever its state: ``{"id", "cancelled": "running"|"pending"|"terminal"}``; 404 unknown."""
    job_id = request.match_info["job_id"]
    outcome = await request.app[WORKER].cancel(job_id)
    if outcome == "unknown":
        raise ApiError(404, "Job not found")
    return reply(request, {"id": job_id, "cancelled": outcome})


# --------------------------------------------------------------------------------------------------
# Control


@routes.post("/interrupt")
async def interrupt(request: web.Request) -> web.Response:
    """Interrupt the running prompt (only if it is ``prompt_id``, when given). Always 200."""
    try:
        body = await read_object(request)
    except ApiError:
        body = {}
    prompt_id = body.get("prompt_id")
    request.app[WORKER].interrupt(None if prompt_id is None else str(prompt_id))
    return empty()


@routes.post("/free")
async def free(request: web.Request) -> web.Response:
    """``{"unload_models": bool, "free_memory": bool}``, applied between runs: ``unload_models`` offloads every
    model from the compute device; ``free_memory`` also drops cached results and the loaded models kept for
    reuse, so their RAM is given back (server/worker.py ``_free_now``)."""
    body = await read_object(request)
    request.app[WORKER].request_free(body.get("unload_models") is True, body.get("free_memory") is True)
    return empty()


# --------------------------------------------------------------------------------------------------
# The workflow library and PNG workflows


def _library_path(runtime: Any, name: str) -> Path:
    path = library(runtime).get(name)
    if path is None:
        raise ApiError(404, f"no workflow named {name!r} in the library (GET /api/workflows lists them)")
    return path


@routes.get("/workflows")
async def list_workflows(request: web.Request) -> web.Response:
    """The library: ``{"workflows": [{name, file, format, description, parameters, models, sweep}]}``."""
    runtime = request.app[RUNTIME]

    def listing() -> list[dict[str, Any]]:
        return [describe_entry(name, path, runtime)[1] for name, path in library(runtime).items()]

    return reply(request, {"workflows": await asyncio.get_running_loop().run_in_executor(None, listing)})


@routes.get("/workflows/{name:.+}")
async def get_workflow(request: web.Request) -> web.Response:
    """One library workflow, with its API graph (defaults in place) as ``prompt``."""
    runtime = request.app[RUNTIME]
    name = request.match_info["name"]

    def describe() -> tuple[LoadedWorkflow | None, dict[str, Any]]:
        return describe_entry(name, _library_path(runtime, name), runtime)

    loaded, entry = await asyncio.get_running_loop().run_in_executor(None, describe)
    return reply(request, {**entry, "prompt": loaded.prompt if loaded is not None else None})


@routes.post("/workflows/{name:.+}/run")
async def run_workflow(request: web.Request) -> web.Response:
    """Run a library workflow with ``params`` (and a ``sweep`` grid; the file's own sweep unless ``null``).

    Body: ``params``, ``sweep``, ``wait`` (default true: answer as ``/api/run``; false: as ``/prompt``),
    ``timeout``, ``inline_images`` and ``/prompt``'s ``client_id``, ``prompt_id``, ``number``, ``front``,
    ``extra_data``. Parameter errors are 400 ``bad_parameter`` with pointers ``/params/<name>``.
    """
    body = await read_object(request)
    timeout, inline = _wait_options(body)
    wait = body.pop("wait", True) is not False
    runtime = request.app[RUNTIME]
    name = request.match_info["name"]

    def load() -> tuple[LoadedWorkflow, Prepared]:
        path = _library_path(runtime, name)
        try:
            loaded = replace(read_workflow(path, runtime), name=name)
            sweep = body["sweep"] if "sweep" in body else loaded.sweep
            return loaded, prepare(loaded, runtime, body.get("params"), sweep or None)
        except WorkflowFormatError as exc:
            raise _errors_400(exc.errors) from None
        except (OSError, ValueError) as exc:
            raise ApiError(500, f"the library file {path.name} cannot be read: {exc}") from None

    loaded, prepared = await asyncio.get_running_loop().run_in_executor(None, load)
    sub = parse_submission({**body, "prompt": prepared.prompt}, request)
    sub.models = loaded.models
    _embed_ui(sub, loaded)
    report = await validate_submission(request, sub)
    job = await enqueue(request, sub, report)
    plan = prepared.sweep

    def more(outputs: dict[str, Any]) -> dict[str, Any]:
        return {"workflow": name, "params": prepared.params, **({"sweep": plan.results(outputs)} if plan else {})}

    if not wait:
        return reply(request, {"prompt_id": job.id, "number": job.priority, "node_errors": comfy_node_errors(report),
                               **more({})})
    return await _wait_and_reply(request, job, report, timeout, inline, more)


@routes.post("/workflows/from_png")
async def workflow_from_png(request: web.Request) -> web.Response:
    """The workflow embedded in an uploaded PNG (multipart field ``image``, or the raw image as the body):
    ``{"prompt": API graph, "workflow": UI graph or null, "source": "prompt" | "workflow"}``."""
    if (request.content_type or "").startswith("multipart/"):
        try:
            post = await request.post()
        except ValueError as exc:
            raise bad_request(f"malformed multipart body: {exc}") from None
        field_ = post.get("image")
        if not isinstance(field_, web.FileField):
            raise bad_request("the multipart field 'image' with a PNG file is required")
        data, label = field_.file.read(), field_.filename or "the image"
    else:
        data, label = await request.read(), "the body"
    runtime = request.app[RUNTIME]

    def parse() -> LoadedWorkflow:
        with using_runtime(runtime):
            return parse_png(data, runtime.registry, label)

    try:
        loaded = await asyncio.get_running_loop().run_in_executor(None, parse)
    except WorkflowFormatError as exc:
        raise _errors_400(exc.errors) from None
    return reply(request, {"prompt": loaded.prompt, "workflow": loaded.ui, "source": loaded.kind.split(":", 1)[1]})


# --------------------------------------------------------------------------------------------------
# Information


def _object_info(runtime: Any, name: str | None = None) -> dict[str, Any]:
    """The registry's /object_info, with the runtime reachable by choice providers (model lists)."""
    with using_runtime(runtime):
        return runtime.registry.object_info(name)  # type: ignore[no-any-return]


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    info = await asyncio.get_running_loop().run_in_executor(None, _object_info, request.app[RUNTIME])
    return reply(request, info)


@routes.get("/object_info/{node_class}")
async def object_info_one(request: web.Request) -> web.Response:
    name = request.match_info["node_class"]
    try:
        info = await asyncio.get_running_loop().run_in_executor(None, _object_info, request.app[RUNTIME], name)
    except Exception as exc:  # a node whose choices cannot be computed
        raise ApiError(500, f"cannot describe {name}: {exc}") from None
    return reply(request, info)


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    """ComfyUI's document plus ``memory``: what is loaded where, bytes used and budgets."""
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    force_cpu = bool(getattr(settings, "extra", {}).get("cpu")) or getattr(settings, "vram_mode", "") == "cpu"
    argv = list(request.app[CONFIG].argv)
    models = getattr(runtime, "services", {}).get("models")
    stats = await asyncio.get_running_loop().run_in_executor(None, _system_stats, argv, force_cpu, models)
    return reply(request, stats)


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    return reply(request, request.app[CONFIG].features())


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    from server.openapi import build_document

    return reply(request, build_document(request.app))


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    """The websocket (see server/ws.py)."""
    return await request.app[HUB].serve(request)
