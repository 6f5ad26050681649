"""Workflow documents in every form latentloom reads, and the workflow library.

:func:`read_workflow` and :func:`parse_document` accept, detected by shape (:func:`detect_kind`):

* ``api``: ComfyUI's API format, ``{node_id: {"class_type", "inputs"}}``, used as it is;
* ``ui``: the editor's format (``{"nodes": [...], "links": [...]}``, schema 0.4 or 1), converted with
  :func:`graph.ui_format.convert_ui`; the UI document is kept and embedded in saved images, as the editor does;
* ``latentloom``: a parameterised workflow file::

      {"format": "latentloom-workflow/1",
       "description": "what it does; which model files it needs",
       "models": [{"name": "file.safetensors", "directory": "loras", "url": "..."}],
       "parameters": {"seed": {"node": "Sampler", "input": "seed", "description": "..."}, ...},
       "sweep": {"seed": [1, 2, 3, 4]},
       "prompt": {API graph}}            (or "workflow": {UI graph})

  ``parameters`` are read by :mod:`graph.params`; ``sweep`` is the grid run by default
  (:mod:`graph.sweep`). The graph's own values are the defaults, so the file is also a valid body for
  ComfyUI's ``POST /prompt`` (which reads ``prompt`` and ignores the rest);
* ``request``: a saved ``POST /prompt`` body ``{"prompt": {...}, "extra_data": {...}}``;
* a PNG image: its ``prompt`` text chunk (the API graph that made it, as SaveImage writes it here and in
  ComfyUI; kind ``png:prompt``), else its ``workflow`` chunk (the UI graph; kind ``png:workflow``).

Missing model files are explained: a ``value_not_in_list`` error on a model input (``ckpt_name``,
``lora_name`` ... or any input holding a file the workflow declares in ``models``) is rewritten to name
the file and the folder it belongs in (:func:`explain_missing_models`).

The library (``GET /api/workflows``) is every ``*.json`` in ``<base>/workflows`` (the shipped
``workflows/`` folder when the base has none) and in ComfyUI's ``<user>/default/workflows``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from graph.context import using_runtime
from graph.errors import ErrorCode, GraphError, WorkflowFormatError
from graph.params import FORMAT, Parameter, apply_parameters, read_parameters
from graph.sweep import SweepPlan, plan_sweep
from graph.ui_format import convert_ui, declared_models, is_ui_workflow
from graph.validate import ValidationReport

__all__ = ["LoadedWorkflow", "ModelFile", "Prepared", "detect_kind", "explain_missing_models", "library",
           "parse_document", "parse_png", "prepare", "read_workflow"]

SHIPPED = Path(__file__).resolve().parents[1] / "workflows"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Inputs of ComfyUI's core loaders and the model folder their files live in.
MODEL_INPUTS = {"ckpt_name": "checkpoints", "lora_name": "loras", "vae_name": "vae", "control_net_name": "controlnet",
                "unet_name": "diffusion_models", "clip_name": "text_encoders", "style_model_name": "style_models",
                "model_path": "diffusers"}


@dataclass(frozen=True)
class ModelFile:
    """A model file a workflow needs (ComfyUI's ``models`` entries: name, directory, url)."""

    name: str
    directory: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "directory": self.directory, **({"url": self.url} if self.url else {})}


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow read from any form: its API graph (defaults in place) and what the file declares."""

    prompt: dict[str, Any]
    kind: str
    parameters: tuple[Parameter, ...] = ()
    description: str = ""
    models: tuple[ModelFile, ...] = ()
    sweep: Mapping[str, Any] | None = None
    ui: Mapping[str, Any] | None = None
    name: str = ""

    def extra_data(self) -> dict[str, Any]:
        """``extra_data`` for a run: the UI graph as ``extra_pnginfo.workflow`` when there is one."""
        return {"extra_pnginfo": {"workflow": self.ui}} if self.ui is not None else {}

    def describe(self) -> dict[str, Any]:
        """The JSON form listed by the library routes (without the graph)."""
        return {"name": self.name, "format": self.kind, "description": self.description,
                "parameters": [p.to_dict() for p in self.parameters], "models": [m.to_dict() for m in self.models],
                "sweep": dict(self.sweep) if self.sweep is not None else None}


@dataclass(frozen=True)
class Prepared:
    """What to run: the graph with parameter values set (and a sweep expanded), and how it was made."""

    prompt: dict[str, Any]
    params: dict[str, Any]
    sweep: SweepPlan | None = None


def detect_kind(doc: Any) -> str:
    """``latentloom``, ``ui``, ``request`` or ``api`` (anything else is left to API validation)."""
    if isinstance(doc, Mapping):
        if isinstance(doc.get("format"), str) and doc["format"].startswith("latentloom-workflow/"):
            return "latentloom"
        if is_ui_workflow(doc):
            return "ui"
        prompt = doc.get("prompt")
        if isinstance(prompt, Mapping) and (
                is_ui_workflow(prompt) or all(isinstance(n, Mapping) and "class_type" in n for n in prompt.values())):
            return "request"
    return "api"


def parse_document(doc: Any, registry: Any, name: str = "") -> LoadedWorkflow:
    """A decoded JSON document in any form as a :class:`LoadedWorkflow`.

    Call it inside ``using_runtime`` when parameters bind model inputs (their choices list model files).

    Raises:
        WorkflowFormatError: conversion errors, bad parameter declarations (every problem at once).
    """
    kind = detect_kind(doc)
    if kind == "api":
        return LoadedWorkflow(doc, kind, name=name)
    if kind == "ui":
        return LoadedWorkflow(convert_ui(doc, registry), kind, models=_models(declared_models(doc)), ui=doc, name=name)
    if kind == "request":
        extra = doc.get("extra_data") if isinstance(doc.get("extra_data"), Mapping) else {}
        info = extra.get("extra_pnginfo") if isinstance(extra.get("extra_pnginfo"), Mapping) else {}
        inner = parse_document(doc["prompt"], registry, name)
        ui = inner.ui if inner.ui is not None else info.get("workflow") if is_ui_workflow(info.get("workflow")) else None
        return replace(inner, kind="request", ui=ui)
    return _parse_latentloom(doc, registry, name)


def _parse_latentloom(doc: Mapping[str, Any], registry: Any, name: str) -> LoadedWorkflow:
    errors: list[GraphError] = []
    if doc["format"] != FORMAT:
        errors.append(_invalid("/format", f"unknown format {doc['format']!r}; this version reads {FORMAT!r}"))
    ui = doc.get("workflow") if is_ui_workflow(doc.get("workflow")) else None
    prompt = doc.get("prompt")
    if not isinstance(prompt, Mapping):
        if ui is None:
            errors.append(_invalid("/prompt", f"a {FORMAT} file holds its graph in 'prompt' (API format) or "
                                              "'workflow' (UI format)"))
            raise WorkflowFormatError(errors)
        prompt = _nested(lambda: convert_ui(ui, registry), "/workflow")
    prompt = json.loads(json.dumps(prompt))
    parameters, problems = read_parameters(doc.get("parameters"), prompt, registry)
    errors += problems
    sweep = doc.get("sweep")
    if sweep is not None and not isinstance(sweep, Mapping):
        errors.append(_invalid("/sweep", "'sweep' must be an object of axis name to a list of values"))
    raw_models = doc.get("models", [])
    if not isinstance(raw_models, list) or not all(
            isinstance(m, Mapping) and isinstance(m.get("name"), str) and isinstance(m.get("directory"), str)
            for m in raw_models):
        errors.append(_invalid("/models", "'models' must be a list of {\"name\", \"directory\", \"url\"?} objects"))
        raw_models = []
    if errors:
        raise WorkflowFormatError(errors)
    prompt, _, problems = apply_parameters(prompt, parameters, {}, at="/parameters")
    if problems:
        raise WorkflowFormatError(problems)
    models = _models([*raw_models, *(declared_models(ui) if ui is not None else [])])
    return LoadedWorkflow(prompt, "latentloom", parameters, str(doc.get("description", "")), models,
                          sweep if isinstance(sweep, Mapping) else None, ui, name)


def _nested(convert: Any, at: str) -> Any:
    try:
        return convert()
    except WorkflowFormatError as exc:
        raise WorkflowFormatError([replace(e, pointer=at + e.pointer) for e in exc.errors]) from None


def _models(entries: Sequence[Mapping[str, Any]]) -> tuple[ModelFile, ...]:
    found = {(str(e["directory"]), str(e["name"])): ModelFile(str(e["name"]), str(e["directory"]),
                                                                e.get("url") if isinstance(e.get("url"), str) else None)
             for e in entries}
    return tuple(found.values())


def _invalid(at: str, message: str) -> GraphError:
    return GraphError(ErrorCode.INVALID_WORKFLOW, message, pointer=at, details=message)


# ------------------------------------------------------------------------------------------------------
# PNG files and files on disk


def png_text(data: bytes) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG image.

    Raises:
        ValueError: the bytes are not a PNG image.
    """
    from PIL import Image, UnidentifiedImageError

    if not data.startswith(PNG_MAGIC):
        raise ValueError("not a PNG image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable PNG image: {exc}") from None


def parse_png(data: bytes, registry: Any, name: str = "") -> LoadedWorkflow:
    """The workflow embedded in a PNG: the ``prompt`` chunk (API graph; kind ``png:prompt``), else the
    ``workflow`` chunk (UI graph; kind ``png:workflow``).

    Raises:
        WorkflowFormatError: not a PNG, no workflow in it, or a workflow that does not convert.
    """
    try:
        chunks = png_text(data)
    except ValueError as exc:
        raise WorkflowFormatError([_invalid("", f"{name or 'the image'} is {exc}")]) from None
    decoded: dict[str, Any] = {}
    for key in ("prompt", "workflow"):
        if key in chunks:
            try:
                decoded[key] = json.loads(chunks[key])
            except ValueError:
                continue
    ui = decoded.get("workflow") if is_ui_workflow(decoded.get("workflow")) else None
    if isinstance(decoded.get("prompt"), Mapping) and decoded["prompt"]:
        loaded = parse_document(decoded["prompt"], registry, name)
        return replace(loaded, kind="png:prompt", ui=ui if ui is not None else loaded.ui)
    if ui is not None:
        return replace(_nested(lambda: parse_document(ui, registry, name), "/workflow"), kind="png:workflow")
    raise WorkflowFormatError([_invalid("", f"{name or 'the image'} holds no workflow: it has no 'prompt' or "
                                            "'workflow' text chunk (images saved by SaveImage have them, unless "
                                            "metadata was disabled)")])


def read_workflow(path: str | os.PathLike[str], runtime: Any) -> LoadedWorkflow:
    """A workflow file (JSON in any form, or a PNG image) read with ``runtime``'s registry.

    Raises:
        OSError: the file cannot be read. ValueError: it is neither JSON nor PNG.
        WorkflowFormatError: its content is not a workflow (every problem at once).
    """
    data = Path(path).read_bytes()
    name = Path(path).stem
    with using_runtime(runtime):
        if data.startswith(PNG_MAGIC):
            return parse_png(data, runtime.registry, name)
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON (nor a PNG image): {exc}") from None
        return parse_document(doc, runtime.registry, name)


# ------------------------------------------------------------------------------------------------------
# Running and validating


def prepare(loaded: LoadedWorkflow, runtime: Any, params: Any = None, sweep: Any = None,
            edit: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Prepared:
    """The graph to run: ``params`` set (defaults for the others), ``edit`` applied (the CLI's ``--set``),
    then ``sweep`` expanded when given.

    Raises:
        WorkflowFormatError: ``bad_parameter`` errors (pointers ``/params/<name>`` and ``/sweep/<axis>``).
        ValueError: whatever ``edit`` raises.
    """
    prompt, used, errors = apply_parameters(loaded.prompt, loaded.parameters, params)
    if errors:
        raise WorkflowFormatError(errors)
    if edit is not None:
        prompt = edit(prompt)
    if not sweep:
        return Prepared(prompt, used)
    with using_runtime(runtime):
        plan = plan_sweep(prompt, loaded.parameters, sweep, runtime.registry)
    return Prepared(plan.prompt, used, plan)


def explain_missing_models(errors: Sequence[GraphError], runtime: Any,
                           models: Sequence[ModelFile] = ()) -> list[GraphError]:
    """``errors`` with each "value not in list" on a model input reworded to name the file and its folder."""
    declared = {m.name: m for m in models}
    out = []
    for error in errors:
        received = error.extra.get("received_value")
        model = declared.get(received) if isinstance(received, str) else None
        directory = model.directory if model else MODEL_INPUTS.get(error.input_name or "")
        if error.code is not ErrorCode.VALUE_NOT_IN_LIST or directory is None or not isinstance(received, str):
            out.append(error)
            continue
        folder = runtime.folders.model_dirs(directory)[0]
        where = error.message.split(": ", 1)[0]
        message = (f"{where}: the model file {received!r} is missing; put it in the {directory} folder ({folder})"
                   + (f"; it can be downloaded from {model.url}" if model and model.url else ""))
        out.append(replace(error, message=message, extra={**error.extra, "missing_model": {
            "name": received, "directory": directory, "folder": str(folder), **({"url": model.url} if model and model.url else {})}}))
    return out


def validate_loaded(loaded: LoadedWorkflow, runtime: Any, prompt: Mapping[str, Any] | None = None) -> ValidationReport:
    """Validate a loaded workflow's graph (or ``prompt``, prepared from it), missing models explained."""
    report = runtime.engine.validate(loaded.prompt if prompt is None else prompt)
    if not report.errors:
        return report
    return replace(report, errors=tuple(explain_missing_models(report.errors, runtime, loaded.models)))


# ------------------------------------------------------------------------------------------------------
# The library


def library_dirs(runtime: Any) -> list[Path]:
    """Where library workflows live: ``<base>/workflows`` (else the shipped folder), ``<user>/default/workflows``."""
    base = Path(runtime.folders.base) / "workflows"
    dirs = [base if base.is_dir() else SHIPPED, Path(runtime.folders.user) / "default" / "workflows"]
    return [d for d in dict.fromkeys(d.resolve() for d in dirs) if d.is_dir()]


def library(runtime: Any) -> dict[str, Path]:
    """Library workflow name (the path without ``.json``, relative to its folder) -> file; first folder wins."""
    found: dict[str, Path] = {}
    for folder in library_dirs(runtime):
        for path in sorted(folder.rglob("*.json")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
                found.setdefault(path.relative_to(folder).with_suffix("").as_posix(), path)
    return found


def describe_entry(name: str, path: Path, runtime: Any) -> tuple[LoadedWorkflow | None, dict[str, Any]]:
    """(the loaded workflow or None, its library listing): a file that does not load is listed with its errors."""
    try:
        loaded = replace(read_workflow(path, runtime), name=name)
    except WorkflowFormatError as exc:
        return None, {"name": name, "file": path.name, "format": None, "description": "", "parameters": [],
                      "models": [], "sweep": None, "errors": [e.to_dict() for e in exc.errors]}
    except (OSError, ValueError) as exc:
        return None, {"name": name, "file": path.name, "format": None, "description": "", "parameters": [],
                      "models": [], "sweep": None, "errors": [{"code": "invalid_prompt", "message": str(exc)}]}
    entry = {**loaded.describe(), "file": path.name}
    present = {m.directory: set(runtime.folders.list_models(m.directory)) for m in loaded.models}
    entry["models"] = [{**m.to_dict(), "present": m.name in present[m.directory]} for m in loaded.models]
    return loaded, entry
