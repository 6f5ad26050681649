"""Everything a node needs: the authoring APIs, the registry with plugin discovery, and the built-in packs.

- :mod:`nodes.api`: latentloom's native API; a node is a typed function whose signature is its spec.
- :mod:`nodes.comfy`: the adapter for ComfyUI's V1 class convention (``INPUT_TYPES``, ``RETURN_TYPES``...).
- :mod:`nodes.registry`: an explicit :class:`~nodes.registry.NodeRegistry` and discovery of custom node
  packs (``custom_nodes`` folders, ``latentloom.nodes`` entry points) with failures isolated per pack.
- :mod:`nodes.object_info`: a :class:`~graph.spec.NodeSpec` rendered as ComfyUI's ``/object_info`` entry.
- :mod:`nodes.builtin`: the built-in node packs, imported only when a registry loads them.

Importing this package, the APIs, the registry or the core pack never imports torch.
"""
