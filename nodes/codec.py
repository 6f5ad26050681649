"""Serialising node outputs for the persistent cache: JSON-like values plus tensors and arrays.

Extends :class:`graph.cache.MsgpackCodec` (which handles numbers, strings, lists and dicts) with msgpack
extension types for torch tensors (extension 1) and NumPy arrays (extension 2): dtype, shape and the raw
little-endian bytes. Tuples become lists. Anything else (a loaded model, a tokenizer) makes ``encode`` return
None and the entry stays in memory only. torch is imported only when a tensor is met.
"""

from __future__ import annotations

from typing import Any

import msgpack

from graph.cache import MsgpackCodec

_TORCH, _NUMPY = 1, 2


class TensorCodec(MsgpackCodec):
    """Msgpack with tensors and arrays."""

    def default(self, value: Any) -> Any:
        kind = type(value)
        module = kind.__module__
        if module.startswith("torch") and kind.__name__ in ("Tensor", "Parameter"):
            return self._pack_tensor(value)
        if module == "numpy" and kind.__name__ == "ndarray":
            header = msgpack.packb([value.dtype.str, list(value.shape)])
            return msgpack.ExtType(_NUMPY, header + value.tobytes(order="C"))
        if isinstance(value, tuple):
            return list(value)
        return super().default(value)

    def _pack_tensor(self, tensor: Any) -> msgpack.ExtType:
        import torch

        t = tensor.detach().to("cpu").contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header = msgpack.packb([dtype, list(t.shape)])
        return msgpack.ExtType(_TORCH, header + raw)

    def ext_hook(self, code: int, data: bytes) -> Any:
        unpacker = msgpack.Unpacker()
        unpacker.feed(data)
        dtype, shape = next(unpacker)
        payload = data[unpacker.tell():]
        if code == _NUMPY:
            import numpy as np

            return np.frombuffer(payload, dtype=np.dtype(dtype)).reshape(shape).copy()
        if code == _TORCH:
            import torch

            torch_dtype = getattr(torch, dtype)
            if not payload:
                return torch.empty(shape, dtype=torch_dtype)
            flat = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
            return flat.view(torch_dtype).reshape(shape)
        return super().ext_hook(code, data)
