"""UI-format documents for tests, written the way the editor serialises them (schema 0.4 or 1)."""

from __future__ import annotations

import copy
from typing import Any


class UiGraph:
    """Nodes and links of one graph level; ``doc()`` gives the saved document.

    ``node(id, type, widgets, inputs=[(name, type) or (name, type, widget_name)], outputs=[type, ...])``
    adds a node; ``link(origin, slot, target, slot)`` connects them (filling both ends, as the editor does).
    """

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []

    def node(self, node_id: int | str, kind: str, widgets: Any = None, inputs: Any = (), outputs: Any = (),
             mode: int = 0, title: str | None = None, **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": node_id, "type": kind, "pos": [10.0 * len(self.nodes), 0.0], "size": [200.0, 100.0], "flags": {},
            "order": len(self.nodes), "mode": mode,
            "inputs": [self._input(i) for i in inputs],
            "outputs": [{"name": t, "type": t, "links": [], "slot_index": s} for s, t in enumerate(outputs)],
            "properties": {"Node name for S&R": kind},
        }
        if widgets is not None:
            entry["widgets_values"] = widgets
        if title is not None:
            entry["title"] = title
        entry.update(extra)
        self.nodes.append(entry)
        return entry

    @staticmethod
    def _input(spec: Any) -> dict[str, Any]:
        name, kind, *widget = spec
        entry: dict[str, Any] = {"name": name, "type": kind, "link": None}
        if widget:
            entry["widget"] = {"name": widget[0]}
        return entry

    def find(self, node_id: int | str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin: int | str, origin_slot: int, target: int | str, target_slot: int, kind: str | None = None) -> int:
        link_id = len(self.links) + 1
        source, sink = self.find(origin), self.find(target)
        if origin not in (-10,) and origin_slot < len(source["outputs"]):
            source["outputs"][origin_slot]["links"].append(link_id)
        sink["inputs"][target_slot]["link"] = link_id
        kind = kind or sink["inputs"][target_slot]["type"]
        self.links.append([link_id, origin, origin_slot, target, target_slot, kind])
        return link_id

    def doc(self, version: float = 0.4, **top: Any) -> dict[str, Any]:
        nodes = copy.deepcopy(self.nodes)
        if version == 1:
            links: list[Any] = [{"id": i, "origin_id": o, "origin_slot": os, "target_id": t, "target_slot": ts, "type": k}
                                for i, o, os, t, ts, k in self.links]
            return {"id": "00000000-0000-4000-8000-000000000001", "revision": 0, "version": 1,
                    "state": {"lastGroupId": 0, "lastNodeId": len(nodes), "lastLinkId": len(links), "lastRerouteId": 0},
                    "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
                    **top}
        return {"last_node_id": len(nodes), "last_link_id": len(self.links), "nodes": nodes,
                "links": copy.deepcopy(self.links), "groups": [], "config": {},
                "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.28.0"}, "version": 0.4, **top}


def txt2img_graph(seed_widget: bool = False) -> UiGraph:
    """ComfyUI's default txt2img graph (ids 3..9); ``seed_widget`` adds the seed socket of newer editors."""
    g = UiGraph()
    g.node(4, "CheckpointLoaderSimple", ["tiny.safetensors"], outputs=["MODEL", "CLIP", "VAE"], title="Checkpoint")
    g.node(6, "CLIPTextEncode", ["a red star"], inputs=[("clip", "CLIP")], outputs=["CONDITIONING"], title="Prompt")
    g.node(7, "CLIPTextEncode", ["blurry"], inputs=[("clip", "CLIP")], outputs=["CONDITIONING"])
    g.node(5, "EmptyLatentImage", [64, 48, 1], outputs=["LATENT"])
    sampler_inputs: list[Any] = [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                                 ("latent_image", "LATENT")]
    if seed_widget:
        sampler_inputs.append(("seed", "INT", "seed"))
    g.node(3, "KSampler", [42, "randomize", 12, 6.5, "euler", "karras", 0.9], inputs=sampler_inputs, outputs=["LATENT"])
    g.node(8, "VAEDecode", inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=["IMAGE"])
    g.node(9, "SaveImage", ["ComfyUI"], inputs=[("images", "IMAGE")])
    g.link(4, 0, 3, 0)
    g.link(6, 0, 3, 1)
    g.link(7, 0, 3, 2)
    g.link(5, 0, 3, 3)
    g.link(4, 1, 6, 0)
    g.link(4, 1, 7, 0)
    g.link(3, 0, 8, 0)
    g.link(4, 2, 8, 1)
    g.link(8, 0, 9, 0)
    return g


#: The API form of :func:`txt2img_graph`, as the editor would queue it.
TXT2IMG_API: dict[str, Any] = {
    "4": {"inputs": {"ckpt_name": "tiny.safetensors"}, "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Checkpoint"}},
    "6": {"inputs": {"text": "a red star", "clip": ["4", 1]}, "class_type": "CLIPTextEncode", "_meta": {"title": "Prompt"}},
    "7": {"inputs": {"text": "blurry", "clip": ["4", 1]}, "class_type": "CLIPTextEncode",
          "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "5": {"inputs": {"width": 64, "height": 48, "batch_size": 1}, "class_type": "EmptyLatentImage",
          "_meta": {"title": "Empty Latent Image"}},
    "3": {"inputs": {"seed": 42, "steps": 12, "cfg": 6.5, "sampler_name": "euler", "scheduler": "karras", "denoise": 0.9,
                     "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]},
          "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode", "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage", "_meta": {"title": "Save Image"}},
}
