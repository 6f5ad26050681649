"""Weight patches on shared modules: how a LoRA'd clone runs without copying the model.

The policy (ComfyUI's ModelPatcher, reduced to what latentloom needs)
--------------------------------------------------------------------
A loaded model is one set of ``nn.Module`` objects.  Every handle that flows on a MODEL or CLIP port
refers to a :class:`PatchState` shared by the handle it was loaded as and all of its clones, plus its
own immutable tuple of :class:`WeightPatch` values.  A clone (``with_patches``) costs a tuple; no
tensor is copied and nothing is computed until the clone is used.

Using a handle (``with state.use(patches): ...``) makes the modules carry exactly that patch set:

1. if the modules already carry it (the same patch objects, in the same order), nothing happens, so
   running the same LoRA'd model again costs nothing;
2. otherwise the current patches are removed first: every patched parameter gets back its original
   tensor object (so the base weights are restored bit for bit; they were never written to), and
3. the new patches are applied: for each patched parameter the original tensor is kept as the backup
   (a CPU copy when the weights live on an accelerator), the new weight is computed in float32 as
   ``W + sum(strength * delta)`` in the order the patches were added, cast back to the parameter's
   dtype, and set as the parameter's data.

So patches stay applied after the block until another patch set (or the unpatched base) is used, or
:meth:`PatchState.restore` is called.  Read module weights only inside a ``use`` block.  A lock
serialises blocks; inside a block the same patch set may be used again (re-entrant), while asking for
a different one raises, since the modules cannot carry two sets at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Delta(Protocol):
    """A weight difference computed on demand (a LoRA's low-rank factors, for instance)."""

    def compute(self, shape: torch.Size, device: torch.device, scale: float) -> torch.Tensor:
        """``scale * delta`` as a float32 tensor of ``shape`` on ``device``."""
        ...

    def check(self, shape: torch.Size) -> str | None:
        """Why the delta cannot apply to a weight of ``shape``, or None."""
        ...


@dataclass(frozen=True, eq=False)
class WeightPatch:
    """``strength * delta`` added to one parameter of one module of a handle.

    Attributes:
        module: index of the module in the handle's modules (0 for a UNet; the encoder index for CLIP).
        key: the parameter's name in that module, e.g. ``down_blocks.0.attentions.0.proj_in.weight``.
        delta: the difference (see :class:`Delta`).
        strength: its multiplier.
        source: where it came from (a LoRA file name and its key), for messages.
    """

    module: int
    key: str
    delta: Delta
    strength: float
    source: str = ""


class PatchError(ValueError):
    """A patch does not fit the modules of the handle it is added to."""


def _same(a: Sequence[WeightPatch], b: Sequence[WeightPatch]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


class PatchState:
    """The modules of one loaded model and the patch set they currently carry (see the module docstring).

    Args:
        modules: the modules patches refer to by index.
    """

    def __init__(self, modules: Sequence[torch.nn.Module]) -> None:
        self.modules = tuple(modules)
        self._lock = threading.RLock()
        self._applied: tuple[WeightPatch, ...] = ()
        self._backups: dict[tuple[int, str], torch.Tensor] = {}
        self._users = 0
        #: how many times a non-empty patch set was applied (diagnostics and tests).
        self.applications = 0

    @property
    def applied(self) -> tuple[WeightPatch, ...]:
        """The patch set the modules carry now."""
        return self._applied

    def check(self, patches: Sequence[WeightPatch]) -> None:
        """Raise :class:`PatchError` naming every patch that does not fit these modules."""
        problems = []
        for patch in patches:
            where = f"{patch.source or 'patch'} -> module {patch.module} {patch.key!r}"
            if not 0 <= patch.module < len(self.modules):
                problems.append(f"{where}: no module {patch.module} (the handle has {len(self.modules)})")
                continue
            try:
                param = self.modules[patch.module].get_parameter(patch.key)
            except AttributeError:
                problems.append(f"{where}: no such parameter")
                continue
            why = patch.delta.check(param.shape)
            if why:
                problems.append(f"{where}: {why}")
        if problems:
            raise PatchError(f"{len(problems)} patch(es) do not fit the model:\n  " + "\n  ".join(problems))

    @contextmanager
    def use(self, patches: Sequence[WeightPatch]) -> Iterator[tuple[torch.nn.Module, ...]]:
        """Make the modules carry ``patches`` for the block; yields the modules.

        Raises:
            RuntimeError: another patch set is in use in an enclosing block of this thread.
        """
        with self._lock:
            if self._users and not _same(self._applied, patches):
                raise RuntimeError(
                    "these weights are in use with another patch set; finish that `use()` block before "
                    "using a differently patched clone"
                )
            self._switch(tuple(patches))
            self._users += 1
            try:
                yield self.modules
            finally:
                self._users -= 1

    def restore(self) -> None:
        """Remove any applied patches now (the base weights come back bit for bit).

        Raises:
            RuntimeError: called inside a ``use()`` block.
        """
        with self._lock:
            if self._users:
                raise RuntimeError("restore() inside a use() block; call it after the block")
            self._switch(())

    # ----------------------------------------------------------------------------------------------

    def _switch(self, patches: tuple[WeightPatch, ...]) -> None:
        if _same(self._applied, patches):
            return
        self._unpatch()
        if patches:
            try:
                self._patch(patches)
            except BaseException:
                self._unpatch()
                raise
            self.applications += 1
        self._applied = patches

    def _patch(self, patches: tuple[WeightPatch, ...]) -> None:
        import torch

        grouped: dict[tuple[int, str], list[WeightPatch]] = {}
        for patch in patches:
            grouped.setdefault((patch.module, patch.key), []).append(patch)
        with torch.no_grad():
            for (index, key), group in grouped.items():
                param = self.modules[index].get_parameter(key)
                original = param.data
                backup = original if original.device.type == "cpu" else original.to("cpu", copy=True)
                self._backups[(index, key)] = backup
                weight = original.to(torch.float32, copy=True)
                for patch in group:
                    weight += patch.delta.compute(original.shape, original.device, patch.strength)
                param.data = weight.to(original.dtype)

    def _unpatch(self) -> None:
        for (index, key), backup in self._backups.items():
            param = self.modules[index].get_parameter(key)
            param.data = backup if backup.device == param.device else backup.to(param.device)
        self._backups.clear()
        self._applied = ()
