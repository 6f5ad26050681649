"""The ``latentloom`` command line.

::

    latentloom run WORKFLOW.json [--set NODE.INPUT=VALUE ...] [--output-dir DIR]
    latentloom validate FILE...
    latentloom nodes [--json] [NAME ...]
    latentloom serve [--listen [IP]] [--port 8188] [--api-key KEY] ...   (see server/cli.py)

Every command takes ``--base-dir`` (models/, custom_nodes/, input/, output/, temp/, user/ live there) and
``--custom-nodes DIR`` (more node pack folders). Exit codes: 0 success, 1 the run failed or was
interrupted, 2 the workflow is invalid or the command line is wrong. Importing this module is cheap; torch
is only imported by node packs that need it, when a workflow uses them.
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
from nodes.runtime import Runtime, Settings, build_runtime


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-dir", default=".", help="folder holding models/, custom_nodes/, input/, output/, temp/, user/ (default: .)")
    parser.add_argument("--custom-nodes", action="append", default=[], metavar="DIR", help="another custom_nodes folder (repeatable)")
    parser.add_argument("--disable-all-custom-nodes", action="store_true", help="load no custom node packs")
    parser.add_argument("--no-entry-points", action="store_true", help="do not load node packs installed as Python packages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentloom", description="Run text-to-image node graphs (ComfyUI API-format workflows).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a workflow")
    run.add_argument("workflow", help="an API-format workflow JSON file")
    run.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE", help="override an input (NODE is an id or a title; VALUE is JSON or text)")
    run.add_argument("--output-dir", help="where output nodes write (default: <base>/output)")
    run.add_argument("--cache", choices=["last", "lru", "ram", "none"], default="last", help="result cache policy")
    run.add_argument("--disk-cache", action="store_true", help="reuse results persisted under <base>/user/cache by earlier runs")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    _common(run)

    validate = sub.add_parser("validate", help="check workflows without running them")
    validate.add_argument("files", nargs="+")
    _common(validate)

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
        **extra,
    )


def load_document(path: str) -> Any:
    """Read a workflow file (JSON)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(_fail(f"no such workflow file: {path}"))
    except json.JSONDecodeError as exc:
        raise SystemExit(_fail(f"{path} is not valid JSON: {exc}"))


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
    if ref in doc:
        return ref
    titled = [nid for nid, node in doc.items() if isinstance(node, dict) and node.get("_meta", {}).get("title") == ref]
    if len(titled) == 1:
        return titled[0]
    if titled:
        raise ValueError(f"--set: several nodes are titled {ref!r} ({', '.join(titled)}); use a node id")
    raise ValueError(f"--set: no node with id or title {ref!r}; ids are {', '.join(list(doc)[:20])}")


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
    doc = load_document(args.workflow)
    try:
        doc = apply_overrides(doc, args.set)
    except ValueError as exc:
        return _fail(str(exc))
    runtime = build_runtime(_settings(args, output_dir=args.output_dir, cache=args.cache, disk_cache=args.disk_cache))
    _report_pack_failures(runtime)
    types = {nid: n.get("class_type", "?") for nid, n in doc.items() if isinstance(n, dict)}
    hooks = None if args.quiet else ProgressPrinter(types)
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _interrupt(cancel))
    start = time.perf_counter()
    try:
        result = runtime.engine.run(doc, cancel=cancel, hooks=hooks, prompt_id="cli")
    except (ValidationFailed, WorkflowFormatError) as exc:
        return _print_invalid(args.workflow, exc.errors)
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_outputs(runtime, dict(result.ui), types)
    seconds = time.perf_counter() - start
    if result.status == "interrupted":
        return _fail(f"interrupted at node {result.interrupted_node} after {seconds:.2f}s", 1)
    if result.error is not None:
        err = result.error
        print("".join(err.traceback[-6:]), file=sys.stderr, end="")
        return _fail(f"node {err.node_id} ({err.type_name}) failed: {err.exception_type}: {err.message}\n  inputs: {json.dumps(err.inputs)[:500]}", 1)
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
        try:
            report = runtime.engine.validate(load_document(path))
        except WorkflowFormatError as exc:
            status = _print_invalid(path, exc.errors)
            continue
        if report.errors:
            status = _print_invalid(path, report.errors)
        else:
            print(f"{path}: ok ({len(report.workflow)} nodes, outputs {', '.join(report.outputs)})")
    return status


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


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "nodes": cmd_nodes, "serve": cmd_serve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
