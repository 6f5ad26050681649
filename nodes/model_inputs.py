"""Node inputs that name a model under the application's model folders: choices, fingerprints, lookup.

Loader nodes declare ``Choices(model_choices("priors"))`` and ``fingerprint=folder_fingerprint("priors", "model_path")``
(``file_fingerprint`` for single files) and find their model with :func:`find_model`, so every loader
lists, fingerprints and reports a missing model the same way.  :func:`load_folder` is the whole body of a
loader of a diffusers-style folder (prior, decoder, cascade and CLIP packs).  Importing this module costs
no torch: node packs import it at registration, long before any model is loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.context import runtime


def model_choices(kind: str) -> Callable[[], list[str]]:
    """The COMBO choices of a ``kind`` input: what the ``kind`` folders hold now (nothing outside an app)."""

    def choices() -> list[str]:
        services = runtime()
        return [] if services is None else services.folders.list_models(kind)

    choices.__name__ = f"{kind}_choices"
    return choices


def file_fingerprint(kind: str, input_name: str) -> Callable[..., str]:
    """The fingerprint of input ``input_name`` naming a model file: its modification time (ns) and size."""

    def of(name: str) -> str:
        stat = runtime().folders.find_model(kind, name).stat()
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    return _taking(input_name, of)


def folder_fingerprint(kind: str, input_name: str) -> Callable[..., str]:
    """The fingerprint of input ``input_name`` naming a model folder: its newest file time and total size."""

    def of(name: str) -> str:
        from nodes.models.cache import file_signature

        _, newest, size = file_signature(runtime().folders.find_model(kind, name))
        return f"{newest}:{size}"

    return _taking(input_name, of)


def _taking(input_name: str, of: Callable[[str], str]) -> Callable[..., str]:
    """``of`` as a hook taking the keyword ``input_name`` (the node API passes hooks inputs by name)."""

    def hook(**inputs: str) -> str:
        return of(inputs[input_name])

    hook.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(input_name, inspect.Parameter.KEYWORD_ONLY, annotation=str)]
    )
    return hook


def find_model(node: str, kind: str, input_name: str, name: str) -> tuple[Any, Path]:
    """The runtime's services and the path of model ``name`` of ``kind``.

    Raises:
        RuntimeError: the node runs outside an application (no folders to look in).
        FileNotFoundError: no such model; the message names the node and the input.
    """
    services = runtime()
    if services is None:
        raise RuntimeError(f"{node} needs the application's folders; run it through an Engine built by build_runtime")
    try:
        return services, services.folders.find_model(kind, name)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{node}: {input_name} {name!r}: {exc}") from exc


def load_folder(node: str, kind: str, model_path: str, tag: str, load: Callable[..., Any], what: str) -> Any:
    """Find folder ``model_path`` of ``kind`` and load it through the model cache
    (:func:`nodes.models.parts.load_cached` with ``tag`` and ``load``).

    Raises:
        ValueError: the folder cannot be loaded; the message says it is not ``what``.
    """
    from nodes.models.parts import load_cached

    services, path = find_model(node, kind, "model_path", model_path)
    try:
        return load_cached(tag, path, services, load)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{node}: model_path {model_path!r} is not {what}: {exc}") from exc
