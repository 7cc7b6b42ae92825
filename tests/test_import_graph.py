"""The project's import graph (tools/import_graph.py): no cycles, and the engine never reaches up into the app."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_graph.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_also_through_registry_references():
    tool = load_tool()
    edges, lazy = tool.graph()
    assert "manifoldmix_core.methods" in edges and lazy["manifoldmix_core.methods"]  # the registry's references are seen
    assert tool.cycles(edges) == []
    assert tool.cycles({m: edges[m] | lazy[m] for m in edges}) == []


def test_the_engine_imports_neither_the_app_nor_the_pages():
    edges, lazy = load_tool().graph()
    for module, targets in edges.items():
        if module.startswith("manifoldmix_core"):
            assert not [t for t in targets | lazy[module] if t == "app" or t.startswith(("app_lib", "views."))], module


def test_a_cycle_is_found():
    assert load_tool().cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
