"""The node registry and the discovery of node packs.

A :class:`NodeRegistry` is a plain object (no module globals) that maps ``class_type`` names to
:class:`~graph.spec.NodeSpec` objects; the engine reads it through ``spec(name)`` (the
:class:`graph.spec.Registry` protocol). It is filled from three places, in this order:

1. the built-in packs listed in :mod:`nodes.builtin` (their names are protected: a custom pack cannot
   replace them; the attempt is a warning in the load report and that node is skipped);
2. installed packages that declare a ``latentloom.nodes`` entry point (:func:`load_entry_point_nodes`);
3. ``custom_nodes`` folders (:func:`load_custom_nodes`), entry by entry in sorted order. An entry is a
   ``.py`` file or a package folder with ``__init__.py``; ``__pycache__``, names ending ``.disabled`` and
   other files are skipped. A module exposes ``NODE_CLASS_MAPPINGS`` (+ ``NODE_DISPLAY_NAME_MAPPINGS``,
   ComfyUI's convention, read by :mod:`nodes.comfy`) or ``LATENTLOOM_NODES`` (a list of ``@node``
   functions, the native convention), and may set ``WEB_DIRECTORY`` for front-end extensions.

Between non-built-in packs the later registration wins, and the replacement is recorded. Failures are
isolated: a pack that raises on import is recorded with its error and traceback and the others load; a
broken node class is skipped with its reason while the rest of its pack loads. Everything that happened
is in the returned :class:`LoadReport`, whose :meth:`~LoadReport.summary` reads like ComfyUI's "Import
times for custom nodes".
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import logging
import re
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from graph.spec import NodeSpec
from nodes import builtin
from nodes.api import spec_of
from nodes.comfy import specs_from_mappings
from nodes.object_info import node_info, object_info

logger = logging.getLogger(__name__)

PackSource = Literal["builtin", "entry_point", "custom_nodes"]


# --------------------------------------------------------------------------------------------------
# The load report


@dataclass(frozen=True, slots=True)
class PackLoaded:
    """A pack that imported: its registered node names, import time and web directory."""

    name: str
    source: PackSource
    path: str | None
    nodes: tuple[str, ...]
    seconds: float
    web_directory: str | None = None


@dataclass(frozen=True, slots=True)
class PackFailed:
    """A pack that raised on import (or had nothing to register)."""

    name: str
    source: PackSource
    path: str | None
    error: str
    traceback: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something not registered: a disabled entry, a refused override, a broken node class."""

    name: str
    pack: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Override:
    """A node name that a later pack took over from an earlier one."""

    name: str
    previous: str
    by: str


@dataclass
class LoadReport:
    """What loading node packs did."""

    packs: list[PackLoaded] = field(default_factory=list)
    failures: list[PackFailed] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No pack failed to import."""
        return not self.failures

    def extend(self, other: LoadReport) -> None:
        for name in ("packs", "failures", "skipped", "overrides", "warnings"):
            getattr(self, name).extend(getattr(other, name))

    def summary(self) -> str:
        """A readable multi-line account (import times, failures, skips, overrides, warnings)."""
        lines = ["Import times for node packs:"]
        rows = [(p.seconds, p.name, "", f"{p.source}, {len(p.nodes)} nodes") for p in self.packs]
        rows += [(f.seconds, f.name, " (IMPORT FAILED)", f"{f.source}: {f.error}") for f in self.failures]
        for seconds, name, flag, detail in sorted(rows, key=lambda r: r[0]):
            lines.append(f"  {seconds:6.3f} seconds{flag}: {name} ({detail})")
        lines += [f"Skipped {s.name}" + (f" from {s.pack}" if s.pack else "") + f": {s.reason}" for s in self.skipped]
        lines += [f"Override: {o.name} from {o.previous} replaced by {o.by}" for o in self.overrides]
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of :meth:`NodeRegistry.register`."""

    name: str
    status: Literal["added", "replaced", "refused"]
    previous: str | None = None


class NodeRegistry:
    """Node specs by ``class_type``, with the pack each came from."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self._sources: dict[str, str] = {}
        self._builtin: set[str] = set()
        self._web_directories: dict[str, str] = {}

    def register(
        self, node: NodeSpec | Callable[..., Any], *, source: str = "local", builtin: bool = False
    ) -> Registration:
        """Add a spec (or an ``@node`` function) under its ``type_name``.

        A built-in name is never replaced by a non-built-in registration (``"refused"``, with a warning
        logged); otherwise a name registered again is ``"replaced"``.

        Raises:
            ValueError: two built-in packs register the same name (a bug in the project).
            TypeError: ``node`` is neither a NodeSpec nor an ``@node`` function.
        """
        spec = spec_of(node)
        name = spec.type_name
        previous = self._sources.get(name)
        if name in self._builtin:
            if builtin:
                raise ValueError(f"built-in node {name!r} is registered twice ({previous} and {source})")
            logger.warning("node %r from %s is ignored: built-in nodes cannot be replaced", name, source)
            return Registration(name, "refused", previous)
        self._specs[name] = spec
        self._sources[name] = source
        if builtin:
            self._builtin.add(name)
        return Registration(name, "added" if previous is None else "replaced", previous)

    def spec(self, type_name: str) -> NodeSpec | None:
        """The spec registered as ``type_name``, or None (the engine's Registry protocol)."""
        return self._specs.get(type_name)

    def source_of(self, type_name: str) -> str | None:
        """The pack that registered ``type_name``."""
        return self._sources.get(type_name)

    def is_builtin(self, type_name: str) -> bool:
        return type_name in self._builtin

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._specs)

    def type_names(self) -> list[str]:
        """Every registered ``class_type`` (graph.validate's TypeNameSource, for "did you mean" hints)."""
        return list(self._specs)

    def specs(self) -> list[NodeSpec]:
        return list(self._specs.values())

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._specs))

    def object_info(self, type_name: str | None = None) -> dict[str, Any]:
        """ComfyUI's ``/object_info`` for every node, or ``{name: info}`` for one (``{}`` if unknown).

        Raises:
            Exception: for a single node, whatever computing its choices raises.
        """
        if type_name is None:
            return object_info(self._specs.values())
        spec = self._specs.get(type_name)
        return {} if spec is None else {type_name: node_info(spec)}

    def add_web_directory(self, pack: str, path: str) -> None:
        """Record a pack's front-end extension folder (served at ``/extensions/<pack>/``)."""
        self._web_directories[pack] = path

    def web_directories(self) -> dict[str, str]:
        """``{pack name: absolute folder}`` of every pack with a WEB_DIRECTORY."""
        return dict(self._web_directories)


# --------------------------------------------------------------------------------------------------
# Registering a loaded module


def _specs_in(
    obj: Any, python_module: str | None, report: LoadReport, pack: str
) -> tuple[list[NodeSpec], list[tuple[str, str]]] | None:
    """The specs a module (or an entry point's result) offers through either convention, with the nodes
    that could not be read as ``(name, reason)``; None when it offers neither convention."""
    mappings = obj if isinstance(obj, dict) else getattr(obj, "NODE_CLASS_MAPPINGS", None)
    natives = obj if isinstance(obj, (list, tuple)) else getattr(obj, "LATENTLOOM_NODES", None)
    if not isinstance(mappings, dict) and natives is None:
        return None
    specs: list[NodeSpec] = []
    failures: list[tuple[str, str]] = []
    if isinstance(mappings, dict):
        displays = getattr(obj, "NODE_DISPLAY_NAME_MAPPINGS", None)
        specs, failures = specs_from_mappings(
            mappings, displays if isinstance(displays, dict) else None, python_module,
            warn=lambda msg: report.warnings.append(f"{pack}: {msg}"),
        )
    if natives is not None and not isinstance(natives, (list, tuple)):
        failures.append(("LATENTLOOM_NODES", f"must be a list of @node functions, got {type(natives).__name__}"))
        natives = ()
    for item in natives or ():
        try:
            spec = spec_of(item)
        except TypeError as exc:
            failures.append((getattr(item, "__name__", repr(item)), str(exc)))
            continue
        specs.append(spec if python_module is None else dataclasses.replace(spec, python_module=python_module))
    return specs, failures


def _register_all(
    registry: NodeRegistry, specs: Iterable[NodeSpec], pack: str, builtin: bool, report: LoadReport
) -> tuple[str, ...]:
    names = []
    for spec in specs:
        outcome = registry.register(spec, source=pack, builtin=builtin)
        if outcome.status == "refused":
            reason = f"built-in node {outcome.name!r} cannot be replaced (defined by {outcome.previous})"
            report.warnings.append(f"{pack}: {reason}")
            report.skipped.append(Skipped(outcome.name, pack, reason))
            continue
        if outcome.status == "replaced" and outcome.previous is not None:
            report.overrides.append(Override(outcome.name, outcome.previous, pack))
        names.append(outcome.name)
    return tuple(names)


def _register_module(
    registry: NodeRegistry,
    obj: Any,
    *,
    pack: str,
    source: PackSource,
    path: str | None,
    python_module: str | None,
    started: float,
    report: LoadReport,
) -> None:
    found = _specs_in(obj, python_module, report, pack)
    seconds = time.perf_counter() - started
    if found is None:
        reason = "exposes neither NODE_CLASS_MAPPINGS nor LATENTLOOM_NODES"
        report.warnings.append(f"{pack}: {reason}; skipped")
        report.skipped.append(Skipped(pack, None, reason))
        return
    specs, failures = found
    for name, reason in failures:
        report.skipped.append(Skipped(name, pack, reason))
        report.warnings.append(f"{pack}: node {name!r} skipped: {reason}")
    names = _register_all(registry, specs, pack, source == "builtin", report)
    web = _web_directory(obj, pack, registry)
    report.packs.append(PackLoaded(pack, source, path, names, seconds, web))


def _web_directory(module: Any, pack: str, registry: NodeRegistry) -> str | None:
    web = getattr(module, "WEB_DIRECTORY", None)
    file = getattr(module, "__file__", None)
    if not isinstance(web, str) or not file:
        return None
    folder = (Path(file).parent / web).resolve()
    if not folder.is_dir():
        return None
    registry.add_web_directory(pack, str(folder))
    return str(folder)


def _failure(pack: str, source: PackSource, path: str | None, started: float, exc: BaseException) -> PackFailed:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logger.error("node pack %s failed to import:\n%s", pack, tb)
    return PackFailed(pack, source, path, f"{type(exc).__name__}: {exc}", tb, time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------
# custom_nodes folders


def _module_name(path: Path) -> str:
    """A unique, import-safe sys.modules name for the pack at ``path``."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.name.removesuffix(".py"))
    return f"latentloom_pack_{stem}_{digest}"


def _pack_entries(directory: Path, report: LoadReport) -> Iterator[tuple[str, Path]]:
    """(pack name, file to import) for each loadable entry of a custom_nodes folder."""
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        if entry.name.endswith(".disabled"):
            report.skipped.append(Skipped(entry.name, None, "disabled"))
            continue
        if entry.is_dir():
            init = entry / "__init__.py"
            if init.is_file():
                yield entry.name, init
            else:
                report.skipped.append(Skipped(entry.name, None, "a folder without __init__.py"))
        elif entry.suffix == ".py":
            yield entry.stem, entry


def _import_file(module_name: str, file: Path) -> types.ModuleType:
    """Import ``file`` (a module, or a package's ``__init__.py``) as ``module_name``.

    Raises:
        Exception: whatever the module raises; its half-imported modules are removed from sys.modules.
    """
    is_package = file.name == "__init__.py"
    locations = [str(file.parent)] if is_package else None
    spec = importlib.util.spec_from_file_location(module_name, file, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            del sys.modules[name]
        raise
    return module


def load_custom_nodes(
    registry: NodeRegistry, dirs: Iterable[str | Path], *, report: LoadReport | None = None
) -> LoadReport:
    """Import every pack in the given custom_nodes folders and register their nodes.

    Args:
        registry: receives the nodes.
        dirs: custom_nodes folders; missing ones are reported as skipped.
        report: a report to add to (a new one by default).

    Returns:
        The report; a pack that raised on import is in ``failures`` and the others are loaded.
    """
    report = report if report is not None else LoadReport()
    for directory in map(Path, dirs):
        if not directory.is_dir():
            report.skipped.append(Skipped(str(directory), None, "not a folder"))
            continue
        for pack, file in _pack_entries(directory, report):
            started = time.perf_counter()
            location = str(file.parent if file.name == "__init__.py" else file)
            try:
                module = _import_file(_module_name(file.parent if file.name == "__init__.py" else file), file)
            except (Exception, SystemExit) as exc:  # a pack calling sys.exit() must not stop the server
                report.failures.append(_failure(pack, "custom_nodes", location, started, exc))
                continue
            _register_module(registry, module, pack=pack, source="custom_nodes", path=location,
                             python_module=f"custom_nodes.{pack}", started=started, report=report)
    return report


# --------------------------------------------------------------------------------------------------
# Entry points and built-ins


def load_entry_point_nodes(
    registry: NodeRegistry, group: str = "latentloom.nodes", *, report: LoadReport | None = None
) -> LoadReport:
    """Register the nodes of installed packages that declare an entry point in ``group``.

    An entry point names a module exposing ``LATENTLOOM_NODES`` or ``NODE_CLASS_MAPPINGS``, or a callable
    returning a list of ``@node`` functions (or a NODE_CLASS_MAPPINGS-style dict).
    """
    report = report if report is not None else LoadReport()
    for ep in metadata.entry_points(group=group):
        started = time.perf_counter()
        try:
            loaded = ep.load()
            obj = loaded if isinstance(loaded, types.ModuleType) or not callable(loaded) else loaded()
        except (Exception, SystemExit) as exc:
            report.failures.append(_failure(ep.name, "entry_point", ep.value, started, exc))
            continue
        _register_module(registry, obj, pack=ep.name, source="entry_point", path=ep.value,
                         python_module=ep.module, started=started, report=report)
    return report


def load_builtin_packs(
    registry: NodeRegistry, packs: Sequence[str] | None = None, *, report: LoadReport | None = None
) -> LoadReport:
    """Register the built-in packs (module names; default :data:`nodes.builtin.BUILTIN_PACKS`)."""
    report = report if report is not None else LoadReport()
    for module_name in builtin.BUILTIN_PACKS if packs is None else packs:
        started = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            report.failures.append(_failure(module_name, "builtin", module_name, started, exc))
            continue
        _register_module(registry, module, pack=module_name, source="builtin", path=module_name,
                         python_module=None, started=started, report=report)
    return report


def default_registry(
    custom_node_dirs: Iterable[str | Path] = (), entry_points: bool = True
) -> tuple[NodeRegistry, LoadReport]:
    """A registry with the built-in packs, then entry-point packs, then custom_nodes folders.

    Returns:
        (registry, report); check ``report.ok`` or print ``report.summary()``.
    """
    registry = NodeRegistry()
    report = load_builtin_packs(registry)
    if entry_points:
        load_entry_point_nodes(registry, report=report)
    load_custom_nodes(registry, custom_node_dirs, report=report)
    return registry, report
