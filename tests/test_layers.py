"""Imports only go down: each module of BatChat imports only modules of a lower layer.

The layers are the ones drawn in ``batchat/__init__.py`` (and ``docs/arquitetura.md``);
a module that reached up, or two that imported each other, would fail here.
"""

from __future__ import annotations

import ast
import unittest

from tests.support import ROOT

# Lowest first. A module may import any module of an earlier layer, never of its own or a later one.
LAYERS: list[set[str]] = [
    {"protocol", "batchat.version_check"},
    {"batchat.prices"},
    {"batchat.system", "batchat.ending", "batchat.framing", "batchat.tls_endpoint", "batchat.cli",
     "batchat.presence", "batchat.limits", "batchat.flow", "batchat.render"},
    {"batchat.storage", "batchat.connection", "batchat.typed", "batchat.link"},
    {"batchat.accounts", "batchat.mailbox", "batchat.registry", "batchat.tls", "batchat.screen",
     "batchat.client_state"},
    {"batchat.delivery", "batchat.client"},
    {"batchat.session", "batchat.client_main"},
    {"batchat.reader"},
    {"batchat.server"},
    {"servidor", "cliente"},
]


def module_path(name: str) -> str:
    return name.replace(".", "/") + ".py"


def own_imports(name: str) -> set[str]:
    """The BatChat modules ``name`` imports (``from batchat import x`` counts as ``batchat.x``)."""
    tree = ast.parse((ROOT / module_path(name)).read_text("utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "batchat":
                found |= {f"batchat.{alias.name}" for alias in node.names}
    everything = set().union(*LAYERS)
    return {module for module in found if module in everything}


class LayerTest(unittest.TestCase):
    def test_every_module_has_a_layer(self) -> None:
        on_disk = {f"batchat.{path.stem}" for path in (ROOT / "batchat").glob("*.py") if path.stem != "__init__"}
        self.assertEqual(on_disk - set().union(*LAYERS), set())

    def test_imports_only_go_down(self) -> None:
        below: set[str] = set()
        for layer in LAYERS:
            for name in sorted(layer):
                with self.subTest(module=name):
                    self.assertLessEqual(own_imports(name), below, "imports a module of its layer or above")
            below |= layer
