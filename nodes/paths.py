"""The base directory and its folders, laid out as ComfyUI lays them out.

::

    <base>/models/<kind>/...     checkpoints, vae, loras, embeddings, diffusers, text_encoders, unet, ...
    <base>/custom_nodes/         node packs
    <base>/input/  <base>/output/  <base>/temp/  <base>/user/

A :class:`Folders` object is built once by the application from the command line (``--base-dir``,
``--output-directory``, ``--input-directory``, extra model paths) and reaches nodes through the runtime
services; nothing here is global. Names handed in by users (model names, subfolders, file names) are
resolved with :meth:`Folders.safe_join`, which refuses anything that would leave the folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Model folder kinds and the file endings listed in them (ComfyUI's folder names).
MODEL_KINDS: Mapping[str, tuple[str, ...]] = {
    "checkpoints": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "vae": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "loras": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "embeddings": (".safetensors", ".pt", ".bin"),
    "text_encoders": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "clip": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "unet": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "diffusion_models": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "clip_vision": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "upscale_models": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "controlnet": (".safetensors", ".ckpt", ".pt", ".pth", ".bin"),
    "diffusers": (),  # folders, not files
    "priors": (),  # unCLIP stacks, Kandinsky priors
    "cascades": (),  # DeepFloyd IF stages
    "decoders": (),  # Kandinsky decoders (UNet + MoVQ)
    "clip_models": (),  # CLIP text + vision towers with projections
}

#: Old folder names that ComfyUI still reads for a kind.
MODEL_ALIASES: Mapping[str, tuple[str, ...]] = {"text_encoders": ("clip",), "diffusion_models": ("unet",), "unet": ("diffusion_models",)}


class UnsafePath(ValueError):
    """A user-supplied name would resolve outside its folder."""


@dataclass(frozen=True)
class Folders:
    """Where everything lives. Build with :meth:`Folders.at`."""

    base: Path
    models: Path
    input: Path
    output: Path
    temp: Path
    user: Path
    custom_nodes: tuple[Path, ...]
    extra_model_dirs: Mapping[str, tuple[Path, ...]] = field(default_factory=dict)

    @classmethod
    def at(
        cls,
        base: str | os.PathLike[str] = ".",
        *,
        output: str | os.PathLike[str] | None = None,
        input: str | os.PathLike[str] | None = None,
        temp: str | os.PathLike[str] | None = None,
        user: str | os.PathLike[str] | None = None,
        custom_nodes: Iterable[str | os.PathLike[str]] = (),
        extra_model_dirs: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None,
    ) -> Folders:
        """Folders under ``base``; explicit folders override the defaults, ``custom_nodes`` adds more."""
        root = Path(base).resolve()

        def pick(value: str | os.PathLike[str] | None, name: str) -> Path:
            return Path(value).resolve() if value is not None else root / name

        nodes_dirs = [root / "custom_nodes"] + [Path(d).resolve() for d in custom_nodes]
        extra = {k: tuple(Path(p).resolve() for p in v) for k, v in (extra_model_dirs or {}).items()}
        return cls(root, root / "models", pick(input, "input"), pick(output, "output"), pick(temp, "temp"), pick(user, "user"), tuple(dict.fromkeys(nodes_dirs)), extra)

    def ensure(self) -> Folders:
        """Create the writable folders (input, output, temp, user) if missing; returns self."""
        for folder in (self.input, self.output, self.temp, self.user):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def model_dirs(self, kind: str) -> list[Path]:
        """Every folder searched for models of ``kind``, in priority order."""
        dirs = [self.models / kind] + [self.models / alias for alias in MODEL_ALIASES.get(kind, ())]
        dirs += list(self.extra_model_dirs.get(kind, ()))
        for alias in MODEL_ALIASES.get(kind, ()):
            dirs += list(self.extra_model_dirs.get(alias, ()))
        return list(dict.fromkeys(dirs))

    def list_models(self, kind: str) -> list[str]:
        """Model names (paths relative to their folder, with ``/``) of ``kind``, sorted."""
        endings = MODEL_KINDS.get(kind, ())
        names: set[str] = set()
        for folder in self.model_dirs(kind):
            if not folder.is_dir():
                continue
            if not endings:  # folder-type models (diffusers layouts)
                names.update(p.parent.relative_to(folder).as_posix() for p in folder.rglob("model_index.json"))
                continue
            for path in folder.rglob("*"):
                if path.suffix.lower() in endings and path.is_file():
                    names.add(path.relative_to(folder).as_posix())
        return sorted(names)

    def find_model(self, kind: str, name: str) -> Path:
        """The path of model ``name`` of ``kind``.

        Raises:
            FileNotFoundError: no folder of that kind has it; the message names the folders searched.
            UnsafePath: the name tries to leave its folder.
        """
        for folder in self.model_dirs(kind):
            path = safe_join(folder, name, follow_links=False)  # user links in model folders are fine
            if path.exists():
                return path
        searched = ", ".join(str(d) for d in self.model_dirs(kind))
        raise FileNotFoundError(f"model {name!r} not found in the {kind} folder(s): {searched}; put the file there")

    def folder(self, kind: str) -> Path:
        """The folder for ``output``, ``input`` or ``temp`` (ComfyUI's ``type`` values)."""
        folders = {"output": self.output, "input": self.input, "temp": self.temp}
        if kind not in folders:
            raise ValueError(f"unknown folder type {kind!r}; expected output, input or temp")
        return folders[kind]


def safe_join(folder: Path, *parts: str, follow_links: bool = True) -> Path:
    """``folder / parts``, refusing absolute names, ``..`` and (by default) links that leave ``folder``.

    Args:
        follow_links: resolve symbolic links and refuse a target outside ``folder`` (what serving and
            uploading files needs). False checks the name only, so links the user placed in a model
            folder (a common way to share model files) are followed wherever they point.

    Raises:
        UnsafePath: the result would not be inside ``folder``.
    """
    root = folder.resolve()
    for part in parts:
        if os.path.isabs(part) or part.startswith(("/", "\\")):
            raise UnsafePath(f"{part!r} is an absolute path; give a name relative to {root}")
    joined = root.joinpath(*parts)
    target = joined.resolve() if follow_links else Path(os.path.normpath(joined))
    if target != root and root not in target.parents:
        raise UnsafePath(f"{'/'.join(parts)!r} leaves the folder {root}")
    return target


def load_extra_model_paths(path: str | os.PathLike[str]) -> tuple[dict[str, list[Path]], list[Path]]:
    """Read ComfyUI's ``extra_model_paths.yaml``: more model folders and custom_nodes folders.

    The file has one top-level section per installation (``comfyui:``, ``a111:`` ...).  In a section,
    ``base_path`` (``~`` and ``$VARS`` expanded; relative to the YAML file's folder when relative) is
    joined to every other entry; ``is_default: true`` puts the section's folders before those of other
    sections; every other key is a model kind (``checkpoints``, ``loras``, ``vae`` ...) or
    ``custom_nodes``, with one folder or several on separate lines (a YAML ``|`` block).  Without a
    ``base_path`` relative folders are relative to the YAML file's folder.  Empty sections are skipped.

    Args:
        path: the YAML file.

    Returns:
        ``(kind -> folders, custom_nodes folders)``, folders normalised, duplicates dropped, in file
        order with ``is_default`` sections first.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not YAML, or a section or value of the wrong shape (the message names it).
    """
    import yaml

    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    if document is None:
        return {}, []
    if not isinstance(document, Mapping):
        found = type(document).__name__
        raise ValueError(f"{source}: expected sections such as 'comfyui:' at the top level, found {found}")
    here = source.resolve().parent
    ordered: list[tuple[bool, str, Path]] = []
    for name, section in document.items():
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise ValueError(f"{source}: section {name!r} must map kinds to folders, found {type(section).__name__}")
        entries = dict(section)
        base = entries.pop("base_path", None)
        is_default = entries.pop("is_default", False)
        if isinstance(is_default, str):
            is_default = is_default.strip().lower() in ("true", "yes", "1")
        if base is not None:
            base = Path(os.path.expandvars(os.path.expanduser(str(base))))
            base = base if base.is_absolute() else here / base
        for kind, value in entries.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{source}: {name}.{kind} must be a folder or lines of folders, found {value!r}")
            for line in value.splitlines():
                line = line.strip()
                if not line:
                    continue
                folder = Path(os.path.expandvars(os.path.expanduser(line)))
                folder = (base or here) / folder if not folder.is_absolute() else folder
                ordered.append((bool(is_default), str(kind), Path(os.path.normpath(folder))))
    ordered.sort(key=lambda item: not item[0])  # stable: is_default sections first, file order otherwise
    kinds: dict[str, list[Path]] = {}
    nodes: list[Path] = []
    for _, kind, folder in ordered:
        target = nodes if kind == "custom_nodes" else kinds.setdefault(kind, [])
        if folder not in target:
            target.append(folder)
    return kinds, nodes
