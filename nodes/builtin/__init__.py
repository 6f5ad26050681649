"""The built-in node packs.

:data:`BUILTIN_PACKS` lists them by module name. Nothing is imported here: :func:`nodes.registry.
load_builtin_packs` imports each listed module when a registry is built, so a pack that needs torch costs
its import only then (and such packs import torch inside their functions, not at module level). A pack
module exposes ``LATENTLOOM_NODES``, a list of ``@node`` functions.
"""

#: Built-in packs, in registration order. Their node names cannot be replaced by custom packs.
BUILTIN_PACKS: tuple[str, ...] = (
    "nodes.builtin.core",
    "nodes.builtin.image",
    "nodes.builtin.latent",
    "nodes.builtin.conditioning",
    "nodes.builtin.loaders",
    "nodes.builtin.vae",
    "nodes.builtin.sampling",
    "nodes.builtin.prior",
    "nodes.builtin.cascade",
    "nodes.builtin.clip_vision",
)
