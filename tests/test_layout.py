"""The package's layout: imports run only downwards, the core never imports Streamlit, and
the pages never lean on the CLI (read from every import statement, function-level ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lower layers first. A module may import its own layer and the layers before it.
LAYERS = ("base", "data", "runs", "quality", "train", "explore", "front")
BASE = {"dcgan", "dcgan.config", "dcgan.errors", "dcgan.parallel", "dcgan.system",
        "dcgan.workspace"}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("data", "runs", "quality", "train", "explore"):
        return parts[1]
    return "front"  # dcgan.cli, dcgan.__main__, dcgan.testing


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at any depth of its code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if node.module in ("dcgan", "dcgan.data", "dcgan.runs", "dcgan.train",
                                         "dcgan.explore", "dcgan.quality")]
    return found


CORE = sorted((ROOT / "dcgan").rglob("*.py"))
PAGES = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]


def test_every_subpackage_is_where_the_layers_say():
    folders = {p.name for p in (ROOT / "dcgan").iterdir() if (p / "__init__.py").is_file()}
    assert folders == {"data", "runs", "quality", "train", "explore"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: module_name(p))
def test_core_imports_run_only_downwards(path):
    here = LAYERS.index(layer(module_name(path)))
    upward = [m for m in imports(path) if m.startswith("dcgan")
              and LAYERS.index(layer(m)) > here]
    assert not upward, f"{module_name(path)} ({LAYERS[here]}) imports {upward}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: module_name(p))
def test_core_never_imports_streamlit(path):
    assert not [m for m in imports(path) if m.split(".")[0] == "streamlit"]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_import_the_core_only(path):
    found = imports(path)
    assert not [m for m in found if m == "dcgan.cli" or m.startswith("dcgan.cli.")]
    assert not [m for m in found if m.split(".")[0] in ("tensorflow", "keras")]


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a data module importing training is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dcgan.train.step import GanTrainer\n")
    assert "dcgan.train.step" in imports(bad)
    assert LAYERS.index(layer("dcgan.train.step")) > LAYERS.index(layer("dcgan.data.prepare"))


def test_paths_the_package_computes_from_its_own_place_exist():
    """Modules that find the project from __file__ still find it from their sub-folder."""
    from dcgan.explore.export import DEMO_GENERATOR
    from dcgan.runs.jobs import PROJECT_ROOT
    from dcgan.testing import ROOT as TESTING_ROOT

    assert PROJECT_ROOT == TESTING_ROOT == ROOT and (PROJECT_ROOT / "app.py").is_file()
    assert DEMO_GENERATOR.is_file()
