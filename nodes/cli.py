"""The ``latentloom`` command line.

::

    latentloom run WORKFLOW [--param NAME=VALUE ...] [--sweep AXIS=V1,V2 ...] [--set NODE.INPUT=VALUE ...]
                   [--cpu | --gpu-only | --highvram | --normalvram | --lowvram | --novram]
                   [--reserve-vram GB] [--vram-budget GB] [--ram-budget GB] [--memory-report]
    latentloom validate FILE...
    latentloom convert WORKFLOW [-o API.json] [--param NAME=VALUE ...]
    latentloom nodes [--json] [NAME ...]
    latentloom serve [--listen [IP]] [--port 8188] [--api-key KEY] ...   (see server/cli.py)

Every command takes ``--base-dir`` (models/, custom_nodes/, input/, output/, temp/, user/ live there) and
``--custom-nodes DIR`` (more node pack folders). Exit codes: 0 success, 1 the run failed or was
interrupted, 2 the workflow is invalid or the command line is wrong. Importing this module is cheap; torch
is only imported by node packs that need it, when a workflow uses them.

A WORKFLOW is any form ``nodes/workflow_files.py`` reads: API or UI format JSON, a parameterised
``latentloom-workflow/1`` file, a saved ``POST /prompt`` body, or a PNG image saved by SaveImage.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from graph.context import CancelToken, using_runtime
from graph.errors import ValidationFailed, WorkflowFormatError
from graph.events import Event, Executing, ExecutionCached, NodeFinished, Progress
from graph.params import find_node
from nodes.memory.config import add_memory_arguments, memory_settings
from nodes.runtime import Runtime, Settings, build_runtime
from nodes.workflow_files import LoadedWorkflow, explain_missing_models, prepare, read_workflow, validate_loaded


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-dir", default=".", help="folder holding models/, custom_nodes/, input/, output/, temp/, user/ (default: .)")
    parser.add_argument("--custom-nodes", action="append", default=[], metavar="DIR", help="another custom_nodes folder (repeatable)")
    parser.add_argument("--disable-all-custom-nodes", action="store_true", help="load no custom node packs")
    parser.add_argument("--no-entry-points", action="store_true", help="do not load node packs installed as Python packages")
    parser.add_argument("--extra-model-paths-config", action="append", default=[], metavar="YAML", help="ComfyUI's extra_model_paths.yaml: more model and custom_nodes folders (repeatable)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto", help="compute precision (auto: fp32 on CPU, fp16 on GPUs; bf16 is about 3x faster on recent CPUs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentloom", description="Run text-to-image node graphs (ComfyUI API or UI format workflows, parameterised workflow files, PNGs).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a workflow")
    run.add_argument("workflow", help="a workflow: API or UI format JSON, a latentloom-workflow file, or a PNG saved by SaveImage")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a declared parameter (VALUE is read as the parameter's type)")
    run.add_argument("--sweep", action="append", default=[], metavar="AXIS=V1,V2,...", help="run every combination of these values as one job (AXIS is a parameter or NODE.INPUT; a JSON list also works)")
    run.add_argument("--no-sweep", action="store_true", help="ignore the sweep the workflow file declares")
    run.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE", help="override an input (NODE is an id or a title; VALUE is JSON or text)")
    run.add_argument("--output-dir", help="where output nodes write (default: <base>/output)")
    run.add_argument("--cache", choices=["last", "lru", "ram", "none"], default="last", help="result cache policy")
    run.add_argument("--disk-cache", action="store_true", help="reuse results persisted under <base>/user/cache by earlier runs")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    run.add_argument("--memory-report", action="store_true", help="after the run, print what the model manager holds where, bytes moved and budgets")
    add_memory_arguments(run)  # the same memory flags as `serve`
    _common(run)

    validate = sub.add_parser("validate", help="check workflows without running them")
    validate.add_argument("files", nargs="+")
    _common(validate)

    convert = sub.add_parser("convert", help="write a workflow (UI format, PNG, parameterised file) in the API format")
    convert.add_argument("workflow")
    convert.add_argument("-o", "--output", metavar="API.json", help="write here instead of standard output")
    convert.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set a declared parameter")
    _common(convert)

    nodes = sub.add_parser("nodes", help="list node types")
    nodes.add_argument("names", nargs="*", help="only these node types")
    nodes.add_argument("--json", action="store_true", help="print the /object_info document")
    _common(nodes)

    from server.cli import add_serve_arguments  # standard library only: cheap for the other commands

    serve = sub.add_parser("serve", help="run the ComfyUI-compatible HTTP and websocket server")
    add_serve_arguments(serve)
    _common(serve)
    return parser


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return Settings(
        base_dir=args.base_dir,
        custom_nodes=tuple(args.custom_nodes),
        disable_custom_nodes=args.disable_all_custom_nodes,
        entry_points=not args.no_entry_points,
        extra_model_paths=tuple(args.extra_model_paths_config),
        precision=args.precision,
        **extra,
    )


def _fail(message: str, code: int = 2) -> int:
    print(f"latentloom: {message}", file=sys.stderr)
    return code


def apply_overrides(doc: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``NODE.INPUT=VALUE`` overrides to an API-format document (a copy is returned).

    NODE is a node id or a node title (``_meta.title``); VALUE is parsed as JSON when it is valid JSON,
    otherwise taken as text.

    Raises:
        ValueError: a malformed assignment, or a NODE that names no node (or several).
    """
    doc = json.loads(json.dumps(doc))
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        node_ref, dot, input_name = target.rpartition(".")
        if not sep or not dot or not node_ref or not input_name:
            raise ValueError(f"--set {assignment!r}: expected NODE.INPUT=VALUE, e.g. --set 3.seed=42")
        node_id = _find_node(doc, node_ref)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = {"__value__": value}
        doc[node_id].setdefault("inputs", {})[input_name] = value
    return doc


def _find_node(doc: dict[str, Any], ref: str) -> str:
    node_id, why = find_node(doc, ref)
    if node_id is None:
        raise ValueError(f"--set: {why}")
    return node_id


def _assignments(items: Sequence[str], flag: str) -> dict[str, str]:
    """``NAME=VALUE`` pairs; the values stay text (each parameter reads its own type)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{flag} {item!r}: expected NAME=VALUE, e.g. {flag} seed=3")
        out[name] = value
    return out


def _grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--sweep AXIS=1,2,3`` (or a JSON list) as ``{axis: [values]}``."""
    grid: dict[str, list[Any]] = {}
    for axis, raw in _assignments(items, "--sweep").items():
        if raw.lstrip().startswith("["):
            try:
                values = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--sweep {axis}: {raw!r} is not a JSON list: {exc}") from None
        else:
            values = [v.strip() for v in raw.split(",") if v.strip()]
        grid[axis] = values
    return grid


def _load(path: str, runtime: Runtime) -> LoadedWorkflow | int:
    """The workflow in ``path``, or the exit code after printing why its content is not a workflow.

    Raises:
        SystemExit: (code 2) the file is missing, unreadable, or neither JSON nor PNG.
    """
    try:
        return read_workflow(path, runtime)
    except FileNotFoundError:
        raise SystemExit(_fail(f"no such workflow file: {path}")) from None
    except WorkflowFormatError as exc:
        return _print_invalid(path, exc.errors)
    except (OSError, ValueError) as exc:
        raise SystemExit(_fail(str(exc))) from None


class ProgressPrinter:
    """A hook that shows which node runs and the steps inside it, on one terminal line when possible."""

    def __init__(self, types: dict[str, str], stream: TextIO | None = None) -> None:
        self.types = types
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self.count = 0
        self.line_open = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, ExecutionCached) and event.nodes:
            self._line(f"cached: {len(event.nodes)} node(s) reused", end=True)
        elif isinstance(event, Executing):
            self.count += 1
            label = event.type_name or self.types.get(event.node, "?")
            self._line(f"[{self.count}] {label} #{event.node}", end=not self.tty)
        elif isinstance(event, Progress) and self.tty:
            width = 24
            filled = int(width * event.value / max(event.max, 1))
            bar = "#" * filled + "-" * (width - filled)
            self._line(f"    {bar} {int(event.value)}/{int(event.max)}", end=False)
        elif isinstance(event, NodeFinished) and self.tty:
            self._line(f"[{self.count}] {self.types.get(event.node, event.node)} #{event.node} done in {event.seconds:.2f}s", end=True)

    def _line(self, text: str, *, end: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if end else ""))
            self.line_open = not end
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _print_outputs(runtime: Runtime, ui: dict[str, Any], types: dict[str, str]) -> None:
    for node_id, data in ui.items():
        label = f"{types.get(node_id, '?')} #{node_id}"
        for text in data.get("text", []) if isinstance(data, dict) else []:
            print(f"{label}: {text}")
        for image in data.get("images", []) if isinstance(data, dict) else []:
            folder = runtime.folders.folder(image.get("type", "output"))
            path = folder / image.get("subfolder", "") / image["filename"]
            print(f"{label}: wrote {path}")


def cmd_run(args: argparse.Namespace) -> int:
    try:
        params, grid = _assignments(args.param, "--param"), _grid(args.sweep)
    except ValueError as exc:
        return _fail(str(exc))
    runtime = build_runtime(_settings(args, output_dir=args.output_dir, cache=args.cache, disk_cache=args.disk_cache, **memory_settings(args)))
    _report_pack_failures(runtime)
    loaded = _load(args.workflow, runtime)
    if isinstance(loaded, int):
        return loaded
    sweep = grid or (None if args.no_sweep else loaded.sweep)
    try:
        prepared = prepare(loaded, runtime, params, sweep, edit=lambda doc: apply_overrides(doc, args.set))
    except WorkflowFormatError as exc:
        return _print_invalid(args.workflow, exc.errors)
    except ValueError as exc:
        return _fail(str(exc))
    doc = prepared.prompt
    types = {nid: n.get("class_type", "?") for nid, n in doc.items() if isinstance(n, dict)} if isinstance(doc, dict) else {}
    hooks = None if args.quiet else ProgressPrinter(types)
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _interrupt(cancel))
    start = time.perf_counter()
    try:
        result = runtime.engine.run(doc, cancel=cancel, hooks=hooks, prompt_id="cli", extra_data=loaded.extra_data())
    except (ValidationFailed, WorkflowFormatError) as exc:
        return _print_invalid(args.workflow, explain_missing_models(exc.errors, runtime, loaded.models))
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_outputs(runtime, dict(result.ui), types)
    if args.memory_report:
        from nodes.memory.manager import format_status

        print(format_status(runtime.models.status()), file=sys.stderr)
    seconds = time.perf_counter() - start
    if result.status == "interrupted":
        return _fail(f"interrupted at node {result.interrupted_node} after {seconds:.2f}s", 1)
    if result.error is not None:
        err = result.error
        print("".join(err.traceback[-6:]), file=sys.stderr, end="")
        return _fail(f"node {err.node_id} ({err.type_name}) failed: {err.exception_type}: {err.message}\n  inputs: {json.dumps(err.inputs)[:500]}", 1)
    if prepared.sweep is not None and not args.quiet:
        points = len(prepared.sweep.points)
        print(f"sweep: {points} point(s) over {', '.join(name for name, _ in prepared.sweep.axes)}", file=sys.stderr)
    if not args.quiet:
        print(f"done in {seconds:.2f}s ({len(result.executed)} ran, {len(result.cached)} cached)", file=sys.stderr)
    return 0


def _interrupt(cancel: CancelToken) -> None:
    if cancel.cancelled:
        raise KeyboardInterrupt
    print("\ninterrupting (Ctrl-C again to abort at once)...", file=sys.stderr)
    cancel.cancel("interrupted from the keyboard")


def _report_pack_failures(runtime: Runtime) -> None:
    for failure in getattr(runtime.load_report, "failures", ()):
        print(f"latentloom: custom node pack {failure.name} failed to import and was skipped: {failure.error}", file=sys.stderr)


def _print_invalid(path: str, errors: Sequence[Any]) -> int:
    from graph.comfy_errors import format_errors

    print(f"{path}: {len(errors)} error(s)", file=sys.stderr)
    print(format_errors(errors), file=sys.stderr)
    return 2


def cmd_validate(args: argparse.Namespace) -> int:
    runtime = build_runtime(_settings(args))
    _report_pack_failures(runtime)
    status = 0
    for path in args.files:
        loaded = _load(path, runtime)
        if isinstance(loaded, int):
            status = loaded
            continue
        try:
            prompt = prepare(loaded, runtime, None, loaded.sweep).prompt
            report = validate_loaded(loaded, runtime, prompt)
        except WorkflowFormatError as exc:
            status = _print_invalid(path, exc.errors)
            continue
        if report.errors:
            status = _print_invalid(path, report.errors)
            continue
        params = f"; parameters {', '.join(p.name for p in loaded.parameters)}" if loaded.parameters else ""
        print(f"{path}: ok ({loaded.kind}, {len(report.workflow)} nodes, outputs {', '.join(report.outputs)}{params})")
    return status


def cmd_convert(args: argparse.Namespace) -> int:
    try:
        params = _assignments(args.param, "--param")
    except ValueError as exc:
        return _fail(str(exc))
    runtime = build_runtime(_settings(args))
    _report_pack_failures(runtime)
    loaded = _load(args.workflow, runtime)
    if isinstance(loaded, int):
        return loaded
    try:
        prompt = prepare(loaded, runtime, params).prompt
    except WorkflowFormatError as exc:
        return _print_invalid(args.workflow, exc.errors)
    text = json.dumps(prompt, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{args.workflow}: wrote {len(prompt)} nodes to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    runtime = build_runtime(_settings(args))
    _report_pack_failures(runtime)
    with using_runtime(runtime):
        info = runtime.registry.object_info()
    if args.names:
        missing = [n for n in args.names if n not in info]
        if missing:
            return _fail(f"unknown node type(s): {', '.join(missing)}")
        info = {n: info[n] for n in args.names}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for name, entry in sorted(info.items(), key=lambda kv: (kv[1]["category"], kv[0])):
        inputs = ", ".join(entry["input_order"].get("required", []) + [f"[{n}]" for n in entry["input_order"].get("optional", [])])
        outputs = ", ".join(entry["output"]) or "-"
        print(f"{entry['category']:<24} {name:<28} ({inputs}) -> {outputs}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from server.cli import run_serve

    return run_serve(args)


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "convert": cmd_convert, "nodes": cmd_nodes, "serve": cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
