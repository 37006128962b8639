"""The layering of ARCHITECTURE.md, checked: imports only point down, and only the
outer layer touches click and rich."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pipefile"

LAYERS = {
    "errors": 0, "spec": 0,
    "template": 1, "loader": 1, "graph": 1, "digest": 1,
    "keys": 2, "store": 2, "jobdb": 2, "envs": 2,
    "rebuilder": 3, "planner": 3,
    "executor": 4, "scheduler": 4,
    "report": 5, "pipeline": 5, "inventory": 5, "publish": 5, "sync": 5, "jobs": 5, "lineage": 5, "clone": 5,
    "mlflow_log": 5,
    "cli": 6, "entry": 6, "__main__": 6, "serve": 6, "__init__": 0,
}
# cli_jobs.py is part of "cli", report_jobs.py of "report": one concept split over files.
OUTER_ONLY = {"click": {"cli"}, "rich": {"report"}}


def _module_of(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return rel.parts[0].split("_")[0] if rel.parts[0].startswith(("cli_", "report_")) else rel.parts[0]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = path.relative_to(PKG).parent.parts
                up = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = (list(up) + (node.module.split(".") if node.module else []))
                if not target:  # "from . import x, y"
                    for alias in node.names:
                        yield "pipefile", alias.name
                else:
                    yield "pipefile", target[0]
            elif node.module:
                yield node.module.split(".")[0], node.module.split(".")[1] if "." in node.module else ""
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield parts[0], parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_layer():
    for path in PKG.rglob("*.py"):
        assert _module_of(path) in LAYERS, f"{path} has no layer in ARCHITECTURE.md: add it there and here"


def test_imports_point_down():
    bad = []
    for path in PKG.rglob("*.py"):
        me = _module_of(path)
        for top, sub in _imports(path):
            if top == "pipefile" and sub in LAYERS and sub != me and LAYERS[sub] > LAYERS[me]:
                bad.append(f"{path.relative_to(PKG)} (layer {LAYERS[me]}) imports {sub} (layer {LAYERS[sub]})")
    assert not bad, "\n".join(bad)


def test_only_the_outer_layer_imports_click_and_rich():
    bad = []
    for path in PKG.rglob("*.py"):
        me = _module_of(path)
        for top, _ in _imports(path):
            if top in OUTER_ONLY and me not in OUTER_ONLY[top]:
                bad.append(f"{path.relative_to(PKG)} imports {top}")
    assert not bad, "\n".join(bad)
