"""The registry, pack discovery (custom_nodes folders, entry points, built-ins) and the load report."""

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.spec import NodeOutput, Registry
from nodes.api import node, spec_of
from nodes.builtin import BUILTIN_PACKS
from nodes.registry import (
    LoadReport,
    NodeRegistry,
    Override,
    Skipped,
    default_registry,
    load_builtin_packs,
    load_custom_nodes,
    load_entry_point_nodes,
)

ROOT = Path(__file__).resolve().parents[2]


@node("Thing")
def thing(x: int = 0) -> int:
    return x


@node("Thing")
def other_thing(x: int = 0) -> int:
    return -x


def test_registry_basics() -> None:
    registry = NodeRegistry()
    engine_view: Registry = registry  # the graph.spec.Registry protocol (checked by mypy)
    first = registry.register(thing, source="a")
    assert (first.status, first.previous) == ("added", None)
    assert "Thing" in registry and len(registry) == 1 and registry.names() == ["Thing"] and list(registry) == ["Thing"]
    assert engine_view.spec("Thing") is spec_of(thing) and registry.spec("Nope") is None
    assert registry.specs() == [spec_of(thing)] and registry.source_of("Thing") == "a"
    second = registry.register(spec_of(other_thing), source="b")
    assert (second.status, second.previous) == ("replaced", "a")
    assert registry.spec("Thing") is spec_of(other_thing)
    assert registry.object_info("Thing")["Thing"]["name"] == "Thing"
    assert registry.object_info("Nope") == {}
    assert list(registry.object_info()) == ["Thing"]
    with pytest.raises(TypeError, match="not a node"):
        registry.register(len)  # type: ignore[arg-type]


def test_builtin_names_are_protected() -> None:
    registry = NodeRegistry()
    registry.register(thing, source="core", builtin=True)
    refused = registry.register(other_thing, source="pack")
    assert (refused.status, refused.previous) == ("refused", "core")
    assert registry.spec("Thing") is spec_of(thing) and registry.is_builtin("Thing")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(other_thing, source="core2", builtin=True)


def test_registries_are_independent() -> None:
    a, b = NodeRegistry(), NodeRegistry()
    a.register(thing)
    assert "Thing" in a and "Thing" not in b


def test_default_registry_has_the_core_pack() -> None:
    registry, report = default_registry(entry_points=False)
    assert report.ok and not report.skipped and not report.warnings
    assert [p.name for p in report.packs] == list(BUILTIN_PACKS)
    assert report.packs[0].name == "nodes.builtin.core"
    for name in ["PrimitiveInt", "PrimitiveFloat", "PrimitiveString", "PrimitiveStringMultiline",
                 "PrimitiveBoolean", "IntAdd", "IntMath", "FloatMath", "IntCompare", "FloatCompare",
                 "StringConcatenate", "StringReplace", "StringLength", "StringSubstring", "StringContains",
                 "StringTrim", "StringFormat", "IntToFloat", "FloatToInt", "ToString", "Switch", "PreviewAny"]:
        assert registry.is_builtin(name), name
        assert registry.spec(name).python_module == "nodes"  # type: ignore[union-attr]
    assert sum((p.nodes for p in report.packs), ()) == tuple(registry.names())
    assert len(registry.object_info()) == len(registry)


def test_custom_nodes_discovery(custom_nodes_dir: Path) -> None:
    registry, report = default_registry([custom_nodes_dir], entry_points=False)
    loaded = {p.name: p for p in report.packs}
    assert set(loaded) == {*BUILTIN_PACKS, "comfy_pack", "half_pack", "native_pack", "override_pack"}
    assert loaded["comfy_pack"].nodes == ("ComfyMultiply", "ComfyRandomPick", "ComfyShowText")
    assert loaded["comfy_pack"].source == "custom_nodes" and loaded["comfy_pack"].seconds >= 0
    assert loaded["native_pack"].nodes == ("NativeDouble", "NativeGreet")
    assert loaded["override_pack"].nodes == ("NativeDouble",)  # IntAdd refused
    assert loaded["half_pack"].nodes == ("HalfGood",)

    # failure isolation: the broken pack is recorded, with its traceback
    [failure] = report.failures
    assert failure.name == "broken_pack" and failure.error == "RuntimeError: this pack is broken on purpose"
    assert "broken_pack.py" in failure.traceback and failure.path.endswith("broken_pack.py")
    assert not report.ok

    # disabled entries, folders without __init__.py and non-.py files are skipped, never imported
    skipped = {s.name: s for s in report.skipped}
    assert skipped["foo.py.disabled"] == Skipped("foo.py.disabled", None, "disabled")
    assert skipped["not_a_package"].reason == "a folder without __init__.py"
    assert "README" not in " ".join(skipped)
    assert skipped["HalfBroken"].pack == "half_pack" and "names no method" in skipped["HalfBroken"].reason

    # built-ins cannot be replaced; between custom packs the later one wins
    assert skipped["IntAdd"].pack == "override_pack"
    assert any("built-in node 'IntAdd' cannot be replaced" in w for w in report.warnings)
    assert registry.spec("IntAdd").create().run(a=2, b=1) == NodeOutput((3,))  # type: ignore[union-attr]
    assert report.overrides == [Override("NativeDouble", "native_pack", "override_pack")]
    assert registry.spec("NativeDouble").create().run(x=2) == NodeOutput((5,))  # type: ignore[union-attr]

    # python_module, display names and the web directory
    assert registry.spec("ComfyMultiply").python_module == "custom_nodes.comfy_pack"  # type: ignore[union-attr]
    assert registry.spec("NativeGreet").python_module == "custom_nodes.native_pack"  # type: ignore[union-attr]
    assert registry.object_info("ComfyMultiply")["ComfyMultiply"]["display_name"] == "Multiply (fixture)"
    web = custom_nodes_dir / "comfy_pack" / "web"
    assert loaded["comfy_pack"].web_directory == str(web.resolve())
    assert registry.web_directories() == {"comfy_pack": str(web.resolve())}


def test_fixture_v1_pack_behaves(custom_nodes_dir: Path) -> None:
    registry = NodeRegistry()
    load_custom_nodes(registry, [custom_nodes_dir])
    multiply = registry.spec("ComfyMultiply")
    assert multiply is not None and multiply.validate is not None
    assert multiply.validate(value=1, factor=13) == "factor 13 is unlucky"
    assert multiply.validate_args == frozenset({"factor"})
    assert multiply.create().run(value=3, factor=2) == NodeOutput((6,))
    assert multiply.create().run(value=3, factor=2, offset=1) == NodeOutput((7,))
    pick = registry.spec("ComfyRandomPick")
    assert pick is not None and pick.fingerprint is not None
    assert pick.fingerprint(choice="red", seed=1) != pick.fingerprint(choice="red", seed=1)  # NaN
    show = registry.spec("ComfyShowText")
    assert show is not None and show.is_output and [h.kind for h in show.hidden] == ["UNIQUE_ID", "PROMPT"]
    assert show.create().run(text="hi", unique_id="4", prompt={}) == NodeOutput(("hi",), ui={"text": ["hi"]})


def test_pack_modules_get_unique_names_and_relative_imports_work(custom_nodes_dir: Path) -> None:
    load_custom_nodes(NodeRegistry(), [custom_nodes_dir])
    names = [n for n in sys.modules if n.startswith("latentloom_pack_comfy_pack_")]
    assert len(names) == 2 and any(n.endswith(".nodes") for n in names)  # the package and its submodule
    assert not [n for n in sys.modules if n.startswith("latentloom_pack_broken_pack_")]  # cleaned up


def test_missing_custom_nodes_folder_is_reported(tmp_path: Path) -> None:
    report = load_custom_nodes(NodeRegistry(), [tmp_path / "nope"])
    assert report.skipped == [Skipped(str(tmp_path / "nope"), None, "not a folder")]


def test_a_module_without_nodes_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "empty_pack.py").write_text("X = 1\n")
    report = load_custom_nodes(NodeRegistry(), [tmp_path])
    assert report.packs == [] and report.skipped[0].name == "empty_pack"
    assert "neither NODE_CLASS_MAPPINGS nor LATENTLOOM_NODES" in report.warnings[0]


def test_odd_packs_are_isolated(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit('no thanks')\n")
    (tmp_path / "not_a_list.py").write_text("LATENTLOOM_NODES = 5\n")
    (tmp_path / "both.py").write_text(textwrap.dedent(
        """\
        from nodes.api import node

        class V1:
            @classmethod
            def INPUT_TYPES(cls):
                return {"required": {}}
            RETURN_TYPES = ("INT",)
            FUNCTION = "f"
            def f(self):
                return (1,)

        @node("BothNative")
        def native() -> int:
            return 2

        def plain():
            return 3

        NODE_CLASS_MAPPINGS = {"BothV1": V1}
        LATENTLOOM_NODES = [native, plain]
        """
    ))
    registry = NodeRegistry()
    report = load_custom_nodes(registry, [tmp_path])
    assert [f.name for f in report.failures] == ["exits"] and "SystemExit: no thanks" in report.failures[0].error
    assert {p.name: p.nodes for p in report.packs} == {"both": ("BothV1", "BothNative"), "not_a_list": ()}
    reasons = {s.name: s.reason for s in report.skipped}
    assert "must be a list of @node functions" in reasons["LATENTLOOM_NODES"]
    assert "not a node" in reasons["plain"]


def test_builtin_pack_import_failure_is_recorded() -> None:
    report = load_builtin_packs(NodeRegistry(), ["nodes.builtin.does_not_exist"])
    assert report.failures[0].name == "nodes.builtin.does_not_exist"
    assert report.failures[0].source == "builtin" and "ModuleNotFoundError" in report.failures[0].error


def test_report_summary_is_readable(custom_nodes_dir: Path) -> None:
    _, report = default_registry([custom_nodes_dir], entry_points=False)
    text = report.summary()
    assert text.startswith("Import times for node packs:")
    assert "(IMPORT FAILED): broken_pack" in text and "comfy_pack (custom_nodes, 3 nodes)" in text
    assert "Skipped foo.py.disabled: disabled" in text
    assert "Override: NativeDouble from native_pack replaced by override_pack" in text
    merged = LoadReport()
    merged.extend(report)
    assert merged.summary() == text


# ---------------------------------------------------------------------------------------------------
# Entry points, through a real (fake) installed distribution on sys.path

EP_MODULES = ("ll_fake_ep_nodes", "ll_fake_ep_broken")


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    dist = tmp_path / "ll_fake_pack-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ll-fake-pack\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [latentloom.nodes]
            fake_module = ll_fake_ep_nodes
            fake_factory = ll_fake_ep_nodes:make_nodes
            fake_comfy = ll_fake_ep_nodes:make_mappings
            fake_broken = ll_fake_ep_broken

            [some.other.group]
            ignored = ll_fake_ep_broken
            """
        )
    )
    (tmp_path / "ll_fake_ep_nodes.py").write_text(
        textwrap.dedent(
            """\
            from nodes.api import node

            @node("EpTriple")
            def triple(x: int = 0) -> int:
                return 3 * x

            @node("EpFactory")
            def factory(x: int = 0) -> int:
                return x

            class EpComfy:
                @classmethod
                def INPUT_TYPES(cls):
                    return {"required": {}}
                RETURN_TYPES = ("INT",)
                FUNCTION = "f"
                def f(self):
                    return (1,)

            LATENTLOOM_NODES = [triple]

            def make_nodes():
                return [factory]

            def make_mappings():
                return {"EpComfy": EpComfy}
            """
        )
    )
    (tmp_path / "ll_fake_ep_broken.py").write_text("raise ImportError('missing dependency')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in EP_MODULES:
        sys.modules.pop(name, None)


def test_entry_point_loading(fake_distribution: Path) -> None:
    registry = NodeRegistry()
    report = load_entry_point_nodes(registry)
    loaded = {p.name: p for p in report.packs}
    assert loaded["fake_module"].nodes == ("EpTriple",) and loaded["fake_module"].source == "entry_point"
    assert loaded["fake_factory"].nodes == ("EpFactory",)
    assert loaded["fake_comfy"].nodes == ("EpComfy",)
    assert registry.spec("EpTriple").create().run(x=2) == NodeOutput((6,))  # type: ignore[union-attr]
    assert registry.spec("EpTriple").python_module == "ll_fake_ep_nodes"  # type: ignore[union-attr]
    assert registry.spec("EpComfy").create().run() == NodeOutput((1,))  # type: ignore[union-attr]
    [failure] = report.failures
    assert failure.name == "fake_broken" and failure.error == "ImportError: missing dependency"
    assert "ignored" not in loaded


def test_default_registry_loads_entry_points_after_builtins(fake_distribution: Path) -> None:
    registry, report = default_registry()
    assert [p.name for p in report.packs][0] == "nodes.builtin.core"
    assert "EpTriple" in registry and "IntAdd" in registry


# ---------------------------------------------------------------------------------------------------
# Import cost


def test_importing_the_apis_and_building_the_default_registry_does_not_import_torch() -> None:
    code = textwrap.dedent(
        """\
        import sys
        import nodes.api, nodes.comfy, nodes.object_info, nodes.registry
        from nodes.registry import default_registry
        registry, report = default_registry()
        assert report.ok, report.summary()
        assert "IntAdd" in registry
        registry.object_info()
        heavy = [m for m in ("torch", "diffusers", "transformers", "numpy", "PIL") if m in sys.modules]
        print(heavy)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
