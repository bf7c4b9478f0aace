"""The Allure module is the plugin's one door to Allure: the other modules judge, write evidence and stash.

What each result shows is pinned by ``test_golden_allure.py``; this guards the shape that keeps it
in one place: no other module of the plugin imports Allure or calls the Allure module (the entry
point's ``configure`` only registers it).
"""

from __future__ import annotations

from tests.test_layers import PACKAGE, imports_in

ALLURE = {"allure", "allure_commons", "verification.plugin.allure_output"}


def test_only_the_allure_module_imports_allure() -> None:
    found = imports_in(PACKAGE)
    importers = {i.module for i in found if i.module.startswith("verification.plugin") and i.target in ALLURE}
    assert importers == {"verification.plugin.allure_output", "verification.plugin.configure"}


def test_the_entry_point_only_registers_the_listener() -> None:
    """``plugin/configure`` uses the Allure module for the results folder and to register its listener."""
    source = (PACKAGE / "plugin" / "configure.py").read_text()
    used = {part.split("(")[0] for part in source.split("allure_output.")[1:]}
    assert used == {"default_results_dir", "AllureWriter"}
