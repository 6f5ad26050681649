"""File routes: ``/view``, ``/upload/image``, ``/upload/mask``, ``/view_metadata``, model and extension lists.

The only folders these routes read or write are input/, output/ and temp/ (and, read-only, the model
folders and the web folders of node packs). Every name a client sends goes through :func:`resolve`:

* a file name that is empty, absolute, contains ``..`` or a NUL, or an unknown ``type``: **400**;
* a subfolder or file name that resolves outside its folder, through ``..``, an absolute path or a
  symbolic link: **403** (a symlink *inside* the folder that stays inside is fine);
* a name that is safe but absent: **404**.

Uploads refuse file names with path separators (400) and subfolders that leave the folder (400 for
``..``/absolute, 403 through a symlink). Without ``overwrite`` a clashing name is kept when the content is
identical and otherwise becomes ``name (1).ext``, ``name (2).ext``... (ComfyUI's rule). Image work
(previews, channels, masks) runs in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import mimetypes
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from nodes.paths import MODEL_KINDS, Folders, UnsafePath, safe_join
from server.http import ApiError, bad_request, reply
from server.state import RUNTIME

routes = web.RouteTableDef()

FOLDER_TYPES = ("output", "input", "temp")
_UNSAFE_TYPES = ("text/html", "text/javascript", "application/javascript", "text/css", "image/svg+xml",
                 "application/xhtml+xml")
_MAX_HEADER = 100 * 1024 * 1024


def _folders(request: web.Request) -> Folders:
    return request.app[RUNTIME].folders


def _annotated(filename: str) -> tuple[str, str | None]:
    """``"name.png [input]"`` -> ("name.png", "input") (ComfyUI's annotated file names)."""
    for kind in FOLDER_TYPES:
        suffix = f" [{kind}]"
        if filename.endswith(suffix):
            return filename[: -len(suffix)], kind
    return filename, None


def check_name(filename: str) -> None:
    """400 for a file name that is empty, absolute or climbs (``..``)."""
    if not filename or "\x00" in filename:
        raise bad_request("filename is missing or empty")
    parts = filename.replace("\\", "/").split("/")
    if filename.startswith(("/", "\\")) or os.path.isabs(filename) or ".." in parts:
        raise bad_request(f"filename {filename!r} must be a plain name inside its folder (no '..', no absolute path)")


def folder_of(folders: Folders, kind: str) -> Path:
    if kind not in FOLDER_TYPES:
        raise bad_request(f"type must be one of {', '.join(FOLDER_TYPES)}, got {kind!r}")
    return folders.folder(kind)


def resolve(folders: Folders, kind: str, subfolder: str, filename: str) -> Path:
    """The path of an input/output/temp file named by a client (see the module docstring for statuses)."""
    filename, annotated = _annotated(filename)
    check_name(filename)
    root = folder_of(folders, annotated or kind)
    if "\x00" in subfolder:
        raise bad_request("subfolder contains a NUL character")
    try:
        return safe_join(root, subfolder, filename) if subfolder else safe_join(root, filename)
    except UnsafePath as exc:
        raise ApiError(403, f"access denied: {exc}") from None


# --------------------------------------------------------------------------------------------------
# /view


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    """Serve an input/output/temp file, optionally re-encoded (``preview``) or reduced to a channel."""
    query = request.query
    if "filename" not in query:
        raise bad_request("the query parameter 'filename' is required")
    path = resolve(_folders(request), query.get("type", "output"), query.get("subfolder", ""), query["filename"])
    if not path.is_file():
        raise ApiError(404, f"no file {query['filename']!r} in {query.get('type', 'output')}")
    preview, channel = query.get("preview"), query.get("channel", "rgba")
    if channel not in ("rgba", "rgb", "a"):
        raise bad_request(f"channel must be rgba, rgb or a, got {channel!r}")
    disposition = {"Content-Disposition": f'filename="{path.name}"'}
    if preview is None and channel == "rgba":
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind in _UNSAFE_TYPES:
            kind = "application/octet-stream"
        return web.FileResponse(path, headers={**disposition, "Content-Type": kind})
    body, kind = await asyncio.get_running_loop().run_in_executor(None, _transform, path, preview, channel)
    return web.Response(body=body, content_type=kind, headers=disposition)


def _transform(path: Path, preview: str | None, channel: str) -> tuple[bytes, str]:
    """Re-encode an image: ``preview`` ("webp;90", "jpeg;85") or a channel ("rgb", "a") as PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise bad_request(f"{path.name} is not an image Pillow can read: {exc}") from None
    if channel == "rgb":
        image = image.convert("RGB")
    elif channel == "a":
        alpha = image.convert("RGBA").getchannel("A")
        image = Image.new("RGBA", image.size)
        image.putalpha(alpha)
    out = io.BytesIO()
    if preview is not None:
        fmt, _, quality = preview.partition(";")
        fmt = fmt.lower()
        if fmt not in ("webp", "jpeg", "jpg"):
            raise bad_request(f"preview must be 'webp;QUALITY' or 'jpeg;QUALITY', got {preview!r}")
        try:
            q = int(quality or 90)
        except ValueError:
            raise bad_request(f"preview quality must be an integer, got {quality!r}") from None
        if fmt != "webp" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, format="WEBP" if fmt == "webp" else "JPEG", quality=max(1, min(q, 100)))
        return out.getvalue(), "image/webp" if fmt == "webp" else "image/jpeg"
    image.save(out, format="PNG")
    return out.getvalue(), "image/png"


# --------------------------------------------------------------------------------------------------
# Uploads


def _upload_target(folders: Folders, kind: str, subfolder: str) -> Path:
    root = folder_of(folders, kind)
    parts = subfolder.replace("\\", "/").split("/")
    if os.path.isabs(subfolder) or subfolder.startswith(("/", "\\")) or ".." in parts or "\x00" in subfolder:
        raise bad_request(f"subfolder {subfolder!r} must stay inside the {kind} folder")
    try:
        return safe_join(root, subfolder) if subfolder else root.resolve()
    except UnsafePath as exc:
        raise ApiError(403, f"access denied: {exc}") from None


def _upload_name(name: str | None) -> str:
    if not name or "\x00" in name:
        raise bad_request("the uploaded file has no file name")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise bad_request(f"file name {name!r} must be a plain name without path separators")
    return name


def _save(folder: Path, name: str, data: bytes, overwrite: bool) -> str:
    """Write ``data`` as ``name`` in ``folder`` (ComfyUI's clash rule); returns the name used."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = os.path.splitext(name)
    candidate, i = name, 1
    digest = hashlib.sha256(data).digest()
    while not overwrite and (folder / candidate).exists():
        existing = folder / candidate
        if existing.is_file() and hashlib.sha256(existing.read_bytes()).digest() == digest:
            return candidate
        candidate, i = f"{stem} ({i}){ext}", i + 1
    target = safe_join(folder, candidate)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return candidate


@dataclass
class _Upload:
    """A parsed upload form."""

    form: Any
    data: bytes
    name: str
    folder: Path
    kind: str
    subfolder: str
    overwrite: bool

    def answer(self, saved: str) -> dict[str, str]:
        return {"name": saved, "subfolder": self.subfolder, "type": self.kind}


async def _read_upload(request: web.Request) -> _Upload:
    if not (request.content_type or "").startswith("multipart/"):
        raise bad_request("send the file as multipart/form-data with the field 'image'")
    try:
        post = await request.post()
    except ValueError as exc:  # a broken multipart body
        raise bad_request(f"malformed multipart body: {exc}") from None
    image = post.get("image")
    if not isinstance(image, web.FileField):
        raise bad_request("the multipart field 'image' with a file is required")
    name = _upload_name(image.filename)
    kind = str(post.get("type", "input") or "input")
    subfolder = str(post.get("subfolder", "") or "")
    folder = _upload_target(_folders(request), kind, subfolder)
    overwrite = str(post.get("overwrite", "")).lower() in ("true", "1")
    return _Upload(post, image.file.read(), name, folder, kind, subfolder, overwrite)


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Store an uploaded file in input/ (or temp/, output/): ``{"name", "subfolder", "type"}``."""
    upload = await _read_upload(request)
    saved = await asyncio.get_running_loop().run_in_executor(
        None, _save, upload.folder, upload.name, upload.data, upload.overwrite)
    return reply(request, upload.answer(saved))


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """Store the image named by ``original_ref`` with the uploaded image's alpha channel as its alpha."""
    upload = await _read_upload(request)
    try:
        ref = json.loads(str(upload.form.get("original_ref", "")))
    except ValueError:
        raise bad_request("original_ref must be JSON: {\"filename\", \"subfolder\", \"type\"}") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise bad_request("original_ref must be an object with a filename")
    original = resolve(_folders(request), str(ref.get("type", "output")), str(ref.get("subfolder", "") or ""), ref["filename"])
    if not original.is_file():
        raise ApiError(404, f"the original image {ref['filename']!r} does not exist")
    loop = asyncio.get_running_loop()
    merged = await loop.run_in_executor(None, _apply_mask, original, upload.data)
    saved = await loop.run_in_executor(None, _save, upload.folder, upload.name, merged, upload.overwrite)
    return reply(request, upload.answer(saved))


def _apply_mask(original: Path, mask_bytes: bytes) -> bytes:
    from PIL import Image, PngImagePlugin, UnidentifiedImageError

    try:
        base = Image.open(original)
        mask = Image.open(io.BytesIO(mask_bytes))
        base.load()
        mask.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise bad_request(f"the image or the mask cannot be read: {exc}") from None
    info = PngImagePlugin.PngInfo()
    for key, value in getattr(base, "text", {}).items():
        info.add_text(key, value)
    alpha = mask.convert("RGBA").getchannel("A").resize(base.size)
    result = base.convert("RGBA")
    result.putalpha(alpha)
    out = io.BytesIO()
    result.save(out, format="PNG", pnginfo=info, compress_level=4)
    return out.getvalue()


# --------------------------------------------------------------------------------------------------
# Models, embeddings, extensions


@routes.get("/models")
async def model_folders(request: web.Request) -> web.Response:
    """The model folder kinds."""
    return reply(request, list(MODEL_KINDS))


@routes.get("/models/{folder}")
async def model_files(request: web.Request) -> web.Response:
    """The model names in one folder kind (relative paths, sorted)."""
    kind = request.match_info["folder"]
    if kind not in MODEL_KINDS:
        raise ApiError(404, f"unknown model folder {kind!r}; GET /models lists them")
    names = await asyncio.get_running_loop().run_in_executor(None, _folders(request).list_models, kind)
    return reply(request, names)


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    """Embedding names without their extension."""
    names = await asyncio.get_running_loop().run_in_executor(None, _folders(request).list_models, "embeddings")
    return reply(request, [os.path.splitext(n)[0] for n in names])


@routes.get("/extensions")
async def extensions(request: web.Request) -> web.Response:
    """URLs of the JavaScript files of every node pack's web folder."""
    dirs = request.app[RUNTIME].registry.web_directories() if hasattr(request.app[RUNTIME].registry, "web_directories") else {}
    urls = []
    for pack, folder in sorted(dirs.items()):
        for path in sorted(Path(folder).rglob("*.js")):
            urls.append(f"/extensions/{pack}/{path.relative_to(folder).as_posix()}")
    return reply(request, urls)


@routes.get("/extensions/{pack}/{path:.+}")
async def extension_file(request: web.Request) -> web.StreamResponse:
    """A file of a node pack's web folder."""
    registry = request.app[RUNTIME].registry
    dirs = registry.web_directories() if hasattr(registry, "web_directories") else {}
    folder = dirs.get(request.match_info["pack"])
    if folder is None:
        raise ApiError(404, f"no node pack {request.match_info['pack']!r} with a web folder")
    try:
        path = safe_join(Path(folder), request.match_info["path"])
    except UnsafePath as exc:
        raise ApiError(403, f"access denied: {exc}") from None
    if not path.is_file():
        raise ApiError(404, "no such file")
    return web.FileResponse(path)


@routes.get("/view_metadata/{folder_name}")
async def view_metadata(request: web.Request) -> web.Response:
    """The ``__metadata__`` of a .safetensors model file."""
    kind, filename = request.match_info["folder_name"], request.query.get("filename", "")
    if kind not in MODEL_KINDS or not filename.endswith(".safetensors"):
        raise ApiError(404, "give a model folder kind and ?filename=NAME.safetensors")
    try:
        path = _folders(request).find_model(kind, filename)
    except UnsafePath as exc:
        raise ApiError(403, f"access denied: {exc}") from None
    except FileNotFoundError as exc:
        raise ApiError(404, str(exc)) from None
    header = await asyncio.get_running_loop().run_in_executor(None, read_safetensors_header, path)
    if header is None:
        raise ApiError(404, f"{filename} has no readable safetensors header")
    return reply(request, header.get("__metadata__", {}))


def read_safetensors_header(path: Path) -> dict[str, Any] | None:
    """The JSON header of a .safetensors file (8-byte little-endian length, then JSON), or None."""
    try:
        with open(path, "rb") as f:
            size = struct.unpack("<Q", f.read(8))[0]
            if size > _MAX_HEADER:
                return None
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return None
    return header if isinstance(header, dict) else None
