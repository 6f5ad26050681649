"""UI-format (editor) workflows converted to the API format: every rule of comfyui-reference 3.3."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from graph.errors import ErrorCode, WorkflowFormatError
from graph.spec import InputSpec
from graph.ui_format import convert_ui, declared_models, is_ui_workflow
from graph.ui_widgets import layouts
from nodes.registry import NodeRegistry
from tests.graph.spec_helpers import DictRegistry, make_spec
from tests.workflows.ui_docs import TXT2IMG_API, UiGraph, txt2img_graph


def test_schema_04_positional_widgets_skip_control_after_generate(registry: NodeRegistry) -> None:
    doc = txt2img_graph().doc(0.4)
    api = convert_ui(doc, registry)
    assert api == TXT2IMG_API
    assert list(api["3"]) == ["inputs", "class_type", "_meta"]  # the editor's key order
    assert is_ui_workflow(doc) and not is_ui_workflow(api)


def test_schema_1_object_links_convert_the_same(registry: NodeRegistry) -> None:
    doc = txt2img_graph().doc(1)
    assert isinstance(doc["links"][0], dict) and doc["version"] == 1
    assert convert_ui(doc, registry) == TXT2IMG_API


def test_literal_comfyui_save_round_trips_through_json(registry: NodeRegistry) -> None:
    text = json.dumps(txt2img_graph().doc(0.4), indent=1)  # as a file on disk: ids are ints, links arrays
    assert convert_ui(json.loads(text), registry)["3"]["inputs"]["seed"] == 42


def test_connected_widget_input_overrides_the_widget_value(registry: NodeRegistry) -> None:
    g = txt2img_graph(seed_widget=True)
    g.node(20, "PrimitiveInt", [1234, "fixed"], outputs=["INT"])
    g.link(20, 0, 3, 4)
    api = convert_ui(g.doc(), registry)
    assert api["3"]["inputs"]["seed"] == ["20", 0]
    assert api["20"]["inputs"] == {"value": 1234}  # PrimitiveInt's own control widget is skipped too


def test_primitive_node_pushes_its_value_into_targets(registry: NodeRegistry) -> None:
    g = txt2img_graph(seed_widget=True)
    g.node(21, "PrimitiveNode", [777, "increment"], outputs=["INT"])  # the editor's virtual primitive
    g.link(21, 0, 3, 4)
    api = convert_ui(g.doc(), registry)
    assert api["3"]["inputs"]["seed"] == 777
    assert "21" not in api


def test_unconnected_widget_socket_keeps_the_widget_value(registry: NodeRegistry) -> None:
    api = convert_ui(txt2img_graph(seed_widget=True).doc(), registry)
    assert api["3"]["inputs"]["seed"] == 42


def test_reroutes_and_notes_are_removed(registry: NodeRegistry) -> None:
    g = txt2img_graph()
    g.node(30, "Reroute", inputs=[("", "*")], outputs=["CLIP"])
    g.node(31, "Reroute", inputs=[("", "*")], outputs=["CLIP"])
    g.node(32, "Note", ["remember the milk"])
    g.node(33, "MarkdownNote", ["# Title"])
    g.link(4, 1, 30, 0)
    g.link(30, 0, 31, 0)
    g.link(31, 0, 7, 0)  # the negative prompt's clip now comes through two reroutes
    api = convert_ui(g.doc(), registry)
    assert api["7"]["inputs"]["clip"] == ["4", 1]
    assert not {"30", "31", "32", "33"} & set(api)


def _image_chain(mode: int) -> UiGraph:
    g = UiGraph()
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=["IMAGE"])
    g.node(2, "ImageInvert", inputs=[("image", "IMAGE")], outputs=["IMAGE"], mode=mode)
    g.node(3, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    g.link(1, 0, 2, 0)
    g.link(2, 0, 3, 0)
    return g


def test_muted_nodes_are_dropped_with_the_inputs_that_read_them(registry: NodeRegistry) -> None:
    api = convert_ui(_image_chain(mode=2).doc(), registry)
    assert set(api) == {"1", "3"}
    assert api["3"]["inputs"] == {"filename_prefix": "x"}


def test_bypassed_nodes_are_wired_through(registry: NodeRegistry) -> None:
    api = convert_ui(_image_chain(mode=4).doc(), registry)
    assert set(api) == {"1", "3"}
    assert api["3"]["inputs"]["images"] == ["1", 0]


def test_bypass_matches_by_type_preferring_the_same_slot(registry: NodeRegistry) -> None:
    g = txt2img_graph()
    g.node(10, "LoraLoader", ["style.safetensors", 1.0, 1.0], inputs=[("model", "MODEL"), ("clip", "CLIP")],
           outputs=["MODEL", "CLIP"], mode=4)
    g.node(11, "VAEEncode", inputs=[("pixels", "IMAGE"), ("vae", "VAE")], outputs=["LATENT"], mode=4)
    g.link(4, 0, 10, 0)
    g.link(4, 1, 10, 1)
    g.link(10, 0, 3, 0)  # model through the bypassed LoRA
    g.link(10, 1, 6, 0)  # clip through it: output 1 (CLIP) takes input 1 (CLIP), not input 0
    g.link(4, 2, 11, 1)
    g.link(11, 0, 3, 3)  # a LATENT through a node without a LATENT input: dropped
    api = convert_ui(g.doc(), registry)
    assert api["3"]["inputs"]["model"] == ["4", 0]
    assert api["6"]["inputs"]["clip"] == ["4", 1]
    assert "latent_image" not in api["3"]["inputs"]
    assert not {"10", "11"} & set(api)


def test_widgets_values_must_fit_the_spec(registry: NodeRegistry) -> None:
    g = txt2img_graph()
    g.find(3)["widgets_values"] = [42, "randomize", 12, 6.5, "euler"]  # an older node with fewer widgets
    g.find(5)["type"] = "EmptyLatentImag"
    g.node(40, "NoSuchNodeAnywhere", [1])
    with pytest.raises(WorkflowFormatError) as info:
        convert_ui(g.doc(), registry)
    errors = {e.node_id: e for e in info.value.errors}
    assert set(errors) == {"3", "5", "40"}
    widgets = errors["3"]
    assert widgets.code is ErrorCode.INVALID_WORKFLOW and widgets.pointer == "/nodes/4/widgets_values"
    assert "holds 5 value(s)" in widgets.message and "7 widget(s)" in widgets.message
    assert widgets.extra["expected_widgets"] == ["seed", "seed.control", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    unknown = errors["5"]
    assert unknown.code is ErrorCode.UNKNOWN_NODE_TYPE and unknown.pointer == "/nodes/3/type"
    assert "did you mean 'EmptyLatentImage'" in unknown.message
    assert "is the node pack that provides it installed" in errors["40"].message


def test_muted_unknown_nodes_are_not_errors(registry: NodeRegistry) -> None:
    g = _image_chain(mode=0)
    g.node(50, "SomeMissingPackNode", [1, 2], mode=2)
    assert set(convert_ui(g.doc(), registry)) == {"1", "2", "3"}


def test_missing_widgets_values_keep_the_defaults(registry: NodeRegistry) -> None:
    g = UiGraph()
    g.node(5, "EmptyLatentImage", outputs=["LATENT"])
    assert convert_ui(g.doc(), registry)["5"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}


def test_widgets_values_object_is_read_by_name(registry: NodeRegistry) -> None:
    g = UiGraph()
    g.node(5, "EmptyLatentImage", {"width": 128, "height": 96, "batch_size": 2, "unknown": 1}, outputs=["LATENT"])
    assert convert_ui(g.doc(), registry)["5"]["inputs"] == {"width": 128, "height": 96, "batch_size": 2}


def test_image_upload_widget_in_either_place(registry: NodeRegistry) -> None:
    g = UiGraph()
    g.node(1, "LoadImage", ["cat.png", "image"], outputs=["IMAGE", "MASK"])
    g.node(2, "LoadImageMask", ["cat.png", "red", "image"], outputs=["MASK"])  # appended after the required inputs
    g.node(3, "LoadImageMask", ["cat.png", "image", "green"], outputs=["MASK"])  # right after its input
    api = convert_ui(g.doc(), registry)
    assert api["1"]["inputs"] == {"image": "cat.png"}
    assert api["2"]["inputs"] == {"image": "cat.png", "channel": "red"}
    assert api["3"]["inputs"] == {"image": "cat.png", "channel": "green"}


def test_older_editors_seed_controls_without_the_flag() -> None:
    seed = InputSpec("seed", "INT", default=0)
    spec = make_spec("OldSampler", [seed, InputSpec("steps", "INT", default=20)], ["LATENT"])
    assert [[s.name for s in layout] for layout in layouts(spec)] == [["seed", "seed.control", "steps"], ["seed", "steps"]]
    registry = DictRegistry(spec)
    for values in ([5, "fixed", 3], [5, 3]):
        g = UiGraph()
        g.node(1, "OldSampler", values, outputs=["LATENT"])
        assert convert_ui(g.doc(), registry)["1"]["inputs"] == {"seed": 5, "steps": 3}


def test_list_widget_values_are_wrapped() -> None:
    spec = make_spec("Tags", [InputSpec("tags", "COMBO", choices=lambda: [["a", "b"]])])
    g = UiGraph()
    g.node(1, "Tags", [["a", "b"]])
    assert convert_ui(g.doc(), DictRegistry(spec))["1"]["inputs"] == {"tags": {"__value__": ["a", "b"]}}


# -- group nodes ----------------------------------------------------------------------------------------


def _group_doc() -> dict[str, Any]:
    """A legacy group node "Sampling" (EmptyLatentImage -> KSampler inside) used by a txt2img graph."""
    g = UiGraph()
    g.node(4, "CheckpointLoaderSimple", ["tiny.safetensors"], outputs=["MODEL", "CLIP", "VAE"])
    g.node(6, "CLIPTextEncode", ["a cat"], inputs=[("clip", "CLIP")], outputs=["CONDITIONING"])
    g.node(7, "CLIPTextEncode", [""], inputs=[("clip", "CLIP")], outputs=["CONDITIONING"])
    g.node(12, "workflow>Sampling", [96, 64, 1, 5, "fixed", 4, 3.0, "euler", "normal", 1.0],
           inputs=[("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], outputs=["LATENT"])
    g.node(8, "VAEDecode", inputs=[("samples", "LATENT"), ("vae", "VAE")], outputs=["IMAGE"])
    g.node(9, "SaveImage", ["grouped"], inputs=[("images", "IMAGE")])
    for origin, slot, target, tslot in ((4, 1, 6, 0), (4, 1, 7, 0), (4, 0, 12, 0), (6, 0, 12, 1), (7, 0, 12, 2),
                                         (12, 0, 8, 0), (4, 2, 8, 1), (8, 0, 9, 0)):
        g.link(origin, slot, target, tslot)
    definition = {
        "nodes": [
            {"type": "EmptyLatentImage", "pos": [0, 0], "size": [1, 1], "flags": {}, "order": 0, "mode": 0, "index": 0,
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [], "slot_index": 0}],
             "properties": {}, "widgets_values": [512, 512, 1]},
            {"type": "KSampler", "pos": [0, 0], "size": [1, 1], "flags": {}, "order": 1, "mode": 0, "index": 1,
             "inputs": [{"name": "model", "type": "MODEL", "link": None}, {"name": "positive", "type": "CONDITIONING", "link": None},
                        {"name": "negative", "type": "CONDITIONING", "link": None}, {"name": "latent_image", "type": "LATENT", "link": None}],
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [], "slot_index": 0}],
             "properties": {}, "widgets_values": [0, "randomize", 20, 8, "euler", "normal", 1]},
        ],
        "links": [[0, 0, 1, 3, 5, "LATENT"]],
        "external": [],
    }
    doc = g.doc(0.4)
    doc["extra"]["groupNodes"] = {"Sampling": definition}
    return doc


def test_group_nodes_expand_with_colon_ids(registry: NodeRegistry) -> None:
    api = convert_ui(_group_doc(), registry)
    assert "12" not in api
    assert api["12:0"] == {"inputs": {"width": 96, "height": 64, "batch_size": 1}, "class_type": "EmptyLatentImage",
                           "_meta": {"title": "Empty Latent Image"}}
    sampler = api["12:1"]["inputs"]
    assert sampler == {"seed": 5, "steps": 4, "cfg": 3.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                       "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["12:0", 0]}
    assert api["8"]["inputs"]["samples"] == ["12:1", 0]


def test_group_node_with_too_many_values_is_an_error(registry: NodeRegistry) -> None:
    doc = _group_doc()
    doc["nodes"][3]["widgets_values"].append(99)
    with pytest.raises(WorkflowFormatError) as info:
        convert_ui(doc, registry)
    assert info.value.errors[0].pointer == "/nodes/3/widgets_values"


# -- subgraphs ------------------------------------------------------------------------------------------

ENCODER = "11111111-1111-4111-8111-111111111111"
PAIR = "22222222-2222-4222-8222-222222222222"


def _subgraph_doc() -> dict[str, Any]:
    """Schema 1: instance 12 of subgraph PAIR (two prompts), which holds instance 7 of subgraph ENCODER."""
    encoder = {
        "id": ENCODER, "version": 1, "name": "Encode", "state": {}, "revision": 0, "config": {},
        "inputNode": {"id": -10, "bounding": [0, 0, 1, 1]}, "outputNode": {"id": -20, "bounding": [0, 0, 1, 1]},
        "inputs": [{"id": "a", "name": "clip", "type": "CLIP", "linkIds": [1]},
                   {"id": "b", "name": "text", "type": "STRING", "linkIds": [2]}],
        "outputs": [{"id": "c", "name": "CONDITIONING", "type": "CONDITIONING", "linkIds": [3]}],
        "widgets": [],
        "nodes": [{"id": 3, "type": "CLIPTextEncode", "mode": 0, "order": 0,
                   "inputs": [{"name": "clip", "type": "CLIP", "link": 1},
                              {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 2}],
                   "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3]}],
                   "widgets_values": ["inner default"]}],
        "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "CLIP"},
                  {"id": 2, "origin_id": -10, "origin_slot": 1, "target_id": 3, "target_slot": 1, "type": "STRING"},
                  {"id": 3, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "CONDITIONING"}],
    }
    pair = {
        "id": PAIR, "version": 1, "name": "Prompts", "state": {}, "revision": 0, "config": {},
        "inputNode": {"id": -10, "bounding": [0, 0, 1, 1]}, "outputNode": {"id": -20, "bounding": [0, 0, 1, 1]},
        "inputs": [{"id": "d", "name": "clip", "type": "CLIP", "linkIds": [1, 2]},
                   {"id": "e", "name": "text", "type": "STRING", "linkIds": [5]}],
        "outputs": [{"id": "f", "name": "positive", "type": "CONDITIONING", "linkIds": [3]},
                    {"id": "g", "name": "negative", "type": "CONDITIONING", "linkIds": [4]}],
        "widgets": [],
        "nodes": [
            {"id": 5, "type": "CLIPTextEncode", "mode": 0, "order": 0, "title": "Positive",
             "inputs": [{"name": "clip", "type": "CLIP", "link": 1},
                        {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": 5}],
             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [3]}], "widgets_values": ["unused"]},
            {"id": 7, "type": ENCODER, "mode": 0, "order": 1,
             "inputs": [{"name": "clip", "type": "CLIP", "link": 2},
                        {"name": "text", "type": "STRING", "widget": {"name": "text"}, "link": None}],
             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4]}], "widgets_values": ["ugly, blurry"]},
            {"id": 8, "type": "Note", "mode": 0, "order": 2, "widgets_values": ["inner note"]},
        ],
        "links": [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 5, "target_slot": 0, "type": "CLIP"},
                  {"id": 2, "origin_id": -10, "origin_slot": 0, "target_id": 7, "target_slot": 0, "type": "CLIP"},
                  {"id": 5, "origin_id": -10, "origin_slot": 1, "target_id": 5, "target_slot": 1, "type": "STRING"},
                  {"id": 3, "origin_id": 5, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "CONDITIONING"},
                  {"id": 4, "origin_id": 7, "origin_slot": 0, "target_id": -20, "target_slot": 1, "type": "CONDITIONING"}],
    }
    g = txt2img_graph()
    g.nodes = [n for n in g.nodes if n["id"] not in (6, 7)]
    g.links = [ln for ln in g.links if ln[1] not in (6, 7) and ln[3] not in (6, 7)]
    for node in g.nodes:
        for entry in node["outputs"]:
            entry["links"] = []
        for entry in node.get("inputs", []):
            entry["link"] = None
    links = list(g.links)
    g.links = []
    for _, origin, oslot, target, tslot, _kind in links:
        g.link(origin, oslot, target, tslot)
    g.node(12, PAIR, ["a red star"], inputs=[("clip", "CLIP"), ("text", "STRING", "text")],
           outputs=["CONDITIONING", "CONDITIONING"], title="Prompts")
    g.link(4, 1, 12, 0)
    g.link(12, 0, 3, 1)
    g.link(12, 1, 3, 2)
    return g.doc(1, definitions={"subgraphs": [pair, encoder]},
                 models=[{"name": "tiny.safetensors", "directory": "checkpoints", "url": "https://example.invalid/t"}])


def test_subgraphs_expand_with_path_ids_and_promoted_widgets(registry: NodeRegistry) -> None:
    api = convert_ui(_subgraph_doc(), registry)
    assert "12" not in api and "12:7" not in api and "12:8" not in api
    assert api["12:5"] == {"inputs": {"text": "a red star", "clip": ["4", 1]}, "class_type": "CLIPTextEncode",
                           "_meta": {"title": "Positive"}}
    # nested: the inner instance 7 holds node 3, whose text comes from 7's promoted widget value
    assert api["12:7:3"]["inputs"] == {"text": "ugly, blurry", "clip": ["4", 1]}
    assert api["3"]["inputs"]["positive"] == ["12:5", 0]
    assert api["3"]["inputs"]["negative"] == ["12:7:3", 0]


def test_subgraph_proxy_widgets_set_inner_values(registry: NodeRegistry) -> None:
    doc = _subgraph_doc()
    instance = next(n for n in doc["nodes"] if n["id"] == 12)
    instance["properties"]["proxyWidgets"] = [["-1", "text"], ["7", "text"]]
    instance["widgets_values"] = ["a blue circle", "noisy"]
    api = convert_ui(doc, registry)
    assert api["12:5"]["inputs"]["text"] == "a blue circle"
    assert api["12:7:3"]["inputs"]["text"] == "noisy"  # 7 is an instance: the proxy sets its promoted widget


def test_subgraph_input_without_a_value_keeps_the_inner_widget(registry: NodeRegistry) -> None:
    doc = _subgraph_doc()
    del next(n for n in doc["nodes"] if n["id"] == 12)["widgets_values"]
    assert convert_ui(doc, registry)["12:5"]["inputs"]["text"] == "unused"


def test_subgraph_input_linked_outside_feeds_the_inner_node(registry: NodeRegistry) -> None:
    doc = _subgraph_doc()
    doc["nodes"].append({"id": 30, "type": "PrimitiveString", "mode": 0, "order": 99, "inputs": [],
                         "outputs": [{"name": "STRING", "type": "STRING", "links": [99]}], "widgets_values": ["from outside"]})
    instance = next(n for n in doc["nodes"] if n["id"] == 12)
    instance["inputs"][1]["link"] = 99
    doc["links"].append({"id": 99, "origin_id": 30, "origin_slot": 0, "target_id": 12, "target_slot": 1, "type": "STRING"})
    api = convert_ui(doc, registry)
    assert api["12:5"]["inputs"]["text"] == ["30", 0]


def test_unknown_types_inside_subgraphs_point_into_the_definition(registry: NodeRegistry) -> None:
    doc = _subgraph_doc()
    doc["definitions"]["subgraphs"][0]["nodes"][0]["type"] = "CLIPTextEncoder"
    with pytest.raises(WorkflowFormatError) as info:
        convert_ui(doc, registry)
    [error] = info.value.errors
    assert error.node_id == "12:5" and error.pointer == "/definitions/subgraphs/0/nodes/0/type"


def test_declared_models_from_the_document_and_nodes() -> None:
    doc = _subgraph_doc()
    doc["nodes"][0]["properties"]["models"] = [{"name": "x.safetensors", "directory": "loras"}]
    assert declared_models(doc) == [
        {"name": "tiny.safetensors", "directory": "checkpoints", "url": "https://example.invalid/t"},
        {"name": "x.safetensors", "directory": "loras"},
    ]


def test_conversion_never_changes_the_document(registry: NodeRegistry) -> None:
    for doc in (_group_doc(), _subgraph_doc(), txt2img_graph(seed_widget=True).doc(1)):
        before = copy.deepcopy(doc)
        convert_ui(doc, registry)
        assert doc == before


def test_a_subgraph_that_contains_itself_is_an_error(registry: NodeRegistry) -> None:
    loop = {"id": "loop", "nodes": [{"id": 1, "type": "loop", "mode": 0, "inputs": [],
                                     "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}]}],
            "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
            "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE"}]}
    g = UiGraph()
    g.node(5, "loop", outputs=["IMAGE"])
    g.node(6, "SaveImage", ["x"], inputs=[("images", "IMAGE")])
    g.link(5, 0, 6, 0)
    with pytest.raises(WorkflowFormatError, match="nest more than 32 levels"):
        convert_ui(g.doc(1, definitions={"subgraphs": [loop]}), registry)
