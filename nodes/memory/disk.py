"""The disk tier: a model's resting weights written to a file and memory-mapped back.

When the loaded models' RAM copies exceed the RAM budget and the model cache cannot drop them (a cached
node result or a running graph still holds them), the model manager spills the largest idle ones here.
Their resting tensors are written to one safetensors file under the offload folder and replaced by
tensors mapped from it (``safe_open(...).get_tensor`` maps the file without reading it), so their pages
are file-backed: the operating system reads them when a block is moved or computed with and may drop
them again under pressure, where anonymous RAM would have to be swapped.  The file is unlinked as soon
as it is mapped (POSIX keeps its data while mapped; elsewhere it is removed when the model is freed), so
nothing is left behind.  A spilled model loads to the device as before, from the mapping.
"""

from __future__ import annotations

import os
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from nodes.memory.manager import ManagedModel


def spill_to_disk(model: ManagedModel, directory: str | os.PathLike[str], *, moves: bool = True) -> int:
    """Replace ``model``'s resting tensors in RAM by memory-mapped copies in ``directory``; returns bytes spilled.

    Only tensors that rest in RAM move: the resting copies of resident units (``model.homes``) and the
    tensors of units that are not resident (all of them when the manager ``moves`` nothing: ``--cpu``).
    The model must be idle (no forward streaming a block) and carry no patches.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    places: dict[str, tuple[int, int]] = {}
    tensors: dict[str, torch.Tensor] = {}
    for i, unit in enumerate(model.units):
        if moves and i in model.loaded and i not in model.homes:
            continue  # its only copy is on the device
        for k, slot in enumerate(unit.slots):
            tensor = model.homes[i][k] if moves and i in model.homes else slot.get()
            if tensor.device.type != "cpu" or tensor.nbytes == 0:
                continue
            key = f"{i}.{k}"
            places[key] = (i, k)
            tensors[key] = tensor.detach().contiguous()
    if not tensors:
        return 0
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.name.replace(os.sep, '_').replace(':', '_')}-{uuid.uuid4().hex[:8]}.safetensors"
    save_file(tensors, str(path))
    del tensors
    spilled = 0
    with safe_open(str(path), framework="pt") as mapped:
        for key, (i, k) in places.items():
            tensor = mapped.get_tensor(key)
            if moves and i in model.homes:
                model.homes[i][k] = tensor
            else:
                model.units[i].slots[k].set(tensor)
            spilled += tensor.nbytes
    try:
        path.unlink()
    except OSError:  # Windows keeps mapped files: remove it with the model
        weakref.finalize(model, _remove, str(path))
    return spilled


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
