"""The code's layers: no import circle anywhere (lint-imports holds the order of the layers)."""

from __future__ import annotations

import grimp


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("app", "vocab")
    circles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if module < imported and graph.find_shortest_chain(importer=imported, imported=module)
    )
    assert circles == []
